"""Recorded sessions read back for the progression: outcome, backward and rail time, target,
RPE. Real SQLite files, the real loop and simulator on the virtual clock, no mocks."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from records import DEMO, DEMO_SHORT, ROOT, SIM, connect, run_cli  # type: ignore[import-not-found]

from treadctl.app import SessionFiles, apply_prescription, build_sim_session, load_session
from treadctl.clock import VirtualClock
from treadctl.config.errors import ConfigError
from treadctl.control.summary import SessionSummary
from treadctl.protocol.progression import Change, Outcome, Prescription
from treadctl.safety.types import Direction
from treadctl.sim.operator import ScriptedOperator
from treadctl.sim.scenario import Scenario
from treadctl.store.db import open_db
from treadctl.store.eventlog import EventLog
from treadctl.store.history import (
    RPE_SCALES,
    PastSession,
    RpeError,
    load_history,
    mmss,
    prescribe,
)
from treadctl.store.recorder import SessionInfo, SessionRecorder
from treadctl.store.timeutil import utc_iso

# A short progressing profile: one backward bout of 20 s, walked from a standing start.
TINY = """\
name = "Tiny backward"
[progression]
step_kmh = 0.1
cap_kmh = 1.2
after_sessions = 1
rpe_at_most = 13

[[blocks]]
name = "walk"
  [[blocks.segments]]
  name = "backward"
  direction = "backward"
  duration_s = 20
  speed_kmh = 1.0
  rail_policy = "until_confident"
  progress = true
