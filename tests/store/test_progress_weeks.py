"""Four weeks of knee-OA sessions on the simulator, each prescribed from the recorded ones.

profiles/knee-oa-10min.toml (3 a week; +0.1 km/h after 3 sessions in a row complete with
rail contact below 20 % and RPE at most 13, up to 45 % of 3.2 km/h) with samples/patients/demo.toml
on samples/machines/sim.toml. Every session: the prescription from the database as the CLI makes it
(`session_progress`), the plan built with it (`apply_prescription`), the real loop and
simulator on the virtual clock recording into a real SQLite file, then the RPE through
`treadctl sessions rpe`. The simulated walker lets go of the rails during the backward bout
(scenario events), one session is stopped by the operator, one ends on the e-stop. Then
`treadctl progress` prints the history and the next prescription, and `treadctl simulate
--progress --db` runs the next session with it.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from records import DEMO, ROOT, SIM, connect, run_cli  # type: ignore[import-not-found]
from test_history import scenario, simulate_into  # type: ignore[import-not-found]

from treadctl.app import apply_prescription, load_session, session_progress
from treadctl.sim.scenario import Scenario

KNEE = ROOT / "profiles" / "knee-oa-10min.toml"
MONDAY = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # week 1, Monday 09:00 UTC
DAYS = [0, 2, 4, 7, 9, 11, 14, 16, 18, 21, 23, 25]  # Monday, Wednesday, Friday


def hands_off_at(at_s: float, **more: list[dict[str, object]]) -> Scenario:
    """The walker lets go of the rails at `at_s` (the backward bout runs from about 136 s
    to 736 s): held for the first part of the bout only."""
    events: list[dict[str, object]] = [{"at_s": at_s, "action": "release_rails"}]
    return scenario(event=events + more.get("event", []), command=more.get("command", []))


# (scenario, RPE given after the session) for the 12 sessions
SESSIONS: list[tuple[Scenario, int | None]] = [
    # week 1: hands on for about 9 % of the bout
    (hands_off_at(190), 11),
    (hands_off_at(190), 12),
    (hands_off_at(190), 12),
    # week 2: stopped by the operator mid-bout; hands on too long (31 %); a good one
    (hands_off_at(190, command=[{"at_s": 400.0, "command": "stop"}]), 13),
    (hands_off_at(320), 12),
    (hands_off_at(190), 12),
    # week 3: a good one; the e-stop mid-bout; a good one
    (hands_off_at(190), 13),
    (hands_off_at(190, event=[{"at_s": 400.0, "action": "open_estop"}]), 15),
    (hands_off_at(190), 11),
    # week 4
    (hands_off_at(190), 11),
    (hands_off_at(190), 12),
    (hands_off_at(190), None),  # the RPE is given later
]

EXPECTED = [
    (1.28, "first session: the profile's 1.28 km/h, bouts 600 s"),
    (1.28, "held 1.28 km/h: 1 of 3 sessions in a row inside the rules at this target"),
    (1.28, "held 1.28 km/h: 2 of 3 sessions in a row inside the rules at this target"),
    (
        1.38,
        "raised 0.1 km/h to 1.38 km/h: last 3 sessions complete, rail contact at most 9 %, "
        "RPE at most 12",
    ),
    (1.38, "held 1.38 km/h: last session incomplete"),
    (1.38, "held 1.38 km/h: rail contact 31 % of backward time (rises below 20 %)"),
    (1.38, "held 1.38 km/h: 1 of 3 sessions in a row inside the rules at this target"),
    (1.38, "held 1.38 km/h: 2 of 3 sessions in a row inside the rules at this target"),
    (1.28, "stepped back 0.1 km/h to 1.28 km/h: safety stop in the last session"),
    (1.28, "held 1.28 km/h: 1 of 3 sessions in a row inside the rules at this target"),
    (1.28, "held 1.28 km/h: 2 of 3 sessions in a row inside the rules at this target"),
    (
        1.38,
        "raised 0.1 km/h to 1.38 km/h: last 3 sessions complete, rail contact at most 9 %, "
        "RPE at most 12",
    ),
]

PROGRESS_OUTPUT = """\
progress of DEMO-001 on 'Knee osteoarthritis, 10 min backward' (simulated sessions in {db}; \
machine Simulated treadmill)
rules: +0.1 km/h up to 1.44 km/h after 3 sessions in a row complete with rail contact below \
20 % and RPE at most 13 (Borg 6-20); a safety stop steps back 0.1 km/h, never below 1.28 km/h
"""


@pytest.mark.slow
def test_four_weeks_of_knee_oa_prescribed_from_the_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "clinic.sqlite"
    files = load_session(SIM, KNEE, DEMO)
    seen: list[tuple[float, str]] = []
    for day, (the_scenario, rpe) in zip(DAYS, SESSIONS, strict=True):
        progress = session_progress(files, KNEE, db, "simulate", create=True)
        planned = apply_prescription(files, KNEE, progress.prescription)
        (backward,) = [s for s in planned.plan.segments if s.progress]
        assert (backward.target_kmh, backward.duration_s) == (
            progress.prescription.target_kmh,
            600.0,
        )
        seen.append((backward.target_kmh, progress.prescription.reason))
        wall = (MONDAY + timedelta(days=day)).timestamp()
        _, sid = asyncio.run(simulate_into(db, planned, KNEE, the_scenario, wall_start=wall))
        if rpe is not None:
            assert run_cli(["sessions", "rpe", str(sid), str(rpe), "--db", str(db)]) == 0
    assert seen == EXPECTED

    # the 12th session has no RPE yet: the target holds, and says why
    after = session_progress(files, KNEE, db, "simulate")
    assert after.prescription.reason == (
        "held 1.38 km/h: no RPE recorded (rises at RPE 13 or below)"
    )
    assert run_cli(["sessions", "rpe", "12", "14", "--db", str(db)]) == 0
    capsys.readouterr()

    progress_cli = [
        "progress",
        "--db",
        str(db),
        "--patient",
        str(DEMO),
        "--profile",
        str(KNEE),
        "--machine",
        str(SIM),
        "--simulated",
    ]
    assert run_cli(progress_cli) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert "\n".join(lines[:2]) + "\n" == PROGRESS_OUTPUT.format(db=db)
    header, rows = lines[2], lines[3:15]
    assert header.split() == [
        *("#", "id", "date", "(UTC)", "outcome", "backward", "rail", "RPE", "target", "notes"),
    ]
    assert [r.split()[:5] for r in rows] == [
        [str(i + 1), str(i + 1), (MONDAY + timedelta(days=d)).date().isoformat(), "09:00", o]
        for i, (d, o) in enumerate(
            zip(
                DAYS,
                ["completed"] * 3
                + ["incomplete", "completed", "completed", "completed", "safety", "completed"]
                + ["completed"] * 3,
                strict=True,
            )
        )
    ]
    assert rows[0].split()[5:] == ["10:01.4", "9", "%", "11", "1.28"]
    assert rows[3].endswith("  stopped by scenario")
    assert rows[4].split()[6:9] == ["31", "%", "12"]
    assert "  latched fault at 06:40.0: emergency-stop chain open" in rows[7]
    assert rows[11].split()[5:] == ["10:01.4", "9", "%", "14", "1.38"]
    assert lines[15:] == [
        "next: held 1.38 km/h: RPE 14 (rises at 13 or below)",
        "  progressing segments: 1.38 km/h",
    ]

    # the 13th session from the command line: prescribed, said at the start, stored
    code = run_cli(
        [
            "simulate",
            str(KNEE),
            "--patient",
            str(DEMO),
            "--machine",
            str(SIM),
            "--events",
            str(tmp_path / "e.jsonl"),
            "--quiet",
            "--db",
            str(db),
            "--progress",
        ]
    )
    out, _ = capsys.readouterr()
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == (
        "progression: 1.38 km/h, bouts 600 s: held 1.38 km/h: RPE 14 (rises at 13 or below) "
        f"(from 12 counted simulated sessions in {db})"
    )
    assert f"  session record: session 13 in {db}" in lines
    with connect(db) as conn:
        rx = json.loads(
            conn.execute("SELECT prescription_json FROM sessions WHERE id = 13").fetchone()[0]
        )
        targets = conn.execute(
            "SELECT target_kmh, progress FROM segment_results WHERE session_id = 13 ORDER BY idx"
        ).fetchall()
    assert rx == {
        "target_kmh": 1.38,
        "bout_s": 600.0,
        "change": "held",
        "reason": "held 1.38 km/h: RPE 14 (rises at 13 or below)",
    }
    assert targets == [(2.56, 0), (1.38, 1), (2.24, 0)]
    code = run_cli(["sessions", "show", "13", "--db", str(db)])
    out, _ = capsys.readouterr()
    assert (
        "  progression: 1.38 km/h, bouts 600 s: held 1.38 km/h: RPE 14 (rises at 13 or below)"
        in out.splitlines()
    )
    # the real sessions of this patient (none) are another history
    assert run_cli(progress_cli[:-1]) == 0
    out, _ = capsys.readouterr()
    assert out.splitlines()[2:] == [
        "  no sessions recorded",
        "next: first session: the profile's 1.28 km/h, bouts 600 s",
        "  progressing segments: 1.28 km/h",
    ]
