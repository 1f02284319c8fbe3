"""The incline's pure rules: each fault latches and halts; limits; harness; commands."""

from __future__ import annotations

import dataclasses
import math

import pytest

from treadctl.safety.incline import (
    InclineConfig,
    InclineFault,
    InclineInputs,
    InclineMode,
    InclineOutputs,
    InclineRules,
    InclineState,
)

CFG = InclineConfig(
    min_pct=0.0,
    max_pct=25.0,
    soft_min_pct=0.0,
    soft_max_pct=20.0,
    rate_pct_per_s=1.0,
    max_rate_pct_per_s=2.0,
    rate_window_s=0.5,
    stall_time_s=2.0,
    stall_change_pct=0.1,
    tolerance_pct=0.2,
    position_timeout_s=0.5,
    return_to_zero=True,
)
DT = 0.02


def inputs(pos: float | None, target: float = 0.0, **kw: object) -> InclineInputs:
    base: dict[str, object] = {
        "position_pct": pos,
        "position_age_s": 0.0,
        "target_pct": target,
        "belt_running": True,
        "belt_stopped": False,
        "harness_confirmed": True,
    }
    base.update(kw)
    return InclineInputs(**base)  # type: ignore[arg-type]


class Lift:
    """A tiny lift for driving the rules: follows the relays at `rate`."""

    def __init__(self, rules: InclineRules, pos: float = 0.0, rate: float = 1.0) -> None:
        self.rules, self.pos, self.rate = rules, pos, rate
        self.state = InclineState()
        self.t = 0.0
        self.out: InclineOutputs | None = None
        self.extra = 0.0  # travel per second whatever the relays do (runaway)
        self.stuck: float | None = None

    def run(self, seconds: float, **kw: object) -> InclineOutputs:
        end = self.t + seconds
        while self.t < end - 1e-9:
            reading = self.stuck if self.stuck is not None else self.pos
            self.state, self.out = self.rules.step(self.state, inputs(reading, **kw), self.t)
            assert not (self.out.up and self.out.down)
            move = (self.out.up - self.out.down) * self.rate + self.extra
            self.pos = max(0.0, min(25.0, self.pos + move * DT))
            self.t += DT
        assert self.out is not None
        return self.out


def test_reaches_the_target_within_tolerance_and_holds() -> None:
    lift = Lift(InclineRules(CFG))
    out = lift.run(12.0, target=10.0)
    assert out.mode is InclineMode.HOLDING
    assert abs(lift.pos - 10.0) <= CFG.tolerance_pct
    out = lift.run(12.0, target=2.5)
    assert abs(lift.pos - 2.5) <= CFG.tolerance_pct
    assert not out.faults


def test_a_stall_latches_and_switches_the_relay_off() -> None:
    lift = Lift(InclineRules(CFG), rate=0.0)
    out = lift.run(CFG.stall_time_s - 0.1, target=10.0)
    assert out.up
    assert not out.faults
    out = lift.run(0.2, target=10.0)
    assert out.faults == (InclineFault.STALL,)
    assert not (out.up)
    assert not (out.down)
    assert out.mode is InclineMode.FAULTED
    lift.rate = 1.0
    out = lift.run(5.0, target=10.0)  # latched: stays off with the lift free again
    assert out.faults
    assert not out.up
    assert lift.pos == 0.0


def test_a_stuck_sensor_is_a_stall() -> None:
    lift = Lift(InclineRules(CFG))
    lift.stuck = 0.0
    out = lift.run(CFG.stall_time_s + 0.1, target=10.0)
    assert InclineFault.STALL in out.faults
    assert not out.up


def test_travel_faster_than_the_maximum_rate_latches_runaway() -> None:
    lift = Lift(InclineRules(CFG), rate=3.0)
    out = lift.run(1.2, target=10.0)
    assert InclineFault.RUNAWAY in out.faults
    assert not out.up


def test_travel_with_relays_off_latches_drift() -> None:
    lift = Lift(InclineRules(CFG))
    lift.run(1.0, target=0.0, belt_running=False)
    lift.extra = 0.5  # a welded contact, the belt stopped: slower than the rate limit
    out = lift.run(2.0, target=0.0, belt_running=False)
    assert InclineFault.DRIFT in out.faults


def test_travel_the_wrong_way_latches() -> None:
    lift = Lift(InclineRules(CFG), pos=5.0, rate=-1.0)  # wired backwards
    out = lift.run(1.0, target=10.0)
    assert InclineFault.WRONG_WAY in out.faults
    assert not (out.up)
    assert not (out.down)


