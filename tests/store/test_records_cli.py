"""`treadctl patients ...`, `treadctl sessions ...` and `--db` on simulate and run."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from records import DEMO, DEMO_SHORT, SIM, connect, run_cli  # type: ignore[import-not-found]

from treadctl.cli import _parser
from treadctl.store.db import DEFAULT_DB
from treadctl.store.queries import SAMPLE_COLUMNS

HIDDEN_ONE = (
    "  (1 more session not shown: simulated (built-in simulator) or the belt never moved; "
    "--all shows them)"
)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run_cli(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A database holding one simulated demo-short session."""
    db = tmp_path / "records.sqlite"
    code, out, _ = cli(
        capsys,
        "simulate",
        str(DEMO_SHORT),
        "--machine",
        str(SIM),
        "--patient",
        str(DEMO),
        "--events",
        str(tmp_path / "events.jsonl"),
        "--quiet",
        "--db",
        str(db),
    )
    assert code == 0
    assert f"  session record: session 1 in {db}" in out.splitlines()
    return db


def test_run_records_by_default_simulate_only_when_asked() -> None:
    files = ["--machine", "m.toml", "--profile", "p.toml"]
    assert _parser().parse_args(["run", *files]).db == DEFAULT_DB == Path("runs/treadctl.sqlite")
    assert _parser().parse_args(["simulate", "p.toml"]).db is None


