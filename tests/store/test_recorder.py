"""The session recorder: a whole session on the virtual clock, written by its own thread."""

from __future__ import annotations

import json
import sys
import time
from itertools import pairwise
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from records import connect, demo_files, record_demo, recorder_for  # type: ignore[import-not-found]

from treadctl.app import build_sim_session
from treadctl.clock import VirtualClock
from treadctl.control.loop import ConnectError
from treadctl.control.stats import CycleFigures
from treadctl.control.summary import DirectionTotals, SessionSummary
from treadctl.drives.base import WatchdogSetting
from treadctl.safety.types import (
    Decel,
    Direction,
    DriveStatus,
    Mode,
    Reason,
    SafetyIO,
    SafetyOutputs,
)
from treadctl.sim.backends import SimDrive
from treadctl.sim.operator import ScriptedOperator
from treadctl.store import tally
from treadctl.store.db import open_db
from treadctl.store.eventlog import EventLog
from treadctl.store.recorder import SAMPLE_PERIOD_S, session_status


async def test_a_whole_session_is_recorded(tmp_path: Path) -> None:
    db = tmp_path / "t.sqlite"
    run = await record_demo(tmp_path, db)
    summary = run.summary
    assert summary.outcome == "completed"
    assert summary.warnings == ()
    assert run.recorder.session_id == 1
    with connect(db) as conn:
        row = conn.execute(
            "SELECT status, outcome, kind, profile_name, machine_name, planned_s, started, "
            "ended, summary_json, patient_json, profile_sha256 FROM sessions"
        ).fetchone()
        samples = conn.execute(
            "SELECT t_s, target_kmh, setpoint_kmh, actual_kmh, direction, incline_pct, "
            "rail_left, rail_right, heart_rate_bpm, mode FROM samples ORDER BY t_s"
        ).fetchall()
        segments = conn.execute(
            "SELECT idx, label, kind, target_kmh, planned_s, moving_s, distance_m, completed "
            "FROM segment_results ORDER BY idx"
        ).fetchall()
        events = [json.loads(r[0]) for r in conn.execute("SELECT record FROM events ORDER BY id")]
        pseudonyms = conn.execute("SELECT pseudonym FROM patients").fetchall()
    status, outcome, kind, profile, machine, planned, started, ended, sj, pj, sha = row
    assert (status, outcome, kind) == ("completed", "completed", "simulate")
    assert (profile, machine, planned) == ("Demo: short backward bout", "Simulated treadmill", 60)
    assert started.endswith("+00:00")
    assert ended.endswith("+00:00")
    assert ended > started
    assert json.loads(sj)["lines"] == summary.lines()
    assert json.loads(pj)["pseudonym"] == "DEMO-001"
    assert len(sha) == 64
    assert pseudonyms == [("DEMO-001",)]

    # samples at 10 Hz over the whole session
    expected = summary.duration_s / SAMPLE_PERIOD_S
    assert abs(len(samples) - expected) <= 0.01 * expected
    times = [s[0] for s in samples]
    assert times[0] == 0.0
    assert times[-1] >= summary.duration_s - SAMPLE_PERIOD_S
    assert all(0.099 <= b - a <= 0.101 for a, b in pairwise(times))
    assert {s[4] for s in samples} == {"forward", "backward"}
    assert {s[9] for s in samples} >= {"faulted", "stopped", "running", "stopping"}
    assert all(s[5] is None and s[8] is None for s in samples)  # no incline, no HR sensor
    assert all(s[6] == 1 and s[7] == 1 for s in samples)  # the simulated hands stay on
    peak = max(s[3] for s in samples if s[4] == "backward")
    assert 0.9 <= peak <= 1.1  # demo-short walks backward at 1.0 km/h

    # segment results add up to the summary's totals
    assert [s[:5] for s in segments] == [
        (0, "demo/forward", "forward", 2.0, 15.0),
        (1, "demo/backward", "backward", 1.0, 30.0),
        (2, "demo/forward", "forward", 2.0, 15.0),
    ]
    assert all(s[7] == 1 for s in segments)
    totals = summary.totals
    moving = sum(t.seconds for t in totals.values())
    metres = sum(t.metres for t in totals.values())
    assert sum(s[5] for s in segments) == pytest.approx(moving, abs=1e-6)
    assert sum(s[6] for s in segments) == pytest.approx(metres, abs=1e-6)
    assert segments[1][5] == pytest.approx(totals[Direction.BACKWARD].seconds, abs=1e-6)
    for s in segments:
        assert s[4] - 1.0 <= s[5] <= s[4] + 5.0  # planned time plus the stop after it

    # every event record, in order
    assert events == json.loads(json.dumps(run.records))


