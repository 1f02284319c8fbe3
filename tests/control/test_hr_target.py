"""The heart-rate-zone speed controller: its step bounds as properties over hostile input
sequences, and a simulated walker (lagged first-order heart rate) held in the zone."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hr_walker import Walker

from treadctl.control.hr_target import (
    HR_TARGET_SOURCE,
    HrTargetState,
    step_hr_target,
)
from treadctl.protocol.plan import HrZone
from treadctl.safety.types import CommandKind

EPS = 1e-9


@st.composite
def zones(draw: st.DrawFn) -> HrZone:
    low = draw(st.floats(60, 160))
    width = draw(st.floats(8, 30))
    lo_kmh = draw(st.floats(0.2, 2.0))
    hi_kmh = draw(st.floats(lo_kmh, 8.0))
    start = draw(st.floats(lo_kmh, hi_kmh))
    up = draw(st.floats(0.01, 0.5))
    down = draw(st.floats(up, 1.0))
    return HrZone(
        low_bpm=low,
        high_bpm=low + width,
        start_kmh=start,
        max_kmh=hi_kmh,
        min_kmh=lo_kmh,
        up_step_kmh=up,
        down_step_kmh=down,
        step_interval_s=draw(st.floats(2, 60)),
        above_zone_stop_s=draw(st.floats(5, 120)),
    )


@dataclass(frozen=True)
class Tick:
    dt_s: float
    hr_bpm: float | None
    cap_kmh: float
    running: bool
    operator_kmh: float | None
    segment: int


ticks = st.builds(
    Tick,
    dt_s=st.floats(0.02, 10.0),
    hr_bpm=st.none() | st.floats(30, 230),
    cap_kmh=st.floats(0.0, 10.0),
    running=st.booleans(),
    operator_kmh=st.none() | st.none() | st.none() | st.floats(0.1, 8.0),
    segment=st.sampled_from([0, 0, 0, 0, 1]),
)


@settings(max_examples=2000)
@given(zone=zones(), seq=st.lists(ticks, min_size=1, max_size=300))
def test_steps_are_bounded_in_size_rate_and_caps(zone: HrZone, seq: list[Tick]) -> None:
    state = HrTargetState()
    now = 0.0
    speed: float | None = None  # the controller's speed as the test tracks it
    since = 0.0  # the last change of speed (segment start, operator, step)
    stops: set[int] = set()  # the entries into a segment that asked for a stop
    segment = -1
    entry = 0  # a segment entered again (0, 1, 0) is a new run of it: a new zone state
    for tick in seq:
        now += tick.dt_s
        if tick.segment != segment:
            segment, speed, since = tick.segment, zone.start_kmh, now
            entry += 1
        if tick.operator_kmh is not None:
            speed, since = tick.operator_kmh, now
        step = step_hr_target(
            state, zone, tick.segment, tick.running, tick.hr_bpm, tick.cap_kmh,
            tick.operator_kmh, now,
        )  # fmt: skip
        state = step.state
        cmd = step.command
        if cmd is None:
            continue
        assert cmd.source == HR_TARGET_SOURCE
        assert tick.running  # never a step or a stop with the belt not running the segment
        assert tick.hr_bpm is not None  # never on a missing reading
        assert speed is not None
        in_force = min(speed, zone.max_kmh, tick.cap_kmh)
        assert step.from_kmh == in_force
        if cmd.kind is CommandKind.STOP:
            assert tick.hr_bpm > zone.high_bpm
            assert entry not in stops  # asked once per run of the segment
            stops.add(entry)
            continue
        assert cmd.kind is CommandKind.SET_SPEED
        to = cmd.speed_kmh
        assert to is not None
        assert math.isfinite(to)
        assert to > 0.0
        assert now - since >= zone.step_interval_s  # rate bound
        if to > in_force:
            assert tick.hr_bpm < zone.low_bpm
            assert to - in_force <= zone.up_step_kmh + EPS
            assert to <= zone.max_kmh + EPS
            assert to <= tick.cap_kmh + EPS
        else:
            assert tick.hr_bpm > zone.high_bpm
            assert in_force - to <= zone.down_step_kmh + EPS
            assert to >= zone.min_kmh - EPS
            assert to < in_force
        speed, since = to, now


def zone_for(walker: Walker, v_star_kmh: float, width_bpm: float) -> HrZone:
    centre = walker.steady_bpm(v_star_kmh)
    return HrZone(
        low_bpm=centre - width_bpm / 2,
        high_bpm=centre + width_bpm / 2,
        start_kmh=1.0,
        max_kmh=6.0,
        min_kmh=0.5,
        up_step_kmh=0.1,
        down_step_kmh=0.3,
        step_interval_s=15.0,
        above_zone_stop_s=120.0,
    )


def run_walker(
    walker: Walker, zone: HrZone, seconds: float, dt_s: float = 0.5, ramp_kmh_per_s: float = 0.5
) -> tuple[list[float], list[float], bool]:
    """The controller, a belt that ramps to its speed, and the walker: (true HR, belt speed,
    stopped) every dt_s."""
    state = HrTargetState()
    target = belt = 0.0
    hrs: list[float] = []
    speeds: list[float] = []
    t = 0.0
    while t < seconds:
        t += dt_s
        reading = walker.step(belt, dt_s)
        step = step_hr_target(state, zone, 0, True, reading, zone.max_kmh, None, t)
        state = step.state
        if step.command is not None and step.command.kind is CommandKind.STOP:
            return hrs, speeds, True
        target = min(state.speed_kmh, zone.max_kmh)
        belt += max(-ramp_kmh_per_s * dt_s, min(ramp_kmh_per_s * dt_s, target - belt))
        hrs.append(walker.hr_bpm)
        speeds.append(belt)
    return hrs, speeds, False


@settings(max_examples=60)
@given(
    rest=st.floats(55, 85),
    gain=st.floats(6, 16),
    tau=st.floats(20, 40),
    noise=st.floats(0, 2.5),
    v_star=st.floats(1.8, 4.5),
    seed=st.integers(0, 2**32),
)
def test_a_simulated_walker_is_held_in_the_zone(
    rest: float, gain: float, tau: float, noise: float, v_star: float, seed: int
) -> None:
    walker = Walker(rest, gain, tau, noise, seed)
    zone = zone_for(walker, v_star, 12.0)
    hrs, speeds, stopped = run_walker(walker, zone, 30 * 60)
    assert not stopped
    # Reaching the zone from 1 km/h takes (v* - 1) / 0.1 steps of 15 s (under 9 min):
    # judge the last 15 minutes.
    tail = hrs[-(15 * 60 * 2) :]
    inside = sum(zone.low_bpm - 1 <= h <= zone.high_bpm + 1 for h in tail) / len(tail)
    assert inside >= 0.9, f"in the zone {inside:.0%} of the last 15 min"
    assert max(tail) <= zone.high_bpm + 4  # never far above the zone once there
    assert max(speeds) <= zone.max_kmh


def test_above_the_zone_at_the_lowest_speed_stops_after_the_set_time() -> None:
    """A walker whose rate stays above the zone even at min_kmh: the controller steps down
    to min_kmh, then asks for a controlled stop above_zone_stop_s after the rate rose."""
    walker = Walker(rest_bpm=120.0, gain_bpm_per_kmh=10.0, tau_s=20.0, noise_bpm=0.0)
    zone = HrZone(90.0, 105.0, 3.0, 6.0, 0.5, 0.1, 0.3, 15.0, 60.0)
    walker.hr_bpm = 150.0  # already high as the segment starts
    hrs, speeds, stopped = run_walker(walker, zone, 600)
    assert stopped
    assert abs(len(hrs) * 0.5 - zone.above_zone_stop_s) <= 0.5
    assert speeds[-1] < 3.0
    assert speeds[-1] >= zone.min_kmh - EPS


def test_an_operator_speed_wins_and_the_controller_goes_on_from_it() -> None:
    zone = HrZone(100.0, 112.0, 2.0, 6.0, 0.5, 0.1, 0.3, 10.0, 60.0)
    state = step_hr_target(HrTargetState(), zone, 0, True, 90.0, 8.0, None, 0.0).state
    step = step_hr_target(state, zone, 0, True, 90.0, 8.0, 4.0, 5.0)  # operator: 4 km/h
    assert step.command is None
    assert step.state.speed_kmh == 4.0
    assert step_hr_target(step.state, zone, 0, True, 90.0, 8.0, None, 14.0).command is None
    up = step_hr_target(step.state, zone, 0, True, 90.0, 8.0, None, 15.0)
    assert up.command is not None
    assert up.command.speed_kmh == 4.1


def test_a_missing_reading_holds_and_a_cap_limits_the_next_step() -> None:
    zone = HrZone(100.0, 112.0, 3.0, 6.0, 0.5, 0.2, 0.4, 10.0, 60.0)
    state = step_hr_target(HrTargetState(), zone, 0, True, 90.0, 8.0, None, 0.0).state
    assert step_hr_target(state, zone, 0, True, None, 8.0, None, 30.0).command is None
    capped = step_hr_target(state, zone, 0, True, 90.0, 2.0, None, 30.0)  # lost-rate cap 2
    assert capped.command is None  # already at the cap: nothing above it
    down = step_hr_target(state, zone, 0, True, 130.0, 2.0, None, 30.0)
    assert down.command is not None
    assert down.command.speed_kmh == 1.6  # from the speed in force (the cap), not 3 km/h
