"""When a beat shows: for the dashboard's visible beat, on the same grid as the clicks.

The scheduler puts beat k of a cadence at k * 60 / cadence_spm seconds after the cadence
began (to the sample); `beat_showing` and `beat_count` answer the same question for any
time. `BeatFollower` applies the scheduler's rules (when a cadence begins, what a change
does) in seconds, fed the statuses the dashboard receives, so its beat and the clicks
agree across changes and silences too. `wanted_cadence` is the one rule for when there is
a beat at all; the bridge uses it as well.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from treadctl.metronome.limits import check_cadence

if TYPE_CHECKING:
    from treadctl.api.messages import Status

BEAT_FLASH_S = 0.12  # how long the visible beat stays lit after each click
EPSILON = 1e-9  # beats, below a sample at any rate: a time this close to a beat is on it


def beat_count(cadence_spm: float, elapsed_s: float) -> int:
    """Beats so far, counting the one at elapsed 0 as the first; 0 before the cadence began."""
    spm = check_cadence(cadence_spm)
    if not math.isfinite(elapsed_s):
        raise ValueError(f"elapsed_s must be a finite number, not {elapsed_s!r}")
    if elapsed_s < 0:
        return 0
    return math.floor(elapsed_s * spm / 60.0) + 1


def beat_showing(cadence_spm: float, elapsed_s: float, flash_s: float = BEAT_FLASH_S) -> bool:
    """Whether the visible beat is lit: within flash_s after a click (at most half a beat,
    so it always goes dark between two beats)."""
    spm = check_cadence(cadence_spm)
    if not math.isfinite(elapsed_s) or not math.isfinite(flash_s) or flash_s <= 0:
        raise ValueError("elapsed_s and flash_s must be finite, flash_s above 0")
    if elapsed_s < 0:
        return False
    period_s = 60.0 / spm
    return math.fmod(elapsed_s, period_s) < min(flash_s, period_s / 2)


def wanted_cadence(status: Status) -> float | None:
    """The cadence to beat at for a Status: the running segment's cue, or None (silence)."""
    if status.ended or status.latched or status.mode != "running":
        return None
    cue = status.cue_spm
    return None if cue is None else float(cue)


class BeatFollower:
    """The beat as the sound plays it, in session seconds, from the cadences seen.

    Feed it `update(wanted_cadence(status), status.t_s)` for each status; ask `showing(t)`
    and `count(t)` for any later t. The rules are the scheduler's: a cadence after silence
    begins at once; a change begins one new beat after the last beat (at once if that has
    passed); silence ends the beats at once.
    """

    def __init__(self, flash_s: float = BEAT_FLASH_S) -> None:
        if not math.isfinite(flash_s) or flash_s <= 0:
            raise ValueError("flash_s must be finite and above 0")
        self.flash_s = flash_s
        self.cadence_spm: float | None = None
        self._anchor_s = 0.0  # beat 0 of the cadence in effect
        self._last_s: float | None = None  # the last beat of an earlier cadence
        self._before = 0  # beats of earlier cadences

    def update(self, cadence_spm: float | None, t_s: float) -> None:
        if not math.isfinite(t_s):
            raise ValueError(f"t_s must be a finite number, not {t_s!r}")
        spm = None if cadence_spm is None else check_cadence(cadence_spm)
        if spm == self.cadence_spm:
            return
        old = self.cadence_spm
        if old is not None and t_s > self._anchor_s:
            # The beats strictly before t_s were played (the scheduler applies a change
            # before it places a click on the same sample); EPSILON absorbs float error.
            n = math.ceil((t_s - self._anchor_s) * old / 60.0 - EPSILON)
            if n > 0:
                self._before += n
                self._last_s = self._anchor_s + (n - 1) * 60.0 / old
        self.cadence_spm = spm
        if spm is not None:
            start = t_s if self._last_s is None else max(t_s, self._last_s + 60.0 / spm)
            self._anchor_s = start

    def count(self, t_s: float) -> int:
        """Beats so far (the clicks played up to t_s)."""
        spm = self.cadence_spm
        if spm is None or t_s < self._anchor_s:
            return self._before
        return self._before + beat_count(spm, t_s - self._anchor_s)

    def showing(self, t_s: float) -> bool:
        """Whether the visible beat is lit at t_s."""
        spm = self.cadence_spm
        if spm is not None and t_s >= self._anchor_s:
            return beat_showing(spm, t_s - self._anchor_s, self.flash_s)
        last = self._last_s
        return last is not None and 0 <= t_s - last < self.flash_s
