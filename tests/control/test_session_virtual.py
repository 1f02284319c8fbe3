"""Whole sessions on the virtual clock, through the real control loop, judged by their timeline.

Each test loads real files with treadctl.app.load_session, builds the simulated session
with build_sim_session (VirtualClock, EventLog to tmp_path/events.jsonl, the scripted
operator or a shipped hil/*.toml scenario) and awaits loop.run(). The assertions read the
event records (the same ones written to the JSON-lines file) and, where the records
cannot tell, an on_cycle observer that copies loop.snapshot and the simulated belt's
true state after every cycle.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from treadctl.app import SessionFiles, SimSession, build_sim_session, load_session
from treadctl.clock import VirtualClock
from treadctl.config.profile import SegmentKind
from treadctl.control.summary import SessionSummary
from treadctl.safety.types import Decel, Direction, Mode, Reason
from treadctl.sim.operator import ScriptedOperator
from treadctl.sim.scenario import Scenario
from treadctl.sim.world import COMM_LOSS_FAULT_CODE
from treadctl.store.eventlog import EventLog

REPO = Path(__file__).resolve().parents[2]
SIM = REPO / "src/treadctl/samples/machines" / "sim.toml"
SIM_HR = REPO / "src/treadctl/samples/machines" / "sim-hr.toml"
DEMO = REPO / "src/treadctl/samples/patients" / "demo.toml"
DEMO_SHORT = REPO / "profiles" / "demo-short.toml"
INTRO = REPO / "profiles" / "backward-intro-15min.toml"
STROKE = REPO / "profiles" / "stroke-30min.toml"
HIL = REPO / "src/treadctl/samples/scenarios"

EPS = 1e-3  # event times are rounded to 0.1 ms in the log

HR_PROFILE = """\
# Heart-rate mode: the belt may only run with a live heart-rate signal.
name = "Heart-rate walk"

[heart_rate]
required = true

[[blocks]]
name = "hr"
  [[blocks.segments]]
  name = "forward"
  direction = "forward"
  duration_min = 3
  speed_kmh = 3.0
