"""The incline-backward and Bruce profiles with the incline driven, and each incline fault
latched, on the virtual clock through the real control loop and the simulator's lift."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from treadctl.app import build_sim_session, load_session
from treadctl.clock import VirtualClock
from treadctl.config.loader import load_model
from treadctl.config.machine import MachineConfig
from treadctl.config.profile import SegmentKind
from treadctl.control.loop import NO_INCLINE_ACTUATOR_WARNING, ControlLoop
from treadctl.safety.incline import InclineFault, InclineMode
from treadctl.safety.types import Command, CommandKind, Mode, Reason
from treadctl.sim.incline import InclineSim
from treadctl.sim.operator import ScriptedOperator, TimedCommand
from treadctl.sim.scenario import Action
from treadctl.store.eventlog import EventLog

from .session import (
    PROFILES_DIR,
    SAMPLES,
    SIM_INCLINE,
    InclineRun,
    run_incline_session,
    step_figures,
)

MACHINE = load_model(SIM_INCLINE, MachineConfig)
assert MACHINE.incline is not None
RNG = MACHINE.incline
FORWARD_STEP = """\
name = "Incline step"
[[blocks]]
name = "walk"
  [[blocks.segments]]
  name = "level"
  direction = "forward"
  duration_min = 0.5
  speed_kmh = 3.0
  incline_pct = 0
  [[blocks.segments]]
  name = "uphill"
  direction = "forward"
  duration_min = 1
  speed_kmh = 3.0
  incline_pct = 4
