"""`--db postgresql://...` on the treadmill's records verbs, against a real PostgreSQL: the
reading verbs read the clinic's records (every treadmill's sessions), the writing ones
refuse and name the command that does it, and records out of reach are exit 3 with the
reason, never the treadmill's file or an empty history in their place. Also `treadctl
records --help` from the installed command."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from clinic_kit import KNEE, demo_files, simulate_into  # type: ignore[import-not-found]
from pg import PgServer, free_port  # type: ignore[import-not-found]

from treadctl.cli import EXIT_CONFIG, EXIT_CONNECT, EXIT_OK, main

TREADMILL = "tm-cli"


@pytest.fixture(scope="module")
def shipped(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """Clinic records holding one simulated knee-oa session of DEMO-001 shipped from a
    treadmill's file (also returned: it holds the same session, id 1)."""
    url = pg_server.create_database()
    db = tmp_path_factory.mktemp("treadmill") / "tm.sqlite"
    asyncio.run(simulate_into(db, demo_files(KNEE), KNEE))
    ship = ["records", "ship", "--url", url, "--treadmill", TREADMILL, "--db", str(db)]
    assert main(ship) == EXIT_OK
    return url, db


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_sessions_list_reads_the_clinics_records(
    shipped: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = shipped
    capsys.readouterr()
    code, out, err = run(["sessions", "list", "--all", "--db", url], capsys)
    assert (code, err) == (EXIT_OK, "")
    assert TREADMILL in out  # the records' list: which treadmill each session is on
    assert "DEMO-001" in out
    code, out, err = run(["sessions", "list", "--all", "--patient", "NOBODY", "--db", url], capsys)
    assert code == EXIT_CONFIG
    assert "no patient 'NOBODY'" in err


def test_progress_reads_the_history_from_the_records_and_says_so(
    shipped: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url, db = shipped
    capsys.readouterr()
    argv = ["progress", "--patient", "demo", "--profile", "knee-oa-10min", "--simulated"]
    code, out, err = run([*argv, "--db", url], capsys)
    assert (code, err) == (EXIT_OK, "")
    first = out.splitlines()[0]
    assert f"clinic records {url} (1 sessions on {TREADMILL})" in first, first
    assert "next:" in out
    # the treadmill's own file, for comparison: the same session, read locally
    code, local, _ = run([*argv, "--db", str(db)], capsys)
    assert code == EXIT_OK
    assert "clinic records" not in local
    assert str(db) in local.splitlines()[0]


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["sessions", "rpe", "1", "13"], "treadctl sessions rpe ID VALUE --db FILE"),
        (["sessions", "report", "1"], "treadctl records report --clinic FILE --patient P"),
        (["sessions", "export", "1"], "treadctl records export --clinic FILE --patient P"),
        (["patients", "add", "--patient", "demo"], "treadctl records ship --clinic FILE"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_a_verb_that_writes_refuses_the_records_and_names_the_command(
    shipped: tuple[str, Path], argv: list[str], names: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = shipped
    capsys.readouterr()
    code, out, err = run([*argv, "--db", url], capsys)
    assert (code, out) == (EXIT_CONFIG, "")
    assert "the clinic's records are read-only here" in err
    assert names in err
    assert not Path("postgresql:").exists()  # no file made of the URL either


@pytest.mark.parametrize(
    "argv",
    [
        ["sessions", "list"],
        ["sessions", "show", "1"],
        ["patients", "list"],
        ["progress", "--patient", "demo", "--profile", "knee-oa-10min", "--simulated"],
    ],
    ids=" ".join,
)
def test_records_out_of_reach_exit_3_with_the_reason(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql://treadctl@127.0.0.1:{free_port()}/treadctl"  # nothing listens
    code, out, err = run([*argv, "--db", url], capsys)
    assert code == EXIT_CONNECT
    assert "cannot connect" in err
    assert "127.0.0.1" in err
    assert "next:" not in out  # no prescription from an empty history


def test_records_help_from_the_installed_command() -> None:
    command = shutil.which("treadctl", path=str(Path(sys.executable).parent))
    assert command is not None
    done = subprocess.run(
        [command, "records", "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("usage: treadctl records")
    for verb in ("migrate", "ship", "serve", "patients", "sessions", "report", "export"):
        assert f"\n    {verb} " in done.stdout, verb
    assert "\nexit codes:\n  0  " in done.stdout
    assert "\n  3  the clinic's records cannot be reached" in done.stdout


def test_progress_of_a_profile_without_a_progression_on_the_records_is_refused(
    shipped: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The history table of such a profile reads the treadmill's file only: refused (2),
    naming the records verb that lists the patient's sessions, rather than a wrong table."""
    url, _ = shipped
    capsys.readouterr()
    argv = ["progress", "--patient", "demo", "--profile", "demo-short", "--simulated"]
    code, out, err = run([*argv, "--db", url], capsys)
    assert (code, out) == (EXIT_CONFIG, "")
    assert "treadctl records sessions --clinic FILE --patient DEMO-001" in err