"""
DEMO_NAME = "Demo: short backward bout"


def scenario(**fields: object) -> Scenario:
    return Scenario.model_validate(fields)


async def simulate_into(
    db: Path,
    files: SessionFiles,
    profile_path: Path,
    the_scenario: Scenario | None = None,
    *,
    wall_start: float | None = None,
    kind: str = "simulate",
    end_on_fault: bool = True,
) -> tuple[SessionSummary, int]:
    """One session on the simulator, recorded into `db` as treadctl simulate --db does."""
    clock = VirtualClock(wall_start=wall_start)
    events = EventLog(None)
    info = SessionInfo(
        kind,
        files.profile.name,
        files.machine.name,
        files.plan.segments,
        files.patient,
        profile_path.read_text(encoding="utf-8"),
        files.plan.prescription,
    )
    recorder = SessionRecorder(db, info, events, clock, files.machine.limits.standstill_kmh)
    operator = the_scenario.operator_for() if the_scenario is not None else ScriptedOperator()
    session = build_sim_session(
        files, clock, events, operator, the_scenario, end_on_fault=end_on_fault, recorder=recorder
    )
    try:
        summary = await session.loop.run()
    finally:
        recorder.close()
        events.close()
    assert recorder.session_id is not None
    assert recorder.warnings() == ()
    return summary, recorder.session_id


def history(
    db: Path, profile_name: str = DEMO_NAME, kind: str = "simulate", include_all: bool = False
) -> list[PastSession]:
    conn = open_db(db, create=False)
    try:
        return load_history(conn, "DEMO-001", profile_name, kind, 0.05, include_all=include_all)
    finally:
        conn.close()


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    return path


async def test_a_completed_session_with_hands_off_for_part_of_the_backward_bout(
    tmp_path: Path,
) -> None:
    """demo-short walks backward from about 30 s to 60 s; the hands leave the rails at 45 s."""
    db = tmp_path / "h.sqlite"
    files = load_session(SIM, DEMO_SHORT, DEMO)
    the_scenario = scenario(event=[{"at_s": 45.0, "action": "release_rails"}])
    summary, sid = await simulate_into(db, files, DEMO_SHORT, the_scenario)
    assert summary.outcome == "completed"
    (past,) = history(db)
    assert (past.session_id, past.status, past.outcome) == (sid, "completed", Outcome.COMPLETED)
    with connect(db) as conn:
        backward = conn.execute(
            "SELECT sum(moving_s) FROM segment_results WHERE session_id = ? AND kind = 'backward'",
            (sid,),
        ).fetchone()[0]
        first_backward = conn.execute(
            "SELECT min(t_s) FROM samples WHERE direction = 'backward' AND actual_kmh > 0.05"
        ).fetchone()[0]
    assert past.backward_s == pytest.approx(backward)
    assert past.backward_s == pytest.approx(summary.totals[Direction.BACKWARD].seconds)
    # hands on from the first backward movement until 45 s, then off
    assert past.rail_contact_s == pytest.approx(45.0 - first_backward, abs=0.15)
    assert past.unrecorded_s == 0.0
    # demo-short does not progress: the backward target stands in, and it says so
    assert past.target_kmh == 1.0
    assert past.notes == ("no progressing segment recorded: the slowest backward target is used",)
    assert past.rpe is None


async def test_an_e_stop_counts_as_a_safety_stop_even_if_the_session_then_completes(
    tmp_path: Path,
) -> None:
    db = tmp_path / "h.sqlite"
    files = load_session(SIM, DEMO_SHORT, DEMO)
    the_scenario = scenario(
        operator={"reset_after_fault": True},
        event=[
            {"at_s": 45.0, "action": "open_estop"},
            {"at_s": 50.0, "action": "close_estop"},
        ],
    )
    summary, _ = await simulate_into(db, files, DEMO_SHORT, the_scenario, end_on_fault=False)
    assert summary.outcome == "completed"  # reset, started again, walked to the end
    (past,) = history(db)
    assert past.status == "completed"
    assert past.outcome is Outcome.SAFETY_STOP
    assert past.grounds == (
        "latched fault at 00:45.0: emergency-stop chain open, drive not ready while running"
    )


async def test_an_e_stop_that_ends_the_session_and_an_operator_stop(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    files = load_session(SIM, DEMO_SHORT, DEMO)
    await simulate_into(
        db,
        files,
        DEMO_SHORT,
        Scenario.load(ROOT / "src/treadctl/samples/scenarios" / "estop-backward.toml"),
    )
    stop = scenario(command=[{"at_s": 45.0, "command": "stop"}])
    await simulate_into(db, files, DEMO_SHORT, stop)
    estop, stopped = history(db)
    assert (estop.status, estop.outcome) == ("faulted", Outcome.SAFETY_STOP)
    assert estop.grounds.startswith("latched fault at 00:40.0: emergency-stop chain open")
    assert (stopped.status, stopped.outcome) == ("stopped", Outcome.INCOMPLETE)
    assert stopped.grounds == "stopped by scenario"
    assert 10 < stopped.backward_s < 20  # walked from about 29 s, stopped at 45 s


async def test_hands_off_on_a_hold_to_run_segment_is_a_safety_stop(tmp_path: Path) -> None:
    profile = tmp_path / "hold.toml"
    profile.write_text(DEMO_SHORT.read_text().replace("until_confident", "hold_to_run"))
    assert "hold_to_run" in profile.read_text()
    db = tmp_path / "h.sqlite"
    files = load_session(SIM, profile, DEMO)
    the_scenario = scenario(
        event=[
            {"at_s": 45.0, "action": "release_rails"},
            {"at_s": 55.0, "action": "hold_rails"},
        ],
        command=[{"at_s": 75.0, "command": "stop"}],
    )
    await simulate_into(db, files, profile, the_scenario)
    (past,) = history(db)
    assert past.outcome is Outcome.SAFETY_STOP
    assert past.grounds == "safety stop at 00:47.1: both handrails released too long (hold-to-run)"


async def test_an_interrupted_session_is_a_safety_stop(tmp_path: Path) -> None:
    """The controller died mid-session (see test_record_kill): the next open marks it
    interrupted, and the progression treats it as a safety stop."""
    db = tmp_path / "h.sqlite"
    files = load_session(SIM, DEMO_SHORT, DEMO)
    _, sid = await simulate_into(db, files, DEMO_SHORT)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    with connect(db) as conn:  # as a killed controller leaves it
        conn.execute(
            "UPDATE sessions SET status = 'running', ended = NULL, summary_json = NULL, "
            "outcome = NULL, host = ?, pid = ?, heartbeat = ? WHERE id = ?",
            (socket.gethostname(), proc.pid, utc_iso(time.time() - 60), sid),
        )
    (past,) = history(db)
    assert (past.status, past.outcome) == ("interrupted", Outcome.SAFETY_STOP)
    assert past.grounds == "interrupted: the controller ended unexpectedly"


async def test_a_session_still_running_and_one_that_never_moved_do_not_count(
    tmp_path: Path,
) -> None:
    db = tmp_path / "h.sqlite"
    files = load_session(SIM, DEMO_SHORT, DEMO)
    info = SessionInfo("simulate", DEMO_NAME, "m", files.plan.segments, files.patient, None)
    clock = VirtualClock()
    events = EventLog(None)
    failed = SessionRecorder(db, info, events, clock, 0.05)
    failed.start(clock.now(), clock.wall_time())
    failed.close("faulted", "cannot start: sim: cannot connect: refused")  # as the CLI does
    events.close()
    _, running = await simulate_into(db, files, DEMO_SHORT)
    with connect(db) as conn:
        conn.execute(
            "UPDATE sessions SET status = 'running', host = ?, pid = ?, heartbeat = ? WHERE id = ?",
            (socket.gethostname(), os.getpid(), utc_iso(time.time()), running),
        )
    # the session in which the belt never moved is left out unless asked for, marked
    assert [x.session_id for x in history(db)] == [running]
    never, still = history(db, include_all=True)
    assert never.marks == ("belt never moved",)  # every "simulate" session is simulated
    assert (never.status, never.outcome) == ("faulted", None)
    assert never.grounds == (
        "not counted: the belt never moved (cannot start: sim: cannot connect: refused)"
    )
    assert (still.outcome, still.grounds) == (None, "not counted: still running")
    assert not never.counted
    assert not still.counted
    # and `sessions rpe` waits for the end of a running session
    code = run_cli(["sessions", "rpe", str(running), "12", "--db", str(db)])
    assert code == 2


async def test_backward_time_missing_from_the_samples_counts_as_rail_contact(
    tmp_path: Path,
) -> None:
    """Samples dropped while the database could not be written must not look like walking
    hands-free: the missing backward time counts as contact."""
    db = tmp_path / "h.sqlite"
    files = load_session(SIM, DEMO_SHORT, DEMO)
    the_scenario = scenario(event=[{"at_s": 5.0, "action": "release_rails"}])
    await simulate_into(db, files, DEMO_SHORT, the_scenario)
    (before,) = history(db)
    assert before.rail_contact_s == 0.0
    with connect(db) as conn:
        conn.execute("DELETE FROM samples WHERE t_s >= 40 AND t_s < 50")
    (after,) = history(db)
    assert after.backward_s == before.backward_s
    assert after.unrecorded_s == pytest.approx(10.0, abs=0.15)
    assert after.rail_contact_s == after.unrecorded_s
    assert after.notes[0] == (
        f"{mmss(after.unrecorded_s)} of backward walking not sampled: counted as rail contact"
    )


async def test_the_target_used_comes_from_the_record_and_an_operator_slowdown_lowers_it(
    tmp_path: Path, tiny: Path
) -> None:
    db = tmp_path / "h.sqlite"
    files = load_session(SIM, tiny, DEMO)
    rx = Prescription(1.1, 20.0, Change.RAISED, "raised 0.1 km/h to 1.1 km/h: test")
    raised = apply_prescription(files, tiny, rx)
    await simulate_into(db, raised, tiny)
    slower = scenario(command=[{"at_s": 15.0, "command": "set_speed", "speed_kmh": 0.9}])
    await simulate_into(db, raised, tiny, slower)
    plain, slowed = history(db, "Tiny backward")
    assert (plain.target_kmh, plain.bout_s, plain.notes) == (1.1, 20.0, ())
    assert plain.outcome is Outcome.COMPLETED
    assert (slowed.target_kmh, slowed.notes) == (0.9, ("operator set 0.90 km/h",))
    with connect(db) as conn:
        stored = conn.execute("SELECT prescription_json FROM sessions WHERE id = 1").fetchone()[0]
        flags = conn.execute("SELECT progress FROM segment_results").fetchall()
    assert '"reason":"raised 0.1 km/h to 1.1 km/h: test"' in stored
    assert flags == [(1,), (1,)]


async def test_a_session_recorded_before_the_progress_flag_reads_it_from_the_profile_text(
    tmp_path: Path, tiny: Path
) -> None:
    db = tmp_path / "h.sqlite"
    text = TINY.replace('name = "walk"', 'name = "walk"\nrepeats = 2') + (
        '\n  [[blocks.segments]]\n  direction = "backward"\n  duration_s = 5\n  speed_kmh = 0.8\n'
    )
    tiny.write_text(text)
    files = load_session(SIM, tiny, DEMO)
    await simulate_into(db, files, tiny)
    with connect(db) as conn:  # as schema version 1 left it
        conn.execute("UPDATE segment_results SET progress = NULL")
        conn.execute("UPDATE sessions SET standstill_kmh = NULL, prescription_json = NULL")
    (past,) = history(db, "Tiny backward")
    assert past.target_kmh == 1.0  # not the slower unflagged backward segment's 0.8
    assert past.notes == ()
    with connect(db) as conn:
        conn.execute("UPDATE sessions SET profile_text = NULL")
    (past,) = history(db, "Tiny backward")
    assert past.target_kmh == 0.8  # no way to tell: the slowest backward target
    assert past.notes == ("no progressing segment recorded: the slowest backward target is used",)


async def test_a_session_recorded_with_another_version_of_the_file_is_marked(
    tmp_path: Path, tiny: Path
) -> None:
    db = tmp_path / "h.sqlite"
    files = load_session(SIM, tiny, DEMO)
    await simulate_into(db, files, tiny)
    tiny.write_text("# edited: a comment only\n" + TINY)
    progress_cli = [
        "progress",
        "--db",
        str(db),
        "--patient",
        str(DEMO),
        "--profile",
        str(tiny),
        "--machine",
        str(SIM),
        "--simulated",
    ]
    assert run_cli(progress_cli) == 0
    conn = open_db(db, create=False)
    try:
        (past,) = load_history(conn, "DEMO-001", "Tiny backward", "simulate", 0.05, "0" * 64)
    finally:
        conn.close()
    assert past.notes[0].startswith("profile file changed since (sha256 ")
    assert past.counted  # matched by name: the history carries over the edit


def test_rpe_scales_refuse_what_is_not_on_them() -> None:
    borg, cr10 = RPE_SCALES["borg"], RPE_SCALES["cr10"]
    assert [borg.parse(x) for x in ("6", "13", "20")] == [6, 13, 20]
    assert cr10.parse("0") == 0
    assert cr10.parse("4.5") == 4.5
    for text, why in (
        ("5", "RPE 5 is outside the Borg 6-20 scale (6 to 20)"),
        ("21", "RPE 21 is outside the Borg 6-20 scale (6 to 20)"),
        ("12.5", "RPE 12.5: the Borg 6-20 scale has whole numbers only"),
        ("nan", "RPE must be a number on the Borg 6-20 scale"),
        ("inf", "RPE must be a number on the Borg 6-20 scale"),
        ("twelve", "RPE 'twelve' is not a number (the Borg 6-20 scale: 6 to 20)"),
    ):
        with pytest.raises(RpeError) as caught:
            borg.parse(text)
        assert str(caught.value) == why
    with pytest.raises(RpeError, match=r"RPE 11 is outside the Borg CR10 0-10 scale \(0 to 10\)"):
        cr10.parse("11")
    assert math.isfinite(borg.check(7.0))


async def test_rpe_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "h.sqlite"
    files = load_session(SIM, DEMO_SHORT, DEMO)
    _, sid = await simulate_into(db, files, DEMO_SHORT)
    capsys.readouterr()

    def rpe(*argv: str) -> tuple[int, str, str]:
        code = run_cli(["sessions", "rpe", *argv, "--db", str(db)])
        out, err = capsys.readouterr()
        return code, out, err

    assert rpe(str(sid), "25") == (
        2,
        "",
        f"treadctl: session {sid}: RPE 25 is outside the Borg 6-20 scale (6 to 20); "
        "nothing recorded\n",
    )
    assert rpe(str(sid), "12.5")[2] == (
        f"treadctl: session {sid}: RPE 12.5: the Borg 6-20 scale has whole numbers only; "
        "nothing recorded\n"
    )
    assert rpe(str(sid), "-3")[0] == 2
    assert rpe("42", "12") == (2, "", f"treadctl: {db}: no session 42\n")
    assert history(db)[0].rpe is None  # nothing was written
    assert rpe(str(sid), "12") == (0, f"session {sid}: RPE 12 (Borg 6-20) recorded\n", "")
    assert rpe(str(sid), "13") == (
        0,
        f"session {sid}: RPE 13 (Borg 6-20) recorded (was 12, Borg 6-20)\n",
        "",
    )
    assert (history(db)[0].rpe, history(db)[0].rpe_scale) == (13, "borg")
    assert rpe(str(sid), "11", "--scale", "cr10")[2] == (
        f"treadctl: session {sid}: RPE 11 is outside the Borg CR10 0-10 scale (0 to 10); "
        "nothing recorded\n"
    )
    code = run_cli(["sessions", "show", str(sid), "--db", str(db)])
    out, _ = capsys.readouterr()
    assert code == 0
    (line,) = [x for x in out.splitlines() if x.startswith("  RPE:")]
    assert line.startswith("  RPE:      13 (Borg 6-20, recorded ")


async def test_rpes_on_two_scales_or_a_rule_off_the_scale_are_refused(
    tmp_path: Path, tiny: Path
) -> None:
    db = tmp_path / "h.sqlite"
    files = load_session(SIM, tiny, DEMO)
    _, first = await simulate_into(db, files, tiny)
    _, second = await simulate_into(db, files, tiny)
    assert run_cli(["sessions", "rpe", str(first), "12", "--db", str(db)]) == 0
    assert run_cli(["sessions", "rpe", str(second), "3", "--scale", "cr10", "--db", str(db)]) == 0
    params = files.plan.progression
    assert params is not None
    with pytest.raises(RpeError, match=r"on different scales: 1 \(borg\), 2 \(cr10\)"):
        prescribe(params, history(db, "Tiny backward"), str(tiny))
    assert run_cli(["sessions", "rpe", str(first), "2", "--scale", "cr10", "--db", str(db)]) == 0
    # every RPE on CR10 now, but the profile's rule (13) is on the Borg scale
    with pytest.raises(ConfigError) as caught:
        prescribe(params, history(db, "Tiny backward"), str(tiny))
    assert str(caught.value) == (
        f"{tiny}: progression.rpe_at_most: 13 is not on the Borg CR10 0-10 scale (0 to 10) "
        "the patient's RPEs were recorded on"
    )


def test_a_prescription_above_the_cap_is_refused_never_clamped(tiny: Path) -> None:
    files = load_session(SIM, tiny, DEMO)
    too_fast = Prescription(1.3, 20.0, Change.RAISED, "test")
    with pytest.raises(ConfigError) as caught:
        apply_prescription(files, tiny, too_fast)
    assert [str(p) for p in caught.value.problems] == [
        f"{tiny}: progression: prescribed 1.3 km/h is above the cap 1.2 km/h"
    ]
    # a patient whose own backward cap is below the progression's cap: the plan is refused
    patient = tiny.parent / "slow.toml"
    patient.write_text(DEMO.read_text().replace("max_backward_kmh = 2.5", "max_backward_kmh = 1.1"))
    with pytest.raises(ConfigError) as caught:
        load_session(SIM, tiny, patient)
    assert "above the patient's backward cap 1.1 km/h" in str(caught.value)
