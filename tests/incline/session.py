"""Whole sessions with the powered incline on the virtual clock, through the real loop.

The loop is built from LoopParts: the parts `build_sim_session` makes for the machine
file, plus the simulator's lift behind the SimIncline backend (app.build_session does
not build the actuator yet). Faults reach the lift through the scenario Injector.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from treadctl.app import build_sim_session, load_session
from treadctl.clock import VirtualClock
from treadctl.config.profile import SegmentKind
from treadctl.control.loop import ControlLoop
from treadctl.control.summary import SessionSummary
from treadctl.safety.incline import InclineOutputs
from treadctl.safety.types import Mode
from treadctl.sim.backends import SimIncline, sim_lift
from treadctl.sim.incline import InclineSim
from treadctl.sim.operator import ScriptedOperator
from treadctl.sim.scenario import FaultEvent, Injector, Scenario
from treadctl.store.eventlog import EventLog

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "src/treadctl/samples"
PROFILES_DIR = REPO / "profiles"  # the shipped profiles, at the top
SIM_INCLINE = SAMPLES / "machines/sim-incline.toml"
DEMO = SAMPLES / "patients/demo.toml"


@dataclass(frozen=True, slots=True)
class InclineCycle:
    t: float
    mode: Mode
    segment_index: int
    incline: InclineOutputs
    lift_pct: float  # the simulator's truth
    up: bool  # the lift's relays as the simulator has them
    down: bool


@dataclass
class InclineRun:
    summary: SessionSummary
    records: list[dict[str, Any]]
    cycles: list[InclineCycle]
    lift: InclineSim
    loop: ControlLoop
    injected_at_s: float | None = None  # when `climbing_fault` was applied

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["kind"] == kind]


async def run_incline_session(
    tmp_path: Path,
    profile: Path,
    machine: Path = SIM_INCLINE,
    patient: Path | None = DEMO,
    events: list[FaultEvent] | None = None,
    max_session_s: float | None = None,
    machine_update: dict[str, Any] | None = None,
    climbing_fault: tuple[str, float] | None = None,
    climbing_at_pct: float = 1.0,
    hook: Callable[[ControlLoop, InclineSim, float], None] | None = None,
    operator: ScriptedOperator | None = None,
) -> InclineRun:
    """`climbing_fault`: a lift fault (action, value) applied once, at the first cycle the
    lift climbs past `climbing_at_pct` with its up relay on."""
    files = load_session(machine, profile, patient)
    if machine_update:
        rng = files.machine.incline
        assert rng is not None
        m = files.machine.model_copy(update={"incline": rng.model_copy(update=machine_update)})
        files = dataclasses.replace(files, machine=m)
    clock = VirtualClock()
    log = EventLog(tmp_path / "events.jsonl")
    session = build_sim_session(
        files, clock, log, operator or ScriptedOperator(), end_on_fault=False
    )
    lift = sim_lift(files.machine)
    assert lift is not None
    parts = dataclasses.replace(session.loop.p, incline=SimIncline(lift, clock))
    if max_session_s is not None:
        parts.max_session_s = max_session_s
    loop = ControlLoop(parts)
    assert session.belt is not None
    injector = Injector(Scenario(event=events or []), session.belt, lambda _e: None, lift)
    cycles: list[InclineCycle] = []
    injected: list[float] = []

    def observe(now: float) -> None:
        snap = loop.snapshot
        assert snap.outputs is not None
        assert snap.incline is not None
        cycles.append(
            InclineCycle(
                now - loop.t0,
                snap.outputs.mode,
                snap.segment_index,
                snap.incline,
                lift.position_pct,
                lift.up,
                lift.down,
            )
        )
        injector.poll(now)
        if (
            climbing_fault is not None
            and not injected
            and lift.up
            and lift.position_pct >= climbing_at_pct
        ):
            lift.apply(*climbing_fault)
            injected.append(now - loop.t0)
        if hook is not None:
            hook(loop, lift, now - loop.t0)

    parts.on_cycle = observe
    summary = await loop.run()
    log.close()
    records = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    return InclineRun(summary, records, cycles, lift, loop, injected[0] if injected else None)


@dataclass(frozen=True, slots=True)
class StepFigure:
    index: int
    target_pct: float
    reach_s: float | None  # from the first cycle the belt ran the segment to within tolerance
    expected_s: float  # |change| / the machine's rate
    end_error_pct: float  # lift truth minus target at the segment's last cycle


def step_figures(run: InclineRun, tolerance_pct: float, rate_pct_per_s: float) -> list[StepFigure]:
    """Per moving segment: time to reach its incline and the position error at its end."""
    figures: list[StepFigure] = []
    by_index: dict[int, list[InclineCycle]] = {}
    for c in run.cycles:
        by_index.setdefault(c.segment_index, []).append(c)
    segments = run.loop.p.plan.segments
    for index in sorted(by_index):
        if index >= len(segments) or segments[index].kind is SegmentKind.REST:
            continue  # the cycle the sequencer moves on is still a running one
        cycles = [c for c in by_index[index] if c.mode is Mode.RUNNING]
        if not cycles:
            continue
        target = cycles[0].incline.goal_pct
        assert target is not None
        t0 = cycles[0].t
        start_pct = cycles[0].lift_pct
        reach = next((c.t - t0 for c in cycles if abs(c.lift_pct - target) <= tolerance_pct), None)
        figures.append(
            StepFigure(
                index,
                target,
                reach,
                abs(target - start_pct) / rate_pct_per_s,
                cycles[-1].lift_pct - target,
            )
        )
    return figures
