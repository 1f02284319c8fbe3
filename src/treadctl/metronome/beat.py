"""When a beat shows: one pure function for the dashboard's visible beat and the sound.

The scheduler puts beat k of a cadence at k * 60 / cadence_spm seconds after the cadence
began (to the sample); these functions answer the same question for any time, so a
dashboard that knows the cadence and the time since it began flashes with the clicks.
"""

from __future__ import annotations

import math

from treadctl.metronome.limits import check_cadence

BEAT_FLASH_S = 0.12  # how long the visible beat stays lit after each click


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