def test_a_silent_sensor_halts_at_once_and_latches_after_the_timeout() -> None:
    rules = InclineRules(CFG)
    s, out = rules.step(InclineState(), inputs(1.0, 10.0), 0.0)
    assert out.up
    s, out = rules.step(s, inputs(None, 10.0, position_age_s=0.02), 0.02)
    assert not out.up
    assert not out.faults
    s, out = rules.step(s, inputs(None, 10.0, position_age_s=0.6), 0.6)
    assert out.faults == (InclineFault.SENSOR_LOST,)
    s, out = rules.step(s, inputs(None, 10.0, position_age_s=math.nan), 0.62)
    assert out.faulted
    assert not out.up


def test_an_implausible_or_non_finite_reading_is_no_reading() -> None:
    rules = InclineRules(CFG)
    _, out = rules.step(InclineState(), inputs(40.0, 10.0), 0.0)
    assert out.faults == (InclineFault.SENSOR_IMPLAUSIBLE,)
    assert not out.up
    _, out = rules.step(InclineState(), inputs(math.inf, 10.0), 0.0)
    assert not out.up
    assert out.actual_pct is None


def test_reset_clears_only_with_a_fresh_reading() -> None:
    lift = Lift(InclineRules(CFG), rate=0.0)
    lift.run(CFG.stall_time_s + 0.1, target=10.0)
    s, out = lift.rules.step(lift.state, inputs(None, 10.0, reset=True, position_age_s=1.0), 9.0)
    assert out.faulted
    assert out.decisions[0][1] is False
    s, out = lift.rules.step(s, inputs(0.0, 10.0, reset=True), 9.02)
    assert not out.faulted
    assert out.decisions == (("incline_reset", True, "incline fault cleared"),)


@pytest.mark.parametrize(
    ("running", "stopped"), [(False, False), (False, True)], ids=["stopping", "stopped"]
)
def test_the_incline_moves_only_while_the_belt_runs(running: bool, stopped: bool) -> None:
    lift = Lift(InclineRules(CFG))
    lift.run(2.0, target=10.0)
    moved = lift.pos
    out = lift.run(2.0, target=10.0, belt_running=running, belt_stopped=stopped)
    assert out.mode is InclineMode.HALTED
    assert lift.pos == pytest.approx(moved, abs=0.03)


def test_without_the_harness_it_stays_below_the_harness_grade() -> None:
    lift = Lift(InclineRules(CFG))
    out = lift.run(15.0, target=7.5, harness_confirmed=False)
    assert lift.pos < CFG.harness_pct
    assert out.goal_pct == pytest.approx(CFG.harness_pct - CFG.tolerance_pct)
    assert any("harness not confirmed" in w for w in out.warnings)
    lift.run(5.0, target=7.5, harness_confirmed=True)
    assert lift.pos == pytest.approx(7.5, abs=CFG.tolerance_pct)


def test_targets_are_clamped_to_the_soft_limits() -> None:
    lift = Lift(InclineRules(CFG), pos=19.0)
    out = lift.run(5.0, target=24.0)
    assert out.goal_pct == CFG.soft_max_pct
    assert lift.pos <= CFG.soft_max_pct + 0.05
    assert any("soft limit" in w for w in out.warnings)


def test_home_needs_the_machine_file_a_stopped_belt_and_no_fault() -> None:
    no = InclineRules(dataclasses.replace(CFG, return_to_zero=False))
    _, out = no.step(InclineState(), inputs(5.0, home=True, belt_running=False), 0.0)
    assert out.decisions[0][1] is False
    assert not out.down
    rules = InclineRules(CFG)
    _, out = rules.step(InclineState(), inputs(5.0, home=True, belt_running=False), 0.0)
    assert out.decisions[0][1] is False  # not stopped (stopping, faulted)
    lift = Lift(rules, pos=5.0)
    lift.state, out = rules.step(
        lift.state, inputs(5.0, home=True, belt_running=False, belt_stopped=True), 0.0
    )
    assert out.decisions[0][1] is True
    assert out.down
    out = lift.run(8.0, belt_running=False, belt_stopped=True)
    assert lift.pos == pytest.approx(0.0, abs=CFG.tolerance_pct)
    assert not out.down
    assert not lift.state.homing
    out = lift.run(1.0, belt_running=False, belt_stopped=False)  # an e-stop ends a home
    assert out.mode is InclineMode.HALTED


def test_the_position_controller_setpoint_ramps_at_the_rate() -> None:
    rules = InclineRules(CFG)
    s, out = rules.step(InclineState(), inputs(0.0, 10.0), 0.0)
    assert out.setpoint_pct == 0.0
    s, out = rules.step(s, inputs(0.0, 10.0), 0.5)
    assert out.setpoint_pct == pytest.approx(0.5)