def test_sessions_list_and_show(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a simulation is not a clinic session: left out unless --all
    code, out, _ = cli(capsys, "sessions", "list", "--db", str(recorded))
    assert (code, out.splitlines()) == (0, [f"no clinic sessions in {recorded}", HIDDEN_ONE])
    code, out, _ = cli(capsys, "sessions", "list", "--all", "--db", str(recorded))
    assert code == 0
    header, row = out.splitlines()
    assert header.split()[:4] == ["id", "started", "(UTC)", "patient"]
    assert row.split()[0] == "1"
    assert "DEMO-001" in row
    assert " simulate completed " in row
    assert row.endswith("Demo: short backward bout: completed  [simulated]")

    code, out, _ = cli(
        capsys, "sessions", "list", "--all", "--patient", "DEMO-001", "--db", str(recorded)
    )
    assert code == 0
    assert len(out.splitlines()) == 2

    code, out, _ = cli(capsys, "sessions", "show", "1", "--db", str(recorded))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"session 1 ({recorded})"
    assert "  status:   completed" in lines
    assert "  patient:  DEMO-001" in lines
    assert "  machine:  Simulated treadmill" in lines
    segs = [x for x in lines if x.startswith("      ") and "demo/" in x]
    assert len(segs) == 3
    assert all(x.endswith("yes") for x in segs)
    assert "Session summary: Demo: short backward bout (patient DEMO-001)" in lines
    assert "  outcome: completed" in lines


def test_sessions_export_csv_and_json(
    recorded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with connect(recorded) as conn:
        n_samples = conn.execute("SELECT count(*) FROM samples").fetchone()[0]
        n_events = conn.execute("SELECT count(*) FROM events").fetchone()[0]

    out_file = tmp_path / "s1.csv"
    code, out, err = cli(
        capsys,
        "sessions",
        "export",
        "1",
        "--format",
        "csv",
        "--out",
        str(out_file),
        "--db",
        str(recorded),
    )
    assert code == 0
    assert out == ""
    assert str(out_file) in err
    with out_file.open(newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == SAMPLE_COLUMNS
    assert len(rows) == 1 + n_samples
    assert rows[1][:3] == ["0.0", "0.0", "0.0"]
    header = rows[0]
    assert rows[1][header.index("incline_pct")] == ""  # incline: none driven
    assert rows[1][header.index("belt_direction")] == "forward"  # the belt's own, beside

    code, out, _ = cli(capsys, "sessions", "export", "1", "--format", "csv", "--db", str(recorded))
    assert code == 0
    assert list(csv.reader(io.StringIO(out))) == rows

    code, out, _ = cli(capsys, "sessions", "export", "1", "--format", "json", "--db", str(recorded))
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {"session", "segments", "events", "samples"}
    session = doc["session"]
    assert (session["id"], session["status"], session["patient"]) == (1, "completed", "DEMO-001")
    assert session["summary"]["outcome"] == "completed"
    assert session["profile_text"] == DEMO_SHORT.read_text(encoding="utf-8")
    assert [s["label"] for s in doc["segments"]] == [
        "demo/forward",
        "demo/backward",
        "demo/forward",
    ]
    assert len(doc["events"]) == n_events
    assert doc["events"][0]["kind"] == "connect"
    assert doc["events"][-1]["kind"] == "session_end"
    assert len(doc["samples"]) == n_samples
    assert set(doc["samples"][0]) == set(SAMPLE_COLUMNS)
    assert doc["samples"][0]["rail_left"] is True


def test_patients_add_list_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "new" / "p.sqlite"
    code, out, _ = cli(capsys, "patients", "add", "--patient", str(DEMO), "--db", str(db))
    assert (code, out) == (0, f"DEMO-001: added ({db})\n")
    code, out, _ = cli(capsys, "patients", "add", "--patient", str(DEMO), "--db", str(db))
    assert (code, out) == (0, f"DEMO-001: unchanged ({db})\n")
    changed = tmp_path / "demo.toml"
    changed.write_text(
        DEMO.read_text().replace("comfortable_forward_kmh = 3.2", "comfortable_forward_kmh = 3.4")
    )
    code, out, _ = cli(capsys, "patients", "add", "--patient", str(changed), "--db", str(db))
    assert code == 0
    assert out == f"DEMO-001: updated: comfortable_forward_kmh 3.2 -> 3.4 ({db})\n"

    code, out, _ = cli(capsys, "patients", "list", "--db", str(db))
    assert code == 0
    header, row = out.splitlines()
    assert header.startswith("pseudonym")
    assert row.split() == ["DEMO-001", "3.40", "5.00", "2.50", "0", "0", "-"]

    code, out, _ = cli(capsys, "patients", "show", "DEMO-001", "--db", str(db))
    assert code == 0
    assert "  comfortable forward: 3.40 km/h" in out.splitlines()
    assert "  sessions:            0" in out.splitlines()


def test_a_patients_sessions_are_listed_with_the_patient(
    recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "patients", "show", "DEMO-001", "--db", str(recorded))
    assert code == 0
    lines = out.splitlines()
    assert "  sessions:            0" in lines
    assert lines[-1] == HIDDEN_ONE
    code, out, _ = cli(capsys, "patients", "show", "DEMO-001", "--all", "--db", str(recorded))
    assert code == 0
    lines = out.splitlines()
    assert "  sessions:            1" in lines
    assert lines[-1].split()[:1] == ["1"]
    assert "simulate completed" in lines[-1]


def test_errors_name_the_database_and_the_reason(
    recorded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.sqlite"
    code, out, err = cli(capsys, "sessions", "list", "--db", str(missing))
    assert (code, out) == (2, "")
    assert err == f"treadctl: {missing}: no such database file\n"
    assert not missing.exists()

    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"\x00garbage" * 200)
    code, _, err = cli(capsys, "sessions", "show", "1", "--db", str(corrupt))
    assert code == 2
    assert err.startswith(f"treadctl: {corrupt}: not a usable treadctl database: ")

    for argv, reason in (
        (("sessions", "show", "42"), "no session 42"),
        (("sessions", "export", "42", "--format", "csv"), "no session 42"),
        (("sessions", "list", "--patient", "NOBODY"), "no patient 'NOBODY'"),
        (("patients", "show", "NOBODY"), "no patient 'NOBODY'"),
    ):
        code, out, err = cli(capsys, *argv, "--db", str(recorded))
        assert (code, out) == (2, ""), argv
        assert err == f"treadctl: {recorded}: {reason}\n"

    code, _, err = cli(capsys, "patients", "list", "--db", str(missing))
    assert code == 2
    assert "no such database file" in err


def test_simulate_with_a_database_that_cannot_be_created_still_completes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    db = blocker / "t.sqlite"
    code, out, _ = cli(
        capsys,
        "simulate",
        str(DEMO_SHORT),
        "--machine",
        str(SIM),
        "--quiet",
        "--events",
        str(tmp_path / "e.jsonl"),
        "--db",
        str(db),
    )
    assert code == 0
    lines = out.splitlines()
    assert "  outcome: completed" in lines
    warnings = [x for x in lines if x.startswith("  WARNING: session record INCOMPLETE")]
    assert len(warnings) == 1
    assert f"in {db}: cannot open: " in warnings[0]
    assert f"  session record: NOT written to {db}" in lines


def test_run_with_an_unwritable_database_completes_in_real_time(tmp_path: Path) -> None:
    """The real CLI, real time: the operator sees the warning live and in the summary; the
    loop keeps its rate. The console gives reset and start until they are accepted."""
    profile = tmp_path / "short.toml"
    profile.write_text(
        'name = "Short"\n[[blocks]]\n  [[blocks.segments]]\n  direction = "forward"\n'
        "  duration_s = 2\n  speed_kmh = 1.0\n"
    )
    blocker = tmp_path / "file"
    blocker.write_text("")
    db = blocker / "t.sqlite"
    output = tmp_path / "out.txt"
    argv = ["run", "--headless", "--machine", str(SIM), "--profile", str(profile)]
    # other tests run treadctl's main() in this process, which restores the default SIGPIPE
    # action (death); a write racing the child's exit must raise BrokenPipeError instead
    previous = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    with output.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "treadctl.cli", *argv, "--db", str(db)],
            cwd=tmp_path,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdin is not None
        try:
            end = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < end:
                time.sleep(0.5)
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.write("reset\nstart\n")
                    proc.stdin.flush()
        finally:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
            proc.kill()
            proc.wait()
            signal.signal(signal.SIGPIPE, previous)
    text = output.read_text()
    assert proc.returncode == 0, text
    lines = text.splitlines()
    live = [x for x in lines if "WARNING   session record: cannot write" in x]
    assert len(live) == 1
    assert "  outcome: completed" in lines
    assert any(x.startswith("  WARNING: session record INCOMPLETE") for x in lines)
    assert f"  session record: NOT written to {db}" in lines
    (figures,) = [x for x in lines if x.startswith("    cycles ")]
    cycles = int(figures.split()[1].rstrip(","))
    (time_line,) = [x for x in lines if x.startswith("  session time: ")]
    mm, ss = time_line.split()[-1].split(":")
    duration = int(mm) * 60 + float(ss)
    assert cycles >= 0.9 * duration * 50  # 50 Hz held: no stall while the writer failed
    assert not (tmp_path / "runs" / "treadctl.sqlite").exists()
