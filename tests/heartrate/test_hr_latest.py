"""The latest-reading holder every source uses: bounded, aged out, logged without floods.

Driven by a clock the test advances (a number, not a mocked part): staleness is about
time, and the real clock would make these tests slow or flaky.
"""

from __future__ import annotations

import logging

import pytest

from treadctl.heartrate.latest import LOG_REPEAT_S, Latest, Plausible

LOG = logging.getLogger("treadctl.heartrate.test")


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def holder(clock: Clock) -> Latest:
    return Latest("test", Plausible(20.0, 250.0, 3.0), LOG, clock)


def test_a_reading_ages_and_goes_stale_past_the_limit() -> None:
    clock = Clock()
    latest = holder(clock)
    assert latest.read() is None
    assert latest.reason == "no reading yet"
    assert latest.offer(80.0)
    clock.t += 3.0
    assert latest.read() == 80.0  # exactly at the limit: still good
    assert latest.age_s() == pytest.approx(3.0)
    clock.t += 0.01
    assert latest.read() is None
    assert latest.age_s() is None
    assert latest.reason is not None
    assert latest.reason.startswith("stale: the last reading is 3.0 s old")


@pytest.mark.parametrize("bpm", [float("nan"), float("inf"), -float("inf"), 19.99, 250.01, 0.0])
def test_implausible_values_clear_the_previous_one(bpm: float) -> None:
    latest = holder(Clock())
    latest.offer(90.0)
    assert not latest.offer(bpm)
    assert latest.read() is None
    assert latest.refused == 1


def test_alternating_good_and_bad_is_logged_once_per_repeat_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOG.name)
    clock = Clock()
    latest = holder(clock)
    for _ in range(1000):
        latest.offer(90.0)
        latest.clear("refused a message: garbage")
        clock.t += 0.001
    assert len(caplog.records) == 2  # one "signal back", one "no heart rate"
    assert latest.suppressed == 1998
    clock.t += LOG_REPEAT_S
    latest.offer(90.0)
    latest.clear("refused a message: garbage")
    assert len(caplog.records) == 4
