from __future__ import annotations

import pytest

from treadctl.control.stats import CycleStats, DurationHistogram


def test_percentiles_within_bin_resolution() -> None:
    h = DurationHistogram()
    for i in range(1, 1001):
        h.add(i * 1e-5)  # 0.01 ms .. 10 ms
    assert h.count == 1000
    assert h.percentile(0.5) == pytest.approx(5.0e-3, abs=2e-5)
    assert h.percentile(0.99) == pytest.approx(9.9e-3, abs=2e-5)
    assert h.max_s == pytest.approx(1e-2)


def test_slow_cycles_keep_an_exact_maximum() -> None:
    h = DurationHistogram()
    h.add(0.001)
    h.add(2.5)  # far past the histogram's range
    assert h.max_s == 2.5
    assert h.percentile(1.0) == 2.5


def test_figures_in_milliseconds() -> None:
    s = CycleStats()
    s.work.add(0.0002)
    s.lateness.add(0.0015)
    s.overruns = 1
    f = s.figures()
    assert f.cycles == 1
    assert f.work_max_ms == pytest.approx(0.2)
    assert f.late_max_ms == pytest.approx(1.5)
    assert "overruns 1" in f.lines()[0]
