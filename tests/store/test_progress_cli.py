"""`treadctl progress`, and `--progress` on `treadctl run` and `treadctl simulate`: what is
refused, the table's format, and a real-time run prescribed from a recorded session."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from records import DEMO, DEMO_SHORT, ROOT, SIM, connect, run_cli  # type: ignore[import-not-found]
from test_history import simulate_into  # type: ignore[import-not-found]

from treadctl.app import load_session

# walked in real time by `treadctl run`: one backward bout of 2 s
QUICK = """\
name = "Quick backward"
[progression]
step_kmh = 0.1
cap_kmh = 1.2
after_sessions = 1

[[blocks]]
  [[blocks.segments]]
  name = "backward"
  direction = "backward"
  duration_s = 2
  speed_kmh = 1.0
  progress = true
"""
# the scripted operator without its human pauses
BRISK = "[operator]\nconfirm_delay_s = 0.0\nturnaround_s = 0.0\n"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run_cli(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_progress_needs_a_database_a_patient_and_a_progressing_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "p.sqlite"
    knee = str(ROOT / "profiles" / "knee-oa-10min.toml")
    base = ["--machine", str(SIM), "--events", str(tmp_path / "e.jsonl"), "--progress"]
    assert cli(capsys, "simulate", knee, "--patient", str(DEMO), *base) == (
        2,
        "",
        "treadctl: --progress needs --db: the database with the patient's sessions\n",
    )
    quick = tmp_path / "quick.toml"
    quick.write_text(QUICK, encoding="utf-8")
    assert cli(capsys, "simulate", str(quick), *base, "--db", str(db)) == (
        2,
        "",
        "treadctl: --progress needs --patient: a prescription is for one patient\n",
    )
    code, out, err = cli(
        capsys, "simulate", str(DEMO_SHORT), "--patient", str(DEMO), *base, "--db", str(db)
    )
    assert (code, out) == (2, "")
    assert err == (
        f"{DEMO_SHORT}: progression: the profile has no [progression] section: "
        "there is nothing to prescribe\n"
    )
    progress = ["progress", "--patient", str(DEMO), "--profile", knee, "--machine", str(SIM)]
    assert cli(capsys, *progress, "--db", str(tmp_path / "missing.sqlite")) == (
        2,
        "",
        f"treadctl: {tmp_path / 'missing.sqlite'}: no such database file\n",
    )
    assert not (tmp_path / "missing.sqlite").exists()
    # a database that cannot be read: run --progress refuses before anything moves
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"\x00garbage" * 200)
    code, out, err = cli(
        capsys, "run", "--profile", knee, "--patient", str(DEMO), *base, "--db", str(corrupt)
    )
    assert (code, out) == (2, "")
    assert err.startswith(f"treadctl: {corrupt}: not a usable treadctl database: ")


def test_progress_table_of_a_profile_that_lengthens_bouts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "p.sqlite"
    beginner = ROOT / "profiles" / "beginner-backward.toml"
    files = load_session(SIM, beginner, DEMO)
    asyncio.run(simulate_into(db, files, beginner, wall_start=1_741_000_000.0))
    code, out, err = cli(
        capsys,
        "progress",
        "--db",
        str(db),
        "--patient",
        str(DEMO),
        "--profile",
        str(beginner),
        "--machine",
        str(SIM),
        "--simulated",
    )
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"progress of DEMO-001 on 'Backward walking for beginners' (simulated sessions in "
        f"{db}; machine Simulated treadmill)",
        "rules: bouts +15 s up to 120 s, then +0.05 km/h up to 1.44 km/h after 2 sessions in "
        "a row complete with rail contact below 25 %; a safety stop steps back 0.05 km/h and "
        "15 s, never below 1.12 km/h",
        "    #    id  date (UTC)        outcome      backward  rail  RPE  target  bout s  notes",
        "    1     1  2025-03-03 11:06  completed     03:04.6 100 %    -    1.12     60",
        "next: held 1.12 km/h: rail contact 100 % of backward time (rises below 25 %)",
        "  progressing segments: 1.12 km/h, bouts 60 s",
    ]


@pytest.mark.slow
def test_run_with_progress_in_real_time(tmp_path: Path) -> None:
    """A recorded run session of the quick profile; `treadctl run --progress` prescribes
    the next from it, says so before the session, runs it and stores it."""
    profile = tmp_path / "quick.toml"
    profile.write_text(QUICK, encoding="utf-8")
    brisk = tmp_path / "brisk.toml"
    brisk.write_text(BRISK, encoding="utf-8")
    db = tmp_path / "runs.sqlite"
    files = load_session(SIM, profile, DEMO)
    asyncio.run(simulate_into(db, files, profile, kind="run", wall_start=1_741_000_000.0))
    with connect(db) as conn:  # as if walked on a treadmill: a demo run would not count
        conn.execute("UPDATE sessions SET simulated = 0")
    argv = [
        *("run", "--headless", "--operator", "auto", "--progress"),
        *("--machine", str(SIM), "--profile", str(profile), "--patient", str(DEMO)),
        *("--scenario", str(brisk), "--db", str(db)),
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "treadctl.cli", *argv],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == (
        "progression: 1.1 km/h, bouts 2 s: raised 0.1 km/h to 1.1 km/h: last session complete "
        f"(from 1 counted session in {db})"
    )
    assert "  outcome: completed" in lines
    with connect(db) as conn:
        rows = conn.execute(
            "SELECT s.id, s.kind, s.prescription_json, r.target_kmh, r.progress "
            "FROM sessions s JOIN segment_results r ON r.session_id = s.id ORDER BY s.id"
        ).fetchall()
    assert [(r[0], r[1], r[3], r[4]) for r in rows] == [(1, "run", 1.0, 1), (2, "run", 1.1, 1)]
    assert rows[0][2] is None
    with connect(db) as conn:  # the run on the simulator is stored as a demo run
        assert conn.execute("SELECT simulated FROM sessions ORDER BY id").fetchall() == [(0,), (1,)]
    assert json.loads(rows[1][2])["reason"] == "raised 0.1 km/h to 1.1 km/h: last session complete"