async def test_a_second_session_in_the_same_file_gets_its_own_id(tmp_path: Path) -> None:
    """Earlier data stays; the patient is found again, not added twice."""
    db = tmp_path / "t.sqlite"
    await record_demo(tmp_path, db)
    second = await record_demo(tmp_path, db)
    assert second.recorder.session_id == 2
    with connect(db) as conn:
        per_session = conn.execute(
            "SELECT session_id, count(*) FROM samples GROUP BY session_id"
        ).fetchall()
        assert conn.execute("SELECT count(*) FROM patients").fetchone()[0] == 1
    assert [sid for sid, _ in per_session] == [1, 2]
    assert per_session[0][1] == pytest.approx(per_session[1][1], abs=2)


async def test_a_locked_database_never_stalls_the_loop(tmp_path: Path) -> None:
    """Another process holds the write lock for the whole session: the recorder waits for it
    in its own thread (busy timeout 2 s), fails, logs it once and drops; the loop runs on."""
    db = tmp_path / "t.sqlite"
    open_db(db).close()
    with connect(db) as locker:
        locker.execute("BEGIN EXCLUSIVE")
        run = await record_demo(tmp_path, db, close=False, busy_timeout_s=2.0)
        # the loop is done; the writer is still waiting for the lock, or has given up
        end = time.monotonic() + 10
        while run.recorder.problem is None and time.monotonic() < end:
            time.sleep(0.05)
        locker.execute("COMMIT")
    run.recorder.close()
    run.events.close()
    summary = run.summary
    assert summary.outcome == "completed"
    figures = summary.cycles
    assert figures.cycles == pytest.approx(summary.duration_s / run.period_s, abs=2)
    # a single wait for the database in the loop would be a 2000 ms cycle
    assert figures.work_max_ms < 1000
    failures = [r for r in run.records if r["kind"] == "warning" and "cannot write" in r["text"]]
    assert len(failures) == 1
    assert "database is locked" in failures[0]["text"]
    assert run.recorder.dropped_samples > 0
    # once the lock is gone the recorder closes the session: recorded, never missing
    with connect(db) as conn:
        status, summary_json = conn.execute("SELECT status, summary_json FROM sessions").fetchone()
    assert status == "completed"
    warnings = json.loads(summary_json)["warnings"]
    assert len(warnings) == 1
    assert "INCOMPLETE" in warnings[0]
    assert "database is locked" in warnings[0]


