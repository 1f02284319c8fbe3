"""Every shipped profile runs to completion on the simulator, on the virtual clock.

Each session: treadctl.app.load_session (samples/machines/sim.toml, samples/patients/demo.toml
where a speed is a share of the comfortable forward speed; the athlete profile on
samples/machines/sim-athlete.toml with samples/patients/athlete.toml), build_sim_session with a
VirtualClock and the ScriptedOperator, then loop.run(). An on_cycle observer copies the
controller's snapshot and the simulated belt's true state after every cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from treadctl.app import SessionFiles, build_sim_session, load_session
from treadctl.clock import VirtualClock
from treadctl.config.machine import RampLimits
from treadctl.config.profile import SegmentKind
from treadctl.control.summary import SessionSummary
from treadctl.protocol.plan import build_plan
from treadctl.protocol.sequencer import SegmentCues, Sequencer, SequencerState
from treadctl.safety.types import Command, CommandKind, Direction, Mode
from treadctl.sim.operator import ScriptedOperator, TimedCommand
from treadctl.store.eventlog import EventLog

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "profiles"
SIM = REPO / "src/treadctl/samples/machines" / "sim.toml"
SIM_ATHLETE = REPO / "src/treadctl/samples/machines" / "sim-athlete.toml"
SIM_HR = REPO / "src/treadctl/samples/machines" / "sim-hr.toml"
DEMO = REPO / "src/treadctl/samples/patients" / "demo.toml"
ATHLETE = REPO / "src/treadctl/samples/patients" / "athlete.toml"
SHIPPED = sorted(p.stem for p in PROFILES.glob("*.toml"))


def files_for(stem: str) -> tuple[Path, Path, Path | None]:
    profile = PROFILES / f"{stem}.toml"
    if stem == "backward-running-athlete":
        return SIM_ATHLETE, profile, ATHLETE
    if stem == "hr-zone-walk":  # a heart-rate target: a machine with a strap
        return SIM_HR, profile, DEMO
    uses_pct = "speed_pct_comfortable" in profile.read_text(encoding="utf-8")
    return SIM, profile, DEMO if uses_pct else None


@dataclass(frozen=True, slots=True)
class Cycle:
    t: float
    mode: Mode
    direction: Direction
    setpoint_kmh: float
    segment_index: int
    belt_kmh: float
    belt_direction: Direction


@dataclass
class Run:
    files: SessionFiles
    summary: SessionSummary
    records: list[dict[str, Any]]
    cycles: list[Cycle]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["kind"] == kind]


async def run_session(
    tmp_path: Path, files: SessionFiles, operator: ScriptedOperator | None = None
) -> Run:
    clock = VirtualClock()
    events = EventLog(tmp_path / "events.jsonl")
    session = build_sim_session(files, clock, events, operator or ScriptedOperator())
    loop = session.loop
    belt = session.belt
    assert belt is not None
    cycles: list[Cycle] = []

    def observe(now: float) -> None:
        out = loop.snapshot.outputs
        assert out is not None
        cycles.append(
            Cycle(
                now - loop.t0,
                out.mode,
                out.direction,
                loop.snapshot.setpoint_kmh,
                loop.snapshot.segment_index,
                belt.speed_kmh,
                belt.direction,
            )
        )

    loop.p.on_cycle = observe
    try:
        summary = await loop.run()
    finally:
        events.close()
    return Run(files, summary, events.records, cycles)


@pytest.mark.parametrize("stem", SHIPPED)
async def test_shipped_profile_runs_to_completion(tmp_path: Path, stem: str) -> None:
    files = load_session(*files_for(stem))
    plan = files.plan
    run = await run_session(tmp_path, files)
    assert run.summary.outcome == "completed"
    assert run.records[-1]["kind"] == "session_end"
    assert run.records[-1]["outcome"] == "completed"

    # every planned segment, in order, with its label, kind, target and duration
    segs = run.of_kind("segment")
    assert [
        (r["index"], r["label"], r["segment_kind"], r["target_kmh"], r["duration_s"])
        for r in segs[:-1]
    ] == [(s.index, s.label, s.kind.value, s.target_kmh, s.duration_s) for s in plan.segments]
    assert (segs[-1]["index"], segs[-1]["label"]) == (None, "end of profile")

    period = files.machine.loop.period_s
    standstill = files.machine.limits.standstill_kmh
    for seg in plan.segments:
        running = [c for c in run.cycles if c.segment_index == seg.index and c.mode is Mode.RUNNING]
        if seg.kind is SegmentKind.REST:
            assert len(running) <= 1  # at most the cycle in which the sequencer moved on
            continue
        walking = [c for c in running if c.direction.value == seg.kind.value]
        # each moving segment walks its planned time and settles on its target
        assert len(walking) * period == pytest.approx(seg.duration_s, abs=2 * period)
        zone = seg.hr_zone
        if zone is None:
            assert walking[-1].setpoint_kmh == pytest.approx(seg.target_kmh)
        else:  # the speed follows the heart rate, within the zone's speed bounds
            assert all(
                zone.min_kmh - 1e-9 <= c.setpoint_kmh <= zone.max_kmh + 1e-9
                for c in walking[len(walking) // 2 :]
            )

    # the belt changes direction only at rest, and runs backward only in backward segments
    for prev, cur in pairwise(run.cycles):
        if cur.belt_direction is not prev.belt_direction:
            assert prev.belt_kmh <= standstill, (prev, cur)
        if cur.belt_kmh > standstill and cur.belt_direction is Direction.BACKWARD:
            seg = plan.segments[min(cur.segment_index, len(plan.segments) - 1)]
            prior = plan.segments[max(cur.segment_index - 1, 0)]
            # backward now, or the ramp down of the backward segment just ended
            assert SegmentKind.BACKWARD in (seg.kind, prior.kind), cur

    planned_backward = plan.seconds_by_kind(SegmentKind.BACKWARD)
    moved_backward = run.summary.totals[Direction.BACKWARD].seconds
    if plan.forward_only:
        assert planned_backward == 0
        assert moved_backward == 0
        assert all(c.belt_direction is Direction.FORWARD for c in run.cycles)
    else:
        assert planned_backward > 0
        assert planned_backward - 1.0 <= moved_backward <= planned_backward + 60.0

    # the command never exceeded the caps of the direction
    limits = files.machine.limits
    patient = files.patient
    caps = {
        Direction.FORWARD: min(
            limits.max_forward_kmh,
            (patient.max_forward_kmh if patient and patient.max_forward_kmh else 99.0),
        ),
        Direction.BACKWARD: min(
            limits.max_backward_kmh,
            (patient.max_backward_kmh if patient and patient.max_backward_kmh else 99.0),
        ),
    }
    assert all(c.setpoint_kmh <= caps[c.direction] + 1e-9 for c in run.cycles)


FORWARD_ONLY = """\
name = "Forward-only check"
mode = "forward_only"

