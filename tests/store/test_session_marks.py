"""Issue 13, records: demo runs and idle sessions are marked and left out by default
(schema 3, old databases migrated), `sessions export` defaults to CSV, `progress` on a
profile without progression shows the history, and the report has RPE, rail contact and
the operator's speed changes."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from records import DEMO, DEMO_SHORT, SIM, connect, run_cli  # type: ignore[import-not-found]

from treadctl.sim.backends import SimDrive
from treadctl.store.schema import MIGRATIONS, SCHEMA_VERSION, SIM_DRIVE_NAME, migrate

HIDDEN_3 = (
    "  (3 more sessions not shown: simulated (built-in simulator) or the belt never moved; "
    "--all shows them)"
)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run_cli(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _v2_database(db: Path) -> None:
    """A database as treadctl wrote it before schema 3: four sessions of one patient."""
    conn = sqlite3.connect(db, isolation_level=None)
    migrate(conn, MIGRATIONS[:2])
    conn.execute(
        "INSERT INTO patients (id, pseudonym, comfortable_forward_kmh, created, updated) "
        "VALUES (1, 'P-1', 3.0, '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z')"
    )
    sessions = [  # id, kind, drive in the connect event (None: none), moving_s of segment 0
        (1, "run", "modbus-drive", 60.0),  # a clinic session
        (2, "run", SIM_DRIVE_NAME, 60.0),  # a demo run on the built-in simulator
        (3, "run", "modbus-drive", 0.0),  # the belt never moved
        (4, "simulate", None, 30.0),  # treadctl simulate
    ]
    for sid, kind, drive, moving in sessions:
        conn.execute(
            "INSERT INTO sessions (id, patient_id, kind, profile_name, machine_name, started, "
            "ended, status, outcome, planned_s, host, pid, heartbeat, standstill_kmh) VALUES "
            "(?, 1, ?, 'Prof', 'M', ?, ?, 'completed', 'completed', 60, 'h', 1, ?, 0.05)",
            (sid, kind, f"2025-01-0{sid}T10:00:00Z", f"2025-01-0{sid}T10:01:00Z", "x"),
        )
        conn.execute(
            "INSERT INTO segment_results (session_id, idx, label, kind, target_kmh, planned_s, "
            "moving_s, distance_m, completed) VALUES (?, 0, 'b', 'backward', 1.0, 60, ?, 0, 1)",
            (sid, moving),
        )
        if drive is not None:
            record = {"t_s": 0.0, "wall": "w", "kind": "connect", "drive": drive}
            conn.execute(
                "INSERT INTO events (session_id, t_s, wall, kind, record) "
                "VALUES (?, 0, 'w', 'connect', ?)",
                (sid, json.dumps(record)),
            )
    conn.close()


def test_the_simulator_drive_name_is_the_one_the_migration_looks_for() -> None:
    assert SimDrive.name == SIM_DRIVE_NAME
    assert SCHEMA_VERSION >= 3  # the marks came with schema 3


def test_an_old_database_is_migrated_and_only_clinic_sessions_are_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "old.sqlite"
    _v2_database(db)
    code, out, err = cli(capsys, "sessions", "list", "--db", str(db))
    assert (code, err) == (0, "")
    _header, row, hidden = out.splitlines()
    assert row.split()[0] == "1"
    assert row.endswith("Prof: completed")
    assert hidden == HIDDEN_3
    with connect(db) as conn:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (
            SCHEMA_VERSION,
        )
        assert conn.execute("SELECT id, simulated, moved FROM sessions ORDER BY id").fetchall() == [
            (1, 0, 1),
            (2, 1, 1),
            (3, 0, 0),
            (4, 1, 1),
        ]
    code, out, _ = cli(capsys, "sessions", "list", "--all", "--db", str(db))
    rows = out.splitlines()[1:]
    assert [r.split()[0] for r in rows] == ["1", "2", "3", "4"]
    assert rows[0].endswith("Prof: completed")
    assert rows[1].endswith("Prof: completed  [simulated]")
    assert rows[2].endswith("Prof: completed  [belt never moved]")
    assert rows[3].endswith("Prof: completed  [simulated]")
    code, out, _ = cli(capsys, "patients", "list", "--db", str(db))
    assert out.splitlines()[1].split()[4:6] == ["1", "3"]  # clinic sessions, other
    code, out, _ = cli(capsys, "sessions", "show", "2", "--db", str(db))
    assert "  kind:     run [simulated: not a clinic session]" in out.splitlines()


async def test_a_new_session_on_the_simulator_is_stored_marked(tmp_path: Path) -> None:
    from test_history import simulate_into  # type: ignore[import-not-found]  # noqa: PLC0415

    from treadctl.app import load_session  # noqa: PLC0415

    db = tmp_path / "new.sqlite"
    files = load_session(SIM, DEMO_SHORT, DEMO)
    await simulate_into(db, files, DEMO_SHORT, kind="run")
    with connect(db) as conn:
        assert conn.execute("SELECT kind, simulated, moved FROM sessions").fetchall() == [
            ("run", 1, 1)
        ]


def test_export_defaults_to_csv_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "old.sqlite"
    _v2_database(db)
    with connect(db) as conn:
        conn.execute(
            "INSERT INTO samples (session_id, t_s, target_kmh, setpoint_kmh, actual_kmh, "
            "direction, rail_left, rail_right, mode) "
            "VALUES (1, 0.0, 1.0, 1.0, 1.0, 'backward', 0, 0, 'running')"
        )
    code, out, err = cli(capsys, "sessions", "export", "1", "--db", str(db))
    assert (code, err) == (0, "")
    assert out.splitlines()[0].startswith("t_s,target_kmh,setpoint_kmh,actual_kmh")
    assert len(out.splitlines()) == 2
    with pytest.raises(SystemExit):
        run_cli(["sessions", "export", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "(default: csv)" in help_text


def test_progress_without_progression_shows_the_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "h.sqlite"
    base = ["--machine", str(SIM), "--patient", str(DEMO), "--db", str(db)]
    code, _, _ = cli(
        capsys, "simulate", str(DEMO_SHORT), *base, "--quiet", "--events", str(tmp_path / "e")
    )
    assert code == 0
    code, out, err = cli(capsys, "sessions", "rpe", "1", "13", "--db", str(db))
    assert code == 0
    code, out, err = cli(capsys, "progress", "--profile", str(DEMO_SHORT), *base, "--simulated")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == (
        f"history of DEMO-001 on 'Demo: short backward bout' (simulated sessions in {db}; "
        "machine Simulated treadmill)"
    )
    assert lines[1:3] == [
        "no progression rule: the profile has no [progression] section, so there is no",
        "next prescription to give; the sessions as recorded:",
    ]
    assert lines[3].split() == [
        *("id", "date", "(UTC)", "status", "walked", "backward", "rail", "RPE", "target"),
        "notes",
    ]
    row = lines[4].split()
    assert row[0] == "1"
    assert row[3] == "completed"
    assert re.fullmatch(r"\d\d:\d\d\.\d", row[4])
    assert row[6:9] == ["100", "%", "13"]  # the simulated patient holds the rails
    assert row[9] == "1.00"
    # the run sessions: none (the simulation is not one), and it says so
    code, out, err = cli(capsys, "progress", "--profile", str(DEMO_SHORT), *base)
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "  no sessions recorded"


def _cells(html: str, table_id: str) -> list[list[str]]:
    body = html.split(f'<table id="{table_id}">', 1)[1].split("</table>", 1)[0]
    body = body.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr)]
        for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body)
    ]


def test_the_report_has_rpe_rail_contact_and_the_operators_speed_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "r.sqlite"
    base = ["--machine", str(SIM), "--patient", str(DEMO), "--db", str(db)]
    assert (
        run_cli(["simulate", str(DEMO_SHORT), *base, "--quiet", "--events", str(tmp_path / "e")])
        == 0
    )
    assert run_cli(["sessions", "rpe", "1", "13", "--db", str(db)]) == 0
    with connect(db) as conn:
        (t_seg,) = conn.execute(
            "SELECT t_s FROM events WHERE session_id = 1 AND kind = 'segment' "
            "AND json_extract(record, '$.index') = 1"
        ).fetchone()
        for dt, speed, accepted in ((2.0, 0.9, True), (3.0, 0.1, False), (4.0, 0.8, True)):
            record = {
                "t_s": t_seg + dt,
                "wall": "w",
                "kind": "command",
                "command": "set_speed",
                "source": "console",
                "accepted": accepted,
                "detail": "",
                "speed_kmh": speed,
            }
            conn.execute(
                "INSERT INTO events (session_id, t_s, wall, kind, record) "
                "VALUES (1, ?, 'w', 'command', ?)",
                (t_seg + dt, json.dumps(record)),
            )
        labels = [r[0] for r in conn.execute("SELECT label FROM segment_results ORDER BY idx")]
        target = conn.execute(
            "SELECT target_kmh FROM segment_results WHERE session_id = 1 AND idx = 1"
        ).fetchone()[0]
    out = tmp_path / "r.html"
    code, _, err = cli(capsys, "sessions", "report", "1", "--out", str(out), "--db", str(db))
    assert code == 0, err
    html = out.read_text(encoding="utf-8")
    assert "<dt>RPE</dt><dd>13 (Borg 6-20)</dd>" in html
    assert re.search(r'<dd id="rail-session" data-value="1\.0">100 %</dd>', html)
    effort = _cells(html, "effort")
    assert [row[1] for row in effort] == labels
    assert all(row[4] in ("100 %", "-") for row in effort)  # the simulated hands stay on
    assert any(row[4] == "100 %" for row in effort)
    changes = _cells(html, "speed-changes")
    assert [row[1:] for row in changes] == [
        [f"2 {labels[1]}", f"{target:.2f}", "0.90", "console"],
        [f"2 {labels[1]}", "0.90", "0.80", "console"],
    ]
    assert [row[0] for row in changes] == [
        f"00:{t_seg + 2:04.1f}",
        f"00:{t_seg + 4:04.1f}",
    ]
    progression = _cells(html, "progression")
    assert progression[0][-2:] == ["13", "100 %"]


def test_the_report_of_a_clinic_session_leaves_demo_runs_out_of_its_progression(
    tmp_path: Path,
) -> None:
    from treadctl.store.report import _read  # noqa: PLC0415

    db = tmp_path / "old.sqlite"
    _v2_database(db)
    with connect(db) as conn:  # a later clinic session
        conn.execute(
            "INSERT INTO sessions (id, patient_id, kind, profile_name, machine_name, started, "
            "ended, status, planned_s, host, pid, heartbeat) VALUES (5, 1, 'run', 'Prof', 'M', "
            "'2025-01-09T10:00:00Z', '2025-01-09T10:01:00Z', 'completed', 60, 'h', 1, 'x')"
        )
        conn.execute(
            "INSERT INTO segment_results (session_id, idx, label, kind, target_kmh, planned_s, "
            "moving_s, distance_m, completed) VALUES (5, 0, 'b', 'backward', 1.0, 60, 9, 0, 1)"
        )
    assert [h.session_id for h in _read(db, 5).history] == [1, 5]
    assert [h.session_id for h in _read(db, 2).history] == [2]  # a demo run: demo runs
    assert [h.session_id for h in _read(db, 3).history] == [1, 3]  # its own, though idle