"""


@dataclass(frozen=True, slots=True)
class Cycle:
    """What one cycle left behind: the controller's snapshot and the belt's true state."""

    t: float  # seconds since session start, like the records' t_s
    mode: Mode
    reasons: tuple[Reason, ...]
    direction: Direction
    decel: Decel
    drive_enable: bool
    target_kmh: float
    setpoint_kmh: float
    at_standstill: bool
    segment_index: int
    drive_kmh: float | None  # None: no drive reading this cycle
    belt_kmh: float  # simulator truth
    belt_direction: Direction  # simulator truth


@dataclass
class Run:
    files: SessionFiles
    session: SimSession
    summary: SessionSummary
    records: list[dict[str, Any]]
    cycles: list[Cycle]
    events_path: Path

    @property
    def period(self) -> float:
        return self.files.machine.loop.period_s

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["kind"] == kind]

    def flow(self) -> list[dict[str, Any]]:
        """Commands and interlock transitions, in order."""
        return [r for r in self.records if r["kind"] in ("command", "transition")]

    def injected(self, action: str) -> float:
        (record,) = [r for r in self.of_kind("fault_injected") if r["action"] == action]
        return float(record["t_s"])

    def first_transition(self, after: float, **match: Any) -> dict[str, Any]:
        for r in self.of_kind("transition"):
            if r["t_s"] >= after - EPS and all(r[k] == v for k, v in match.items()):
                return r
        raise AssertionError(f"no transition {match} after {after} s")

    def cycles_between(self, start: float, end: float = float("inf")) -> list[Cycle]:
        return [c for c in self.cycles if start - EPS <= c.t < end - EPS]

    def accepted(self, command: str, after: float = 0.0) -> list[dict[str, Any]]:
        return [
            r
            for r in self.of_kind("command")
            if r["command"] == command and r["accepted"] and r["t_s"] > after + EPS
        ]


async def run_session(
    tmp_path: Path,
    profile: Path,
    machine: Path = SIM,
    patient: Path | None = DEMO,
    scenario: Path | None = None,
    max_session_s: float | None = None,
) -> Run:
    files = load_session(machine, profile, patient)
    scen = Scenario.load(scenario) if scenario is not None else None
    operator = scen.operator_for() if scen is not None else ScriptedOperator()
    clock = VirtualClock()
    events_path = tmp_path / "events.jsonl"
    events = EventLog(events_path)
    session = build_sim_session(files, clock, events, operator, scen, end_on_fault=True)
    loop = session.loop
    if max_session_s is not None:
        loop.p.max_session_s = max_session_s
    cycles: list[Cycle] = []
    inject = loop.p.on_cycle
    belt = session.belt
    assert belt is not None  # the simulated world, for the belt's true speed and direction

    def observe(now: float) -> None:
        snap = loop.snapshot
        out = snap.outputs
        assert out is not None
        cycles.append(
            Cycle(
                t=now - loop.t0,
                mode=out.mode,
                reasons=out.reasons,
                direction=out.direction,
                decel=out.decel,
                drive_enable=out.drive_enable,
                target_kmh=out.target_kmh,
                setpoint_kmh=snap.setpoint_kmh,
                at_standstill=out.at_standstill,
                segment_index=snap.segment_index,
                drive_kmh=None if snap.drive is None else snap.drive.actual_speed_kmh,
                belt_kmh=belt.speed_kmh,
                belt_direction=belt.direction,
            )
        )
        if inject is not None:  # the scenario's faults land after this cycle is observed
            inject(now)

    loop.p.on_cycle = observe
    try:
        summary = await loop.run()
    finally:
        events.close()
    return Run(files, session, summary, events.records, cycles, events_path)


# --- checks shared by every run ---------------------------------------------------------


def check_direction_changes_only_at_standstill(run: Run) -> int:
    """The commanded direction changes only at verified standstill, the belt only at rest."""
    standstill = run.files.machine.limits.standstill_kmh
    changes = 0
    for prev, cur in pairwise(run.cycles):
        if cur.direction is not prev.direction:
            changes += 1
            assert cur.mode is Mode.STOPPED, cur
            assert cur.at_standstill, cur
            assert prev.drive_kmh is not None, prev
            assert prev.drive_kmh <= standstill, prev
            assert prev.belt_kmh <= standstill, prev
            assert cur.belt_kmh <= standstill, cur
        if cur.belt_direction is not prev.belt_direction:
            assert prev.belt_kmh <= standstill, (prev, cur)
        if cur.belt_kmh > standstill and cur.mode is Mode.RUNNING:
            assert cur.belt_direction is cur.direction, cur
    return changes


def check_belt_runs_only_after_an_accepted_start(run: Run) -> None:
    """Every entry into RUNNING is the effect of an accepted start command in that cycle."""
    flow = run.flow()
    for i, r in enumerate(flow):
        if r["kind"] == "transition" and r["new"] == "running":
            cause = flow[i - 1]
            assert cause["kind"] == "command", (cause, r)
            assert cause["command"] == "start", (cause, r)
            assert cause["accepted"], (cause, r)
            assert cause["t_s"] == r["t_s"], (cause, r)
            assert r["old"] == "stopped", r


def check_jsonl_matches_records(run: Run) -> None:
    lines = run.events_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(run.records)
    parsed = []
    for line in lines:
        record = json.loads(line)
        assert isinstance(record, dict)
        parsed.append(record)
    assert parsed == run.records
    times = [r["t_s"] for r in parsed]
    assert times == sorted(times)
    assert parsed[0]["kind"] == "connect"
    assert parsed[-1]["kind"] == "session_end"


def check_common(run: Run) -> None:
    check_direction_changes_only_at_standstill(run)
    check_belt_runs_only_after_an_accepted_start(run)
    check_jsonl_matches_records(run)


def check_latched_end(run: Run, trip: dict[str, Any]) -> None:
    """After a latched fault: the belt comes to rest, nothing restarts, the session ends."""
    assert run.summary.outcome == "interrupted by latched fault"
    assert run.records[-1]["kind"] == "session_end"
    assert run.records[-1]["outcome"] == "interrupted by latched fault"
    assert run.accepted("start", after=trip["t_s"]) == []
    assert run.accepted("reset", after=trip["t_s"]) == []
    assert not any(
        r["new"] == "running" for r in run.of_kind("transition") if r["t_s"] >= trip["t_s"]
    )
    assert run.summary.final_mode is Mode.FAULTED
    assert run.summary.final_reasons[0].value == trip["reasons"][0]
    assert run.summary.stops[-1].kind == "latched fault"
    last = run.cycles[-1]
    assert last.at_standstill
    assert last.belt_kmh == 0.0
    for c in run.cycles_between(trip["t_s"]):
        assert c.mode is Mode.FAULTED, c
        assert not c.drive_enable, c
        assert c.target_kmh == 0.0, c


def mid_backward(run: Run, t: float) -> Cycle:
    """The last cycle before `t`: it must be walking backward, in a backward segment."""
    cycle = [c for c in run.cycles if c.t < t - EPS][-1]
    assert cycle.mode is Mode.RUNNING
    assert cycle.direction is Direction.BACKWARD
    assert cycle.belt_direction is Direction.BACKWARD
    assert cycle.belt_kmh > 0.5
    assert run.files.plan.segments[cycle.segment_index].kind.value == "backward"
    return cycle


def running_seconds(run: Run, start: float, end: float) -> float:
    """Time in RUNNING between `start` and `end`, from the interlock transitions."""
    total, since = 0.0, None
    for r in run.of_kind("transition"):
        if r["new"] == "running" and r["old"] != "running":
            since = r["t_s"]
        elif r["old"] == "running" and r["new"] != "running" and since is not None:
            total += max(0.0, min(r["t_s"], end) - max(since, start))
            since = None
    if since is not None:
        total += max(0.0, end - max(since, start))
    return total


# --- whole profiles -------------------------------------------------------------------

SEQ_STOP = Reason.SEQUENCE_STOP.value

INTRO_SEGMENTS = [
    ("warm-up/forward", "forward", 2.56, 150.0),
    *[
        seg
        for _ in range(3)
        for seg in (
            ("intervals/backward", "backward", 1.28, 120.0),
            ("intervals/forward", "forward", 2.88, 90.0),
        )
    ],
    ("cool-down/forward", "forward", 2.24, 120.0),
]
STROKE_SEGMENTS = [
    ("warm-up/forward", "forward", 2.24, 180.0),
    *[
        seg
        for _ in range(4)
        for seg in (
            ("backward bouts/backward", "backward", 1.12, 300.0),
            ("backward bouts/rest", "rest", 0.0, 60.0),
        )
    ],
    ("cool-down/forward", "forward", 1.92, 180.0),
]


@pytest.mark.parametrize(
    ("profile", "segments", "turns"),
    [
        pytest.param(
            INTRO,
            INTRO_SEGMENTS,
            ["backward", "forward"] * 3,
            id="backward-intro-15min",
        ),
        pytest.param(STROKE, STROKE_SEGMENTS, ["backward", "forward"], id="stroke-30min"),
    ],
)
async def test_whole_profile_completes(
    tmp_path: Path,
    profile: Path,
    segments: list[tuple[str, str, float, float]],
    turns: list[str],
) -> None:
    run = await run_session(tmp_path, profile)

    assert run.summary.outcome == "completed"
    assert run.records[-1]["outcome"] == "completed"
    check_common(run)

    # every planned segment, in order, with its label, target and duration
    seg_records = run.of_kind("segment")
    assert [
        (r["index"], r["label"], r["segment_kind"], r["target_kmh"], r["duration_s"])
        for r in seg_records[:-1]
    ] == [(i, *s) for i, s in enumerate(segments)]
    assert (seg_records[-1]["index"], seg_records[-1]["label"]) == (None, "end of profile")
    assert [r["t_s"] for r in seg_records] == sorted(r["t_s"] for r in seg_records)

    # each moving segment runs its time at its target; each rest lasts its time
    for i, (_label, kind, target, duration) in enumerate(segments):
        if kind == "rest":
            assert seg_records[i + 1]["t_s"] - seg_records[i]["t_s"] == pytest.approx(
                duration, abs=run.period + EPS
            )
            continue
        running = [c for c in run.cycles if c.segment_index == i and c.mode is Mode.RUNNING]
        walking = [c for c in running if c.direction.value == kind]
        # at most the one cycle in which the sequencer moved on, before the interlock stops
        assert len(running) - len(walking) <= 1
        assert len(walking) * run.period == pytest.approx(duration, abs=2 * run.period)
        assert walking[-1].setpoint_kmh == pytest.approx(target)  # settled on its target

    # each turnaround: stop -> standstill -> set_direction (profile) -> start -> running
    flow = run.flow()
    set_dirs = [
        i
        for i, r in enumerate(flow)
        if r["kind"] == "command"
        and r["command"] == "set_direction"
        and r["accepted"]
        and r["detail"].startswith("direction now")
    ]
    assert [flow[i]["direction"] for i in set_dirs] == turns
    for i in set_dirs:
        stop, standstill, set_dir, start, runs = flow[i - 2 : i + 3]
        assert (stop["kind"], stop["old"], stop["new"]) == ("transition", "running", "stopping")
        assert stop["reasons"] == [SEQ_STOP]
        assert (standstill["kind"], standstill["old"], standstill["new"]) == (
            "transition",
            "stopping",
            "stopped",
        )
        assert standstill["detail"] == "standstill"
        assert set_dir["source"] == "profile"
        assert (start["kind"], start["command"], start["accepted"]) == ("command", "start", True)
        assert start["source"] == "auto-operator"
        assert (runs["kind"], runs["old"], runs["new"]) == (
            "transition",
            "stopped",
            "running",
        )
        assert stop["t_s"] < standstill["t_s"] <= set_dir["t_s"] < start["t_s"] == runs["t_s"]

    # the observer saw exactly those direction changes, all at standstill
    assert check_direction_changes_only_at_standstill(run) == len(turns)

    # time moving backward: the planned backward time plus each bout's ramp down
    planned = sum(s[3] for s in segments if s[1] == "backward")
    assert run.files.plan.seconds_by_kind(SegmentKind.BACKWARD) == planned
    bouts = sum(1 for s in segments if s[1] == "backward")
    moved = run.summary.totals[Direction.BACKWARD].seconds
    assert planned - 1.0 <= moved <= planned + 3.0 * bouts


def test_simulate_cli_prints_timeline_and_runs_fast(tmp_path: Path) -> None:
    """The shipped 30-minute profile through the real CLI: timeline, summary, speed-up."""
    events = tmp_path / "events.jsonl"
    command = (
        "simulate profiles/stroke-30min.toml"
        " --patient src/treadctl/samples/patients/demo.toml --events"
    )
    result = subprocess.run(
        [sys.executable, "-m", "treadctl.cli", *command.split(), str(events)],
        cwd=REPO,  # as typed in the checkout; the default machine is the shipped sim
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == "Timeline:"
    assert "  00:00.0  segment   1/10 warm-up/forward: forward 2.24 km/h for 03:00.0" in lines
    assert any(re.fullmatch(r"  \d\d:\d\d\.\d  session   ended: completed", x) for x in lines)
    assert "  outcome: completed" in lines
    (speed_line,) = [x for x in lines if "x real time" in x]
    match = re.fullmatch(
        r"  virtual clock: \d\d:\d\d\.\d simulated in \d+\.\d\d s wall time \((\d+)x real time\)",
        speed_line,
    )
    assert match, speed_line
    # The speed-up itself is a benchmark figure (it depends on the machine's load), not a
    # pass/fail criterion here; it must only be reported, and be more than real time.
    assert int(match.group(1)) > 1
    assert lines[-1] == f"  event log: {events}"
    assert events.exists()


# --- scenarios: the shipped hil/*.toml files ------------------------------------------


SHIPPED_SCENARIOS = [
    "estop-backward",
    "key-pull",
    "drive-silent",
    "drive-trip",
    "runaway",
    "rails-hold-to-run",
    "hr-lost",
    "hr-missing-at-start",
    "pause-resume",
]


@pytest.mark.parametrize("name", SHIPPED_SCENARIOS)
def test_shipped_scenario_loads_and_says_what_it_shows(name: str) -> None:
    path = HIL / f"{name}.toml"
    assert path.read_text(encoding="utf-8").startswith("# Shows: ")
    scenario = Scenario.load(path)
    assert scenario.name == name
    assert scenario.event or scenario.command


@pytest.mark.parametrize(
    ("scenario", "action", "reason"),
    [
        pytest.param("estop-backward", "open_estop", Reason.ESTOP_CHAIN_OPEN, id="estop"),
        pytest.param("key-pull", "pull_key", Reason.SAFETY_KEY_PULLED, id="key-pull"),
    ],
)
async def test_safety_chain_opened_mid_backward_latches_a_quick_stop(
    tmp_path: Path, scenario: str, action: str, reason: Reason
) -> None:
    run = await run_session(tmp_path, DEMO_SHORT, scenario=HIL / f"{scenario}.toml")
    check_common(run)
    t_open = run.injected(action)
    trip = run.first_transition(t_open, new="faulted")
    before = mid_backward(run, trip["t_s"])
    assert trip["old"] == "running"
    assert trip["reasons"][0] == reason.value
    assert trip["t_s"] - t_open <= run.period + EPS

    # quick stop: the command falls at the quick-stop rate every cycle until zero
    quick = run.files.machine.limits.quick_stop_decel_kmh_per_s
    # ... until verified standstill, when the drive hears its plain stop word again (a
    # PROFIdrive drive stays switch-on inhibited, never ready for a reset, under OFF3)
    after = run.cycles_between(trip["t_s"])
    moving = [c for c in after if not c.at_standstill]
    assert moving
    assert all(c.decel is Decel.QUICK for c in moving)
    assert after[-1].at_standstill
    assert after[-1].decel is Decel.NORMAL
    for prev, cur in pairwise([before, *moving]):
        assert cur.setpoint_kmh == pytest.approx(max(0.0, prev.setpoint_kmh - quick * run.period))
    zero = next(c for c in after if c.setpoint_kmh == 0.0)
    assert zero.t - trip["t_s"] <= before.setpoint_kmh / quick + run.period + EPS

    check_latched_end(run, trip)


async def test_drive_silent_trips_within_the_read_timeout(tmp_path: Path) -> None:
    run = await run_session(tmp_path, DEMO_SHORT, scenario=HIL / "drive-silent.toml")
    check_common(run)
    watchdog = run.files.machine.watchdog
    t_silent = run.injected("drive_silent")
    mid_backward(run, t_silent)
    (connect,) = run.of_kind("connect")
    assert connect["watchdog_s"] == watchdog.drive_comm_loss_s

    failed = [r for r in run.of_kind("read_failed") if r["source"] == "sim-drive"]
    assert failed
    assert failed[0]["t_s"] > t_silent

    trip = run.first_transition(t_silent, new="faulted")
    assert trip["old"] == "running"
    assert trip["reasons"][0] == Reason.DRIVE_COMM_LOST.value
    waited = trip["t_s"] - t_silent
    assert watchdog.drive_read_timeout_s - EPS <= waited
    assert waited <= watchdog.drive_read_timeout_s + run.period + EPS

    # blind, the controller cannot verify standstill; the drive's own watchdog stops the belt
    t_answer = run.injected("drive_answer")
    blind = run.cycles_between(trip["t_s"], t_answer)
    assert all(c.drive_kmh is None for c in blind)
    assert not any(c.at_standstill for c in blind)
    # (its comm-loss trip, its own ramp and the belt's inertia take about 1.2 s in all)
    stopped_by_drive = run.cycles_between(t_silent + watchdog.drive_comm_loss_s + 1.5, t_answer)
    assert stopped_by_drive
    assert all(c.belt_kmh == 0.0 for c in stopped_by_drive)

    # once it answers, its own comm-loss trip is added after the first reason
    assert [r for r in run.of_kind("read_recovered") if r["t_s"] >= t_answer - EPS]
    added = run.first_transition(t_answer, old="faulted", new="faulted")
    assert added["reasons"] == [Reason.DRIVE_FAULT.value]
    assert added["detail"] == f"drive fault code {COMM_LOSS_FAULT_CODE}"
    check_latched_end(run, trip)


async def test_drive_trip_names_the_fault_code(tmp_path: Path) -> None:
    run = await run_session(tmp_path, DEMO_SHORT, scenario=HIL / "drive-trip.toml")
    check_common(run)
    t_trip = run.injected("drive_trip")
    mid_backward(run, t_trip)
    trip = run.first_transition(t_trip, new="faulted")
    assert trip["old"] == "running"
    assert trip["reasons"][0] == Reason.DRIVE_FAULT.value
    assert trip["detail"] == "drive fault code 7"
    assert trip["t_s"] - t_trip <= run.period + EPS
    assert run.summary.stops[-1].detail == "drive fault code 7"
    assert any("drive fault code 7" in line for line in run.records[-1]["summary"])
    check_latched_end(run, trip)


async def test_runaway_is_latched(tmp_path: Path) -> None:
    run = await run_session(tmp_path, DEMO_SHORT, scenario=HIL / "runaway.toml")
    check_common(run)
    limits = run.files.machine.limits
    t_runaway = run.injected("drive_runaway")
    mid_backward(run, t_runaway)

    trip = run.first_transition(t_runaway, new="faulted")
    assert trip["old"] == "running"
    assert trip["reasons"][0] == Reason.RUNAWAY.value
    # the belt gains 1 km/h per second: past the tolerance in well under a second, then
    # runaway_time_s more
    assert limits.runaway_time_s <= trip["t_s"] - t_runaway <= limits.runaway_time_s + 1.0
    match = re.fullmatch(r"commanded (\d+\.\d\d) km/h, belt (\d+\.\d\d) km/h", trip["detail"])
    assert match, trip["detail"]
    assert float(match.group(2)) - float(match.group(1)) > limits.speed_tolerance_kmh

    # the command goes to zero with the drive disabled, whatever the belt does
    after = run.cycles_between(trip["t_s"])
    assert all(b.setpoint_kmh <= a.setpoint_kmh for a, b in pairwise(after))
    assert after[-1].setpoint_kmh == 0.0

    # the e-stop, pressed later, is added after the runaway, which stays first
    t_estop = run.injected("open_estop")
    added = run.first_transition(t_estop, old="faulted", new="faulted")
    assert Reason.ESTOP_CHAIN_OPEN.value in added["reasons"]
    check_latched_end(run, trip)


async def test_hold_to_run_rails_released_stops_and_waits_for_start(tmp_path: Path) -> None:
    run = await run_session(tmp_path, STROKE, scenario=HIL / "rails-hold-to-run.toml")
    check_common(run)
    limits = run.files.machine.limits
    backward = run.files.machine.limits.backward
    t_release = run.injected("release_rails")
    t_hold = run.injected("hold_rails")
    released_in = mid_backward(run, t_release)
    assert run.files.plan.segments[released_in.segment_index].rail_policy.value == "hold_to_run"

    # controlled stop after the grace time, not a latched fault
    stop = run.first_transition(t_release, old="running")
    assert stop["new"] == "stopping"
    assert stop["reasons"] == [Reason.RAILS_RELEASED.value]
    assert limits.rail_grace_s <= stop["t_s"] - t_release <= limits.rail_grace_s + 2 * run.period
    standstill = run.first_transition(stop["t_s"], old="stopping", new="stopped")
    ramp = run.cycles_between(stop["t_s"], standstill["t_s"])
    assert all(c.mode is Mode.STOPPING and c.decel is Decel.NORMAL for c in ramp)
    max_step = backward.decel_kmh_per_s * run.period + 1e-9
    assert all(a.setpoint_kmh - b.setpoint_kmh <= max_step for a, b in pairwise(ramp))
    assert not [r for r in run.of_kind("transition") if r["new"] == "faulted" and r["t_s"] > 5]

    # a start while the rails are still released is refused
    refused = [
        r
        for r in run.of_kind("command")
        if r["command"] == "start" and r["source"] == "scenario" and r["t_s"] < t_hold
    ]
    assert len(refused) == 1
    assert not refused[0]["accepted"]
    assert "hold-to-run segment: hold the handrails" in refused[0]["detail"]

    # holding the rails again does not restart the belt; the next accepted start does
    (restart,) = run.accepted("start", after=stop["t_s"])
    assert restart["t_s"] >= t_hold + 5.0
    resumed = run.first_transition(stop["t_s"], new="running")
    assert resumed["t_s"] == restart["t_s"]
    waiting = run.cycles_between(standstill["t_s"], restart["t_s"])
    assert all(c.mode is Mode.STOPPED and c.belt_kmh == 0.0 for c in waiting)
    assert all(c.segment_index == released_in.segment_index for c in waiting)

    assert run.summary.outcome == "stopped by scenario"


async def test_heart_rate_lost_caps_speed_and_ends_the_session(tmp_path: Path) -> None:
    profile = tmp_path / "hr-walk.toml"
    profile.write_text(HR_PROFILE, encoding="utf-8")
    run = await run_session(tmp_path, profile, machine=SIM_HR, scenario=HIL / "hr-lost.toml")
    check_common(run)
    limits = run.files.machine.limits
    cap = limits.hr_lost_cap_kmh
    t_lost = run.injected("hr_lose")

    assert max(c.setpoint_kmh for c in run.cycles_between(0.0, t_lost)) == pytest.approx(3.0)
    notice = next(
        r
        for r in run.of_kind("warnings")
        if "heart-rate signal lost: speed capped" in r["warnings"]
    )
    assert t_lost <= notice["t_s"] <= t_lost + run.period + EPS
    after = run.cycles_between(t_lost + run.period)
    assert all(c.target_kmh <= cap for c in after)
    settled = run.cycles_between(t_lost + 3.0)
    assert all(c.setpoint_kmh <= cap + 1e-9 for c in settled)
    assert all(c.belt_kmh <= cap + 0.1 for c in settled)

    stop = run.first_transition(t_lost, old="running")
    assert stop["new"] == "stopping"
    assert stop["reasons"] == [Reason.HEART_RATE_LOST.value]
    # one period until the controller reads the loss, one for rounding of the virtual time
    assert limits.hr_lost_end_s - 1.0 <= stop["t_s"] - t_lost
    assert stop["t_s"] - t_lost <= limits.hr_lost_end_s + 2 * run.period + EPS
    assert run.summary.outcome == "ended: heart-rate signal lost"
    assert run.accepted("start", after=stop["t_s"]) == []
    assert run.cycles[-1].belt_kmh == 0.0


async def test_heart_rate_missing_at_start_cancels_after_a_minute(tmp_path: Path) -> None:
    profile = tmp_path / "hr-walk.toml"
    profile.write_text(HR_PROFILE, encoding="utf-8")
    run = await run_session(
        tmp_path,
        profile,
        machine=SIM_HR,
        scenario=HIL / "hr-missing-at-start.toml",
        max_session_s=240.0,  # keeps the failing case short
    )
    limits = run.files.machine.limits
    assert run.accepted("start") == []
    refused = [r for r in run.of_kind("command") if r["command"] == "start"]
    assert refused
    assert all("no heart-rate signal" in r["detail"] for r in refused)
    end = run.records[-1]
    assert end["kind"] == "session_end"
    assert "heart-rate" in end["outcome"]
    assert end["t_s"] <= limits.hr_lost_end_s + 10.0
    assert all(c.belt_kmh == 0.0 for c in run.cycles)


async def test_pause_then_start_resumes_the_same_segment(tmp_path: Path) -> None:
    run = await run_session(tmp_path, DEMO_SHORT, scenario=HIL / "pause-resume.toml")
    check_common(run)
    assert run.summary.outcome == "completed"

    (pause,) = [r for r in run.of_kind("command") if r["command"] == "pause"]
    assert (pause["source"], pause["accepted"]) == ("scenario", True)
    paused_in = mid_backward(run, pause["t_s"])
    stop = run.first_transition(pause["t_s"], old="running")
    assert stop["t_s"] == pause["t_s"]
    assert (stop["new"], stop["reasons"]) == ("stopping", [Reason.OPERATOR_PAUSE.value])
    (resume,) = [r for r in run.accepted("start", after=pause["t_s"]) if r["source"] == "scenario"]
    resumed = run.first_transition(pause["t_s"], new="running")
    assert resumed["t_s"] == resume["t_s"]
    assert resume["t_s"] - pause["t_s"] == pytest.approx(10.0, abs=run.period + EPS)

    # nothing else started the belt during the pause; the session kept its place
    gap = run.cycles_between(pause["t_s"], resume["t_s"])
    assert all(c.segment_index == paused_in.segment_index for c in gap)
    assert all(c.mode is not Mode.RUNNING for c in gap)
    assert not [r for r in run.of_kind("segment") if pause["t_s"] < r["t_s"] < resume["t_s"]]
    resumed_cycle = next(c for c in run.cycles if c.t >= resume["t_s"] - EPS)
    assert resumed_cycle.segment_index == paused_in.segment_index

    # the backward segment still walks its full planned time, in two parts
    segment = run.files.plan.segments[paused_in.segment_index]
    seg_records = run.of_kind("segment")
    begins = seg_records[paused_in.segment_index]["t_s"]
    ends = seg_records[paused_in.segment_index + 1]["t_s"]
    assert running_seconds(run, begins, ends) == pytest.approx(
        segment.duration_s, abs=2 * run.period
    )
    running = [c for c in run.cycles if c.segment_index == segment.index and c.mode is Mode.RUNNING]
    assert len(running) * run.period == pytest.approx(segment.duration_s, abs=2 * run.period)
    assert ends - begins > segment.duration_s + 9.0  # the pause did not count


# --- turn-round machines: every shipped profile, and the drive never told to reverse ----

SHIPPED = sorted(p.stem for p in (REPO / "profiles").glob("*.toml"))


def turn_round_files(stem: str, tmp_path: Path) -> tuple[Path, Path, Path | None]:
    """A shipped profile on its simulated machine, made a turn-round one."""
    profile = REPO / "profiles" / f"{stem}.toml"
    if stem == "backward-running-athlete":
        machine, patient = (
            REPO / "src/treadctl/samples/machines" / "sim-athlete.toml",
            REPO / "src/treadctl/samples/patients/athlete.toml",
        )
    elif stem == "hr-zone-walk":  # heart-rate zones: the machine with a heart-rate sensor
        machine, patient = REPO / "src/treadctl/samples/machines" / "sim-hr.toml", DEMO
    else:
        uses_pct = "speed_pct_comfortable" in profile.read_text(encoding="utf-8")
        machine, patient = SIM, DEMO if uses_pct else None
    text = machine.read_text(encoding="utf-8")
    assert 'backward_walking = "belt_reverses"' in text
    turned = tmp_path / "turn-round.toml"
    turned.write_text(text.replace('"belt_reverses"', '"walker_turns"'), encoding="utf-8")
    return turned, profile, patient


@pytest.mark.parametrize("stem", SHIPPED)
async def test_every_shipped_profile_on_a_turn_round_machine(stem: str, tmp_path: Path) -> None:
    machine, profile, patient = turn_round_files(stem, tmp_path)
    told: set[Direction] = set()
    run = await run_session(tmp_path, profile, machine, patient)
    belt = run.session.belt
    assert belt is not None
    drive = run.session.loop.p.drive
    assert not drive.reverse_allowed
    for c in run.cycles:
        told.add(c.belt_direction)
    assert told == {Direction.FORWARD}, "the belt ran backward on a turn-round machine"
    assert belt.commanded_direction is Direction.FORWARD
    assert run.summary.outcome == "completed", run.summary.outcome
    backward = [s for s in run.files.plan.segments if s.kind is SegmentKind.BACKWARD]
    turns = run.accepted("confirm_turn")
    if backward:  # every turn was confirmed, by the (scripted) operator, before a start
        assert turns
        assert not [r for r in run.of_kind("write_failed") if "reverse" in r["reason"]]
