"""The S-curve setpoint generator: limits hold, targets are reached, caps are never overshot."""

from __future__ import annotations

import itertools
import math

import pytest

from treadctl.control.setpoint import Ramp, Setpoint, step_setpoint

PERIOD_S = 0.02
RAMP = Ramp(accel_kmh_per_s=0.9, decel_kmh_per_s=1.26, jerk_kmh_per_s2=1.8)


def run(target: float, start: Setpoint, seconds: float, ramp: Ramp = RAMP) -> list[Setpoint]:
    out, sp = [], start
    for _ in range(round(seconds / PERIOD_S)):
        sp = step_setpoint(sp, target, ramp, PERIOD_S)
        out.append(sp)
    return out


def test_reaches_target_without_overshoot() -> None:
    trace = run(3.0, Setpoint(), 10.0)
    assert max(s.speed_kmh for s in trace) <= 3.0
    assert trace[-1].speed_kmh == pytest.approx(3.0)
    assert trace[-1].accel_kmh_per_s == 0.0


def test_acceleration_and_jerk_stay_within_limits() -> None:
    trace = [Setpoint(), *run(4.0, Setpoint(), 10.0), *run(0.0, Setpoint(4.0), 10.0)]
    for before, after in itertools.pairwise(trace):
        dv = (after.speed_kmh - before.speed_kmh) / PERIOD_S
        assert dv <= RAMP.accel_kmh_per_s + 1e-9
        assert dv >= -RAMP.decel_kmh_per_s - 1e-9


def test_acceleration_grows_gradually_from_rest() -> None:
    """S-curve: the first step is a jerk step, not a full acceleration step."""
    first = step_setpoint(Setpoint(), 3.0, RAMP, PERIOD_S)
    assert first.accel_kmh_per_s == pytest.approx(RAMP.jerk_kmh_per_s2 * PERIOD_S)
    assert first.speed_kmh < RAMP.accel_kmh_per_s * PERIOD_S


def test_lowered_target_drops_acceleration_at_once() -> None:
    """A cap lowered below the current speed must never be overshot by leftover acceleration."""
    rising = Setpoint(speed_kmh=2.0, accel_kmh_per_s=0.9)
    nxt = step_setpoint(rising, 1.0, RAMP, PERIOD_S)
    assert nxt.speed_kmh <= 2.0
    assert nxt.accel_kmh_per_s <= 0.0


def test_quick_stop_uses_its_own_deceleration_without_jerk_limit() -> None:
    sp = Setpoint(speed_kmh=3.0, accel_kmh_per_s=0.5)
    nxt = step_setpoint(sp, 0.0, RAMP, PERIOD_S, quick_decel_kmh_per_s=3.6)
    assert nxt.quick
    assert nxt.speed_kmh == pytest.approx(3.0 - 3.6 * PERIOD_S)
    steps = 0
    while nxt.speed_kmh > 0:
        nxt = step_setpoint(nxt, 5.0, RAMP, PERIOD_S, quick_decel_kmh_per_s=3.6)
        steps += 1
    assert steps <= math.ceil(3.0 / (3.6 * PERIOD_S))
    assert nxt.speed_kmh == 0.0


def test_never_negative() -> None:
    sp = Setpoint(speed_kmh=0.01, accel_kmh_per_s=-1.0)
    assert step_setpoint(sp, 0.0, RAMP, PERIOD_S).speed_kmh == 0.0


@pytest.mark.parametrize("target", [0.3, 1.0, 2.5, 6.0])
def test_reaches_every_target_within_the_analytic_time(target: float) -> None:
    """Time to target is bounded by the trapezoid time plus the jerk phases."""
    ramp = RAMP
    bound = target / ramp.accel_kmh_per_s + 2 * ramp.accel_kmh_per_s / ramp.jerk_kmh_per_s2 + 1
    trace = run(target, Setpoint(), bound)
    assert trace[-1].speed_kmh == pytest.approx(target, abs=1e-6)