"""
UPHILL_S = 45.0  # the uphill step is under way by then (reset, start, 30 s level)


def never_both(run: InclineRun) -> None:
    assert run.lift.both_on_seen == 0
    assert not any(c.incline.up and c.incline.down for c in run.cycles)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("profile", "patient"),
    [("incline-backward", "demo"), ("bruce", None)],  # an exercise test: no patient caps
)
async def test_profiles_drive_the_incline_to_each_step(
    tmp_path: Path, profile: str, patient: str | None
) -> None:
    run = await run_incline_session(
        tmp_path,
        PROFILES_DIR / f"{profile}.toml",
        patient=SAMPLES / f"patients/{patient}.toml" if patient else None,
    )
    assert run.summary.outcome == "completed"
    never_both(run)
    assert not run.of_kind("incline_fault")
    figures = step_figures(run, RNG.tolerance_pct, RNG.rate_pct_per_s)
    plan_inclines = [
        s.incline_pct for s in run.loop.p.plan.segments if s.kind is not SegmentKind.REST
    ]
    assert [f.target_pct for f in figures] == plan_inclines
    assert max(plan_inclines) > 5.0  # the harness was needed, confirmed by the start
    assert run.loop.harness_confirmed
    inclined = [r for r in run.of_kind("segment") if r.get("incline_pct")]
    assert inclined
    assert all(r["incline_driven"] is True for r in inclined)  # no "set it by hand"
    for f in figures:
        assert abs(f.end_error_pct) <= RNG.tolerance_pct, f
        assert f.reach_s is not None, f
        # reached at the machine's rate: |change| / rate, plus a few cycles
        assert f.reach_s <= f.expected_s + 0.2, f
    # the incline moved only while the belt ran a segment
    for c in run.cycles:
        if c.mode is not Mode.RUNNING:
            assert not c.up
            assert not c.down


async def test_the_start_of_a_segment_that_lists_the_harness_confirms_it(tmp_path: Path) -> None:
    profile = tmp_path / "steep.toml"
    profile.write_text(FORWARD_STEP.replace("incline_pct = 4", "incline_pct = 7"))
    run = await run_incline_session(tmp_path, profile, patient=None, max_session_s=UPHILL_S + 15)
    assert run.loop.harness_confirmed  # the checklist listed it and the start confirmed it
    assert max(c.lift_pct for c in run.cycles) >= 7.0 - RNG.tolerance_pct
    first_run = next(c.t for c in run.cycles if c.mode is Mode.RUNNING)
    assert all(not c.up for c in run.cycles if c.t < first_run)


# A noisy reading jumps either way: whichever of the two rules it breaks first latches.
FAULTS = [
    (Action.INCLINE_STALL, 0.0, {InclineFault.STALL}),
    (Action.INCLINE_SENSOR_STUCK, 0.0, {InclineFault.STALL}),
    (Action.INCLINE_NOISE, 1.5, {InclineFault.RUNAWAY, InclineFault.WRONG_WAY}),
    (Action.INCLINE_RUNAWAY, 3.0, {InclineFault.RUNAWAY}),
    (Action.INCLINE_SILENT, 0.0, {InclineFault.SENSOR_LOST}),
]


@pytest.mark.parametrize(("action", "value", "fault"), FAULTS, ids=[a.value for a, _, _ in FAULTS])
@pytest.mark.parametrize("belt_stops", [True, False], ids=["belt-stops", "belt-runs-on"])
async def test_each_incline_fault_latches_and_halts(
    tmp_path: Path, action: Action, value: float, fault: set[InclineFault], belt_stops: bool
) -> None:
    profile = tmp_path / "step.toml"
    profile.write_text(FORWARD_STEP)
    run = await run_incline_session(
        tmp_path,
        profile,
        patient=None,
        max_session_s=UPHILL_S + 20,
        machine_update={"belt_stop_on_fault": belt_stops},
        climbing_fault=(action.value, value),  # while the lift climbs to 4 %
    )
    never_both(run)
    at_s = run.injected_at_s
    assert at_s is not None
    (first, *_) = run.of_kind("incline_fault")
    assert first["reason"] in {f.value for f in fault}
    tripped = first["t_s"]
    assert at_s <= tripped <= at_s + RNG.stall_time_s + RNG.position_timeout_s
    after = [c for c in run.cycles if c.t > tripped + 0.05]
    assert after
    for c in after:  # latched: no relay for the rest of the session
        assert c.incline.mode is InclineMode.FAULTED
        assert not c.up
        assert not c.down
    pauses = [r for r in run.of_kind("command") if r["source"] == "incline fault" and r["accepted"]]
    if belt_stops:
        assert len(pauses) == 1
        assert pauses[0]["t_s"] - tripped <= 0.05
        stop = next(
            r
            for r in run.of_kind("transition")
            if r["new"] == "stopping" and r["t_s"] >= tripped - 1e-3
        )
        assert Reason.OPERATOR_PAUSE.value in stop["reasons"]
        assert after[-1].mode is Mode.STOPPED  # a controlled stop, not a latched belt fault
        refused = [
            r
            for r in run.of_kind("command")
            if r["command"] == "start" and not r["accepted"] and "incline fault" in r["detail"]
        ]
        assert refused  # the auto-operator's restarts are refused until a reset
    else:
        assert not pauses
        assert all(c.mode is Mode.RUNNING for c in after if c.t < UPHILL_S)


async def test_a_reset_clears_the_incline_fault_and_a_new_start_resumes(tmp_path: Path) -> None:
    profile = tmp_path / "step.toml"
    profile.write_text(FORWARD_STEP)
    done: list[str] = []

    def operator(loop: ControlLoop, lift: InclineSim, t: float) -> None:
        del t
        snap = loop.snapshot
        assert snap.outputs is not None
        assert snap.incline is not None
        if snap.incline.faulted and snap.outputs.mode is Mode.STOPPED and not done:
            lift.apply("incline_unstall", 0.0)  # the jam cleared
            loop.submit(Command(CommandKind.RESET, "test"))
            done.append("reset")

    run = await run_incline_session(
        tmp_path,
        profile,
        patient=None,
        climbing_fault=("incline_stall", 0.0),
        hook=operator,
    )
    assert done == ["reset"]
    cleared = [r for r in run.of_kind("command") if r["command"] == "incline_reset"]
    assert cleared
    assert cleared[0]["accepted"]
    assert run.summary.outcome == "completed"  # the auto-operator's next start resumed
    assert abs(run.cycles[-1].lift_pct - 4.0) <= RNG.tolerance_pct


async def test_home_returns_to_zero_only_on_command_at_rest(tmp_path: Path) -> None:
    profile = tmp_path / "step.toml"
    profile.write_text(FORWARD_STEP)
    pause = TimedCommand(UPHILL_S, Command(CommandKind.PAUSE, "test"))
    asked: list[float] = []
    stopped_at: list[float] = []

    def operator(loop: ControlLoop, lift: InclineSim, t: float) -> None:
        del lift
        snap = loop.snapshot
        assert snap.outputs is not None
        if snap.outputs.mode is Mode.STOPPED and t > UPHILL_S:
            stopped_at.append(t)
            if not asked and t - stopped_at[0] >= 3.0:
                loop.incline_home()
                asked.append(t)

    run = await run_incline_session(
        tmp_path,
        profile,
        patient=None,
        hook=operator,
        operator=ScriptedOperator(timed=[pause]),
        max_session_s=UPHILL_S + 20,
    )
    assert asked
    at_rest = [c for c in run.cycles if stopped_at[0] <= c.t < asked[0]]
    assert at_rest
    assert all(abs(c.lift_pct - 4.0) <= RNG.tolerance_pct for c in at_rest)  # stays put
    (home,) = [r for r in run.of_kind("command") if r["command"] == "incline_home"]
    assert home["accepted"]
    assert abs(run.cycles[-1].lift_pct) <= RNG.tolerance_pct


async def test_a_session_built_without_the_actuator_says_to_set_it_by_hand(
    tmp_path: Path,
) -> None:
    """A loop whose machine file names an actuator but that was given none (a builder
    that forgot it) says so rather than staying silent about the incline."""
    profile = tmp_path / "step.toml"
    profile.write_text(FORWARD_STEP)
    files = load_session(SIM_INCLINE, profile, None)
    events = EventLog(tmp_path / "events.jsonl")
    session = build_sim_session(files, VirtualClock(), events, ScriptedOperator())
    # the builder now passes it: the same parts again without it
    loop = ControlLoop(dataclasses.replace(session.loop.p, incline=None, max_session_s=5.0))
    await loop.run()
    events.close()
    lines = (tmp_path / "events.jsonl").read_text()
    assert NO_INCLINE_ACTUATOR_WARNING in lines
    assert "incline_driven" not in lines