async def test_a_database_that_cannot_be_created_leaves_a_warning_in_the_summary(
    tmp_path: Path,
) -> None:
    """(The tests run as root: a read-only directory would not stop them; a regular file
    where the directory should be does.) The recorder fails at once, at its first flush."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    db = blocker / "t.sqlite"
    files = demo_files()
    clock = VirtualClock()
    events = EventLog(tmp_path / "events.jsonl")
    recorder = recorder_for(files, db, events, clock, flush_s=0.01)
    session = build_sim_session(files, clock, events, ScriptedOperator(), recorder=recorder)
    failed_at: list[float] = []

    def wait_for_the_failure(now: float) -> None:
        # sequence the test: the failure is known before the session ends
        if not failed_at and now - session.loop.t0 > 30:
            end = time.monotonic() + 10
            while recorder.problem is None and time.monotonic() < end:
                time.sleep(0.01)
            failed_at.append(now)

    session.loop.p.on_cycle = wait_for_the_failure
    try:
        summary = await session.loop.run()
    finally:
        recorder.close()
        events.close()
    assert summary.outcome == "completed"
    (warning,) = summary.warnings
    assert f"session record INCOMPLETE in {db}" in warning
    assert f"  WARNING: {warning}" in summary.lines()
    assert recorder.session_id is None
    failures = [r for r in events.records if r["kind"] == "warning"]
    assert len(failures) == 1  # logged once, although every later batch failed too
    assert "cannot open" in failures[0]["text"]
    assert any(
        r["kind"] == "session_end" and warning in " ".join(r["summary"]) for r in events.records
    )


# --- what the loop pays per cycle --------------------------------------------------------

ALLOWED_C_CALLS = {"append", "len", "max", "int", "min"}


async def test_the_per_cycle_call_only_appends_to_a_queue(tmp_path: Path) -> None:
    """No benchmark: the C functions the loop's call reaches are listed, and every one of
    them is a constant-time, non-blocking built-in (no SQL, no lock, no I/O)."""
    files = demo_files()
    clock = VirtualClock()
    events = EventLog(None)
    recorder = recorder_for(files, tmp_path / "t.sqlite", events, clock)
    out = SafetyOutputs(
        drive_enable=True,
        direction=Direction.FORWARD,
        speed_cap_kmh=5.0,
        static_cap_kmh=5.0,
        target_kmh=2.0,
        decel=Decel.NORMAL,
        mode=Mode.RUNNING,
        reasons=(),
        at_standstill=False,
    )
    drive = DriveStatus(True, 0, 2.0, Direction.FORWARD)
    io = SafetyIO(True, True, True, True)
    called: set[str] = set()
    entered: set[str] = set()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_call" and frame.f_code.co_filename in watched:
            called.add(arg.__name__)
        elif event == "call":
            entered.add(Path(frame.f_code.co_filename).name)

    # the recorder and the segment tally it credits each cycle (store/tally.py)
    watched = {sys.modules[type(recorder).__module__].__file__, tally.__file__}
    t0 = clock.now()
    recorder._t0 = recorder._last_now = t0  # the state start() sets, without its thread
    sys.setprofile(profile)
    try:
        for i in range(500):  # 10 s at 50 Hz, through two segment changes
            recorder.cycle(t0 + i * 0.02, out, 2.0, drive, io, None, i // 200)
    finally:
        sys.setprofile(None)
        recorder.close()
        events.close()
    assert called <= ALLOWED_C_CALLS, called - ALLOWED_C_CALLS
    assert entered <= {"recorder.py", "tally.py", "enum.py", "types.py"}, entered
    queued = list(recorder._queue)
    assert sum(1 for item in queued if item[0] == 0) == 100  # every 5th cycle: 10 Hz


async def test_a_session_that_cannot_start_is_closed_with_the_reason(tmp_path: Path) -> None:
    """The drive's watchdog reads back wrong: nothing moved; the record says why."""
    db = tmp_path / "t.sqlite"
    files = demo_files()
    clock = VirtualClock()
    events = EventLog(tmp_path / "events.jsonl")
    recorder = recorder_for(files, db, events, clock, kind="run")
    session = build_sim_session(files, clock, events, ScriptedOperator(), recorder=recorder)

    class LongWatchdog(SimDrive):
        async def connect(self, comm_loss_timeout_s: float) -> WatchdogSetting:
            await super().connect(comm_loss_timeout_s)
            return WatchdogSetting(60.0, "ramp to stop")

    drive = session.loop.p.drive
    assert isinstance(drive, SimDrive)
    session.loop.p.drive = LongWatchdog(drive.belt, drive.clock)
    with pytest.raises(ConnectError) as caught:
        await session.loop.run()
    recorder.close("faulted", f"cannot start: {caught.value}")
    events.close()
    with connect(db) as conn:
        status, outcome, summary = conn.execute(
            "SELECT status, outcome, summary_json FROM sessions"
        ).fetchone()
        segments = conn.execute("SELECT count(*), sum(completed) FROM segment_results").fetchone()
        samples = conn.execute("SELECT count(*) FROM samples").fetchone()[0]
    assert status == "faulted"
    assert outcome.startswith("cannot start: ")
    assert "watchdog read back as 60.0 s" in outcome
    assert summary is None
    assert segments == (3, 0)
    assert samples == 0


def test_a_writer_that_falls_behind_costs_records_not_memory_or_time(tmp_path: Path) -> None:
    """The queue is bounded: beyond it the loop's call drops the record and counts it."""
    files = demo_files()
    clock = VirtualClock()
    events = EventLog(None)
    recorder = recorder_for(files, tmp_path / "t.sqlite", events, clock, max_queue=10)
    out = SafetyOutputs(
        True, Direction.FORWARD, 5.0, 5.0, 2.0, Decel.NORMAL, Mode.RUNNING, (), False
    )
    t0 = clock.now()
    try:
        for i in range(100):  # 2 s at 50 Hz: 20 samples, no writer running
            recorder.cycle(t0 + i * 0.02, out, 2.0, None, None, None, 0)
            events.write(i * 0.02, 0.0, "test")
    finally:
        recorder.close()
        events.close()
    assert len(recorder._queue) == 10
    samples, lost_events = recorder.lost()
    assert samples + lost_events == 20 + 100 - 10
    (warning,) = recorder.warnings()
    assert "the database writer fell behind" in warning


@pytest.mark.parametrize(
    ("outcome", "mode", "reasons", "status"),
    [
        ("completed", Mode.STOPPED, (), "completed"),
        ("stopped by console", Mode.STOPPED, (), "stopped"),
        # an idle demo nobody reset, ended by the time limit: no fault happened
        ("ended: time limit", Mode.FAULTED, (Reason.POWER_ON,), "stopped"),
        ("ended: time limit", Mode.FAULTED, (Reason.POWER_ON, Reason.ESTOP_CHAIN_OPEN), "faulted"),
        ("stopped by console", Mode.FAULTED, (Reason.DRIVE_FAULT,), "faulted"),
    ],
)
def test_session_status_names_a_fault_only_when_there_was_one(
    outcome: str, mode: Mode, reasons: tuple[Reason, ...], status: str
) -> None:
    figures = CycleFigures(0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    totals = {d: DirectionTotals() for d in Direction}
    summary = SessionSummary("p", "-", outcome, 0.0, totals, [], figures, mode, reasons, 0.0, True)
    assert session_status(summary) == status