[[blocks]]
name = "test"
  [[blocks.segments]]
  name = "stage"
  direction = "forward"
  duration_min = 1
  speed_kmh = 3.0
  incline_pct = 2
"""


async def test_forward_only_profile_refuses_to_run_backward(tmp_path: Path) -> None:
    """An operator who pauses, sets the belt backward and starts: the start is refused,
    the profile sets the belt forward again, and the belt never moves backward."""
    profile = tmp_path / "forward-only.toml"
    profile.write_text(FORWARD_ONLY, encoding="utf-8")
    files = load_session(SIM, profile, None)
    assert files.plan.forward_only
    operator = ScriptedOperator(
        timed=[
            TimedCommand(20.0, Command(CommandKind.PAUSE, "scenario")),
            TimedCommand(
                30.0, Command(CommandKind.SET_DIRECTION, "scenario", direction=Direction.BACKWARD)
            ),
            TimedCommand(30.0, Command(CommandKind.START, "scenario")),
        ]
    )
    run = await run_session(tmp_path, files, operator)
    assert run.summary.outcome == "completed"
    commands = [r for r in run.of_kind("command") if r["source"] == "scenario"]
    assert [(r["command"], r["accepted"], r["detail"]) for r in commands] == [
        ("pause", True, commands[0]["detail"]),
        ("set_direction", True, "direction now backward"),
        (
            "start",
            False,
            "belt set to backward, segment needs forward: change direction first",
        ),
    ]
    back = [
        r
        for r in run.of_kind("command")
        if r["command"] == "set_direction" and r["source"] == "profile" and r["accepted"]
    ]
    assert [r["direction"] for r in back] == ["forward"]
    assert all(c.belt_direction is Direction.FORWARD for c in run.cycles)
    assert run.summary.totals[Direction.BACKWARD].seconds == 0


def test_sequencer_surfaces_incline_cadence_and_ramp() -> None:
    files = load_session(*files_for("incline-backward"))
    seq = Sequencer(files.plan)
    cues = [seq.cues(SequencerState(index=i)) for i in range(len(files.plan.segments))]
    assert [c.incline_pct for c in cues] == [0.0, 0.0, 2.5, 5.0, 7.5, 0.0, 0.0]
    assert cues[4].ramp == RampLimits(accel_mps2=0.12, decel_mps2=0.2, jerk_mps3=0.25)
    assert all(c.ramp is None for i, c in enumerate(cues) if i != 4)
    # the override belongs to the backward segment: withheld while the belt runs forward
    assert seq.cues(SequencerState(index=4), Direction.BACKWARD).ramp == cues[4].ramp
    assert seq.cues(SequencerState(index=4), Direction.FORWARD).ramp is None
    assert seq.cues(SequencerState(index=4), Direction.FORWARD).incline_pct == 7.5
    assert seq.cues(SequencerState(index=len(files.plan.segments))) == SegmentCues()
    assert seq.cues(SequencerState(index=2, ended=True)) == SegmentCues()

    intro = load_session(*files_for("backward-intro-15min"))
    seq = Sequencer(intro.plan)
    cadence = [seq.cues(SequencerState(index=i)).cadence_spm for i in range(8)]
    assert cadence == [None, 100, None, 100, None, 100, None, None]


def test_new_fields_leave_the_interlock_policy_as_before() -> None:
    """Incline, cadence and ramp are not the interlock's: its policies are unchanged."""
    files = load_session(*files_for("incline-backward"))
    plain = files.profile.model_copy(
        update={
            "blocks": [
                b.model_copy(
                    update={
                        "segments": [
                            s.model_copy(update={"incline_pct": None, "ramp": None})
                            for s in b.segments
                        ]
                    }
                )
                for b in files.profile.blocks
            ]
        }
    )
    plain_plan = build_plan(plain, files.machine, files.patient)
    a, b = Sequencer(files.plan), Sequencer(plain_plan)
    for i in range(len(files.plan.segments)):
        state = SequencerState(index=i)
        assert a.policy(state) == b.policy(state)
