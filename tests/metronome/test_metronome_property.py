"""Any sequence of cadences, any block size: no click doubled or dropped, each on its grid.

Rendered in memory through `fill` (the audio callback's code), onsets found like in the
WAV tests. Between two clicks there is always the beat of the cadence in effect (to a
sample), except across a change, where the gap lies between the old and the new beat.
"""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from onsets import onsets

from treadctl.config.metronome import MetronomeConfig
from treadctl.metronome.click import BYTES_PER_FRAME, synthesize
from treadctl.metronome.limits import CADENCE_MAX_SPM, CADENCE_MIN_SPM
from treadctl.metronome.schedule import ClickScheduler

RATE = 8000  # the lowest rate the file allows: short arrays, the same arithmetic
CONFIG = MetronomeConfig(sample_rate_hz=RATE, click_ms=20.0)
CLICK = synthesize(CONFIG)

cadences = st.floats(min_value=CADENCE_MIN_SPM, max_value=CADENCE_MAX_SPM)
parts = st.lists(st.tuples(cadences, st.integers(1, 40)), min_size=1, max_size=6)


@settings(max_examples=300)
@given(block=st.integers(16, 2048), plan=parts)
def test_no_click_doubled_or_dropped(block: int, plan: list[tuple[float, int]]) -> None:
    sched = ClickScheduler(CLICK, RATE)
    out = bytearray()
    buf = memoryview(bytearray(block * BYTES_PER_FRAME))
    starts: list[tuple[int, float]] = []  # (sample where a cadence was applied, cadence)
    for spm, seconds_x4 in plan:
        sched.set_cadence(spm)
        starts.append((len(out) // BYTES_PER_FRAME, spm))
        for _ in range(max(1, round(seconds_x4 * RATE / 4 / block))):
            sched.fill(buf, block)
            out += buf
    on = onsets(np.frombuffer(bytes(out), dtype="<i2"), RATE)
    assert sched.beats == len(on)
    assert on[0] == 0

    def periods(a: int, b: int) -> list[float]:
        """The beats of every cadence in effect from sample a to sample b."""
        at_a = [c for s, c in starts if s <= a][-1]
        return [RATE * 60.0 / c for c in [at_a] + [c for s, c in starts if a < s <= b]]

    for a, b in itertools.pairwise(int(x) for x in on):
        ps = periods(a, b)
        assert min(ps) - 1 <= b - a <= max(ps) + 1, (a, b, ps)
    total = len(out) // BYTES_PER_FRAME
    assert total - on[-1] <= max(periods(int(on[-1]), total)) + 1  # none missing at the end
