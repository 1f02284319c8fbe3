"""Where each click falls, counted in samples: the one place that decides the timing.

Both the sound output's callback and the WAV file sink call `fill` for each block, so
what the file shows is what the speaker plays. Click k of a cadence lies at
anchor + round(k * period) samples: no error accumulates however long it runs, and the
block size only decides when a click is computed, never where it lands.

Threads: `set_cadence` (any thread, e.g. the controller's loop) only stores a reference;
`fill` (the audio thread) reads it once per block. No lock, so the audio thread never
waits on the loop and the loop never waits on the audio thread. A new cadence takes
effect at the next beat: the next click comes one new beat after the last one (at once if
that time has already passed), so no click is doubled or dropped at a change.
"""

from __future__ import annotations

from treadctl.metronome.click import BYTES_PER_FRAME
from treadctl.metronome.limits import check_cadence

SECONDS_PER_MINUTE = 60.0


class ClickScheduler:
    def __init__(self, click: bytes, sample_rate_hz: int) -> None:
        if not click or len(click) % BYTES_PER_FRAME:
            raise ValueError("the click must be whole int16 frames, at least one")
        self.sample_rate_hz = sample_rate_hz
        self._click = memoryview(click)
        self._click_frames = len(click) // BYTES_PER_FRAME
        self._zeros = memoryview(b"")
        self._wanted: float | None = None  # written by any thread: one reference store
        # The audio thread's own state from here on.
        self._spm: float | None = None  # the cadence in effect
        self._period = 0.0  # samples per beat
        self._anchor = 0  # sample of beat 0 of the cadence in effect
        self._k = 0  # the next click is beat k
        self._next: int | None = None  # its sample; None: silent
        self._last: int | None = None  # the last click's sample
        self.position = 0  # samples rendered so far
        self.beats = 0  # clicks started so far (the beat counter)
        self.cadence_started_at = 0  # sample where the cadence in effect began (its beat 0)

    @property
    def cadence_spm(self) -> float | None:
        """The cadence asked for (the audio thread applies it at its next block)."""
        return self._wanted

    def set_cadence(self, cadence_spm: float | None) -> None:
        """Any thread: the cadence from the next beat on; None: silence. Never waits."""
        self._wanted = None if cadence_spm is None else check_cadence(cadence_spm)

    def fill(self, out: memoryview, frames: int) -> None:
        """The audio thread: write the next `frames` mono int16 samples into out."""
        start = self.position
        end = start + frames
        wanted = self._wanted  # read once: the whole block sees one cadence
        if wanted != self._spm:
            self._retime(wanted, start)
        nbytes = frames * BYTES_PER_FRAME
        if len(self._zeros) < nbytes:
            self._zeros = memoryview(bytes(nbytes))  # only when a block grows
        out[:nbytes] = self._zeros[:nbytes]
        last, click, cf = self._last, self._click, self._click_frames
        if last is not None and start - last < cf:  # the tail of a click begun earlier
            off = start - last
            n = min(cf - off, frames)
            out[: n * BYTES_PER_FRAME] = click[off * BYTES_PER_FRAME : (off + n) * BYTES_PER_FRAME]
        nxt = self._next
        while nxt is not None and nxt < end:
            i = nxt - start
            n = min(cf, end - nxt)
            out[i * BYTES_PER_FRAME : (i + n) * BYTES_PER_FRAME] = click[: n * BYTES_PER_FRAME]
            self._last = nxt
            self.beats += 1
            self._k += 1
            nxt = self._anchor + round(self._k * self._period)
        self._next = nxt
        self.position = end

    def _retime(self, spm: float | None, now: int) -> None:
        self._spm = spm
        if spm is None:
            self._next = None
            return
        self._period = self.sample_rate_hz * SECONDS_PER_MINUTE / spm
        at = now if self._last is None else max(now, self._last + round(self._period))
        self._anchor = self.cadence_started_at = at
        self._k = 0
        self._next = at
