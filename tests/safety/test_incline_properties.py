"""Property tests of the incline rules against a lift that does anything: follows the
relays at any rate (0: stalled), drifts, reads noisy, stuck or not at all, with the belt,
the harness, targets, resets and home commands changing at random."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from treadctl.safety.incline import (
    InclineConfig,
    InclineInputs,
    InclineRules,
    InclineState,
)

CFG = InclineConfig(
    min_pct=-3.0,
    max_pct=25.0,
    soft_min_pct=-2.0,
    soft_max_pct=18.0,
    rate_pct_per_s=1.0,
    max_rate_pct_per_s=2.0,
    rate_window_s=0.5,
    stall_time_s=2.0,
    stall_change_pct=0.1,
    tolerance_pct=0.2,
    position_timeout_s=0.5,
    return_to_zero=True,
)


@dataclass(frozen=True)
class Tick:
    dt: float
    rate: float  # the lift's travel per second with a relay on (0: stalled, <0: wired wrong)
    drift: float  # travel per second whatever the relays do
    reading: str  # "ok", "none", "stuck", "noise"
    noise: float
    belt: str  # "running", "stopped", "stopping"
    harness: bool
    target: float
    reset: bool
    home: bool


ticks = st.builds(
    Tick,
    dt=st.floats(0.005, 0.1),
    rate=st.sampled_from([0.0, 0.5, 1.0, 1.5, 3.0, -1.0]),
    drift=st.sampled_from([0.0, 0.0, 0.0, 0.3, -0.3, 3.0]),
    reading=st.sampled_from(["ok", "ok", "ok", "ok", "none", "stuck", "noise"]),
    noise=st.floats(0.0, 0.5),
    belt=st.sampled_from(["running", "running", "running", "stopped", "stopping"]),
    harness=st.booleans(),
    target=st.floats(-30.0, 45.0),
    reset=st.booleans(),
    home=st.booleans(),
)
# runs of the same tick: long enough for stalls, timeouts and rate windows to come due
runs = st.lists(st.tuples(ticks, st.integers(1, 150)), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(runs=runs, start=st.floats(-3.0, 25.0))
def test_incline_invariants(runs: list[tuple[Tick, int]], start: float) -> None:
    rules = InclineRules(CFG)
    state = InclineState()
    pos = start
    now = 0.0
    last_ok = 0.0
    stuck: float | None = None
    window_start: float | None = None  # relay on, readings unchanged, since then
    prev_reading: float | None = None
    prev_on = False
    latched = False
    for tick, count in runs:
        for _ in range(count):
            if tick.reading == "none":
                reading = None
            elif tick.reading == "stuck":
                stuck = pos if stuck is None else stuck
                reading = stuck
            else:
                stuck = None
                reading = pos + (tick.noise if tick.reading == "noise" and count % 2 else 0.0)
            if reading is not None:
                last_ok = now
            state, out = rules.step(
                state,
                InclineInputs(
                    position_pct=reading,
                    position_age_s=now - last_ok,
                    target_pct=tick.target,
                    belt_running=tick.belt == "running",
                    belt_stopped=tick.belt == "stopped",
                    harness_confirmed=tick.harness,
                    reset=tick.reset,
                    home=tick.home,
                ),
                now,
            )
            on = out.up or out.down
            # 1. never both
            assert not (out.up and out.down)
            # 2. never commanded beyond the soft limits, nor past the harness grade without it
            hi = CFG.soft_max_pct if tick.harness else CFG.harness_pct - CFG.tolerance_pct
            hi = min(hi, CFG.soft_max_pct)
            for pct in (out.goal_pct, out.setpoint_pct):
                if pct is not None:
                    assert CFG.soft_min_pct <= pct <= hi + 1e-9
            if out.up:
                assert reading is not None
                assert reading < hi
            if out.down:
                assert reading is not None
                assert reading > CFG.soft_min_pct
            # 3. halts: stop, e-stop, comm loss (no fresh reading), latched fault
            if on:
                assert reading is not None
                assert now - last_ok <= CFG.position_timeout_s
                assert not out.faults
                assert tick.belt == "running" or (tick.belt == "stopped" and state.homing)
            # 4. bounded moves: relay on with unchanged readings never lasts the stall time
            if on and prev_on and reading == prev_reading and window_start is not None:
                assert now - window_start < CFG.stall_time_s
            else:
                window_start = now if on else None
            # 5. a fault stays latched until a reset
            if latched and not tick.reset:
                assert out.faults
            latched = bool(out.faults)
            prev_on, prev_reading = on, reading
            move = (out.up - out.down) * tick.rate + tick.drift
            pos = max(CFG.min_pct, min(CFG.max_pct, pos + move * tick.dt))
            now += tick.dt
