"""A controller killed with SIGKILL mid-session: its session is there, "interrupted", with
its samples up to about the last second."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from records import DEMO, DEMO_SHORT, SIM, connect, run_cli  # type: ignore[import-not-found]

KILL_AFTER_S = 8.0


@pytest.mark.slow
def test_a_session_killed_with_sigkill_is_interrupted_not_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "kill.sqlite"
    with (tmp_path / "out.txt").open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "treadctl.cli",
                "run",
                "--headless",
                "--operator",
                "auto",
                "--machine",
                str(SIM),
                "--profile",
                str(DEMO_SHORT),
                "--patient",
                str(DEMO),
                "--db",
                str(db),
            ],
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            time.sleep(KILL_AFTER_S)
            assert proc.poll() is None, (tmp_path / "out.txt").read_text()
            killed_at = time.time()
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    with connect(db) as conn:  # as the dead controller left it: still "running"
        status, started = conn.execute("SELECT status, started FROM sessions").fetchone()
        start = conn.execute("SELECT record FROM events WHERE kind = 'session_start'").fetchone()
        first_t, last_t, count = conn.execute(
            "SELECT min(t_s), max(t_s), count(*) FROM samples"
        ).fetchone()
    assert status == "running"
    # as asked: elapsed from the session_start record's wall time (logged after connecting)
    elapsed = killed_at - datetime.fromisoformat(json.loads(start[0])["wall"]).timestamp()
    assert last_t >= elapsed - 1.5
    # stricter: from the wall time of the loop's t0 (sample times count from it)
    lost = killed_at - datetime.fromisoformat(started).timestamp() - last_t
    with capsys.disabled():  # the figure for the record (pytest -s shows it)
        print(f"\nkilled {last_t + lost:.2f} s into the session; last sample {lost:.2f} s before")
    assert lost <= 1.0
    assert count == pytest.approx((last_t - first_t) * 10 + 1, abs=2)  # 10 Hz, no gap

    # a run on the built-in simulator is listed with --all (marked simulated), never lost
    assert run_cli(["sessions", "list", "--all", "--db", str(db)]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if "interrupted" in line]
    assert " run      interrupted " in row
    assert "killed, crashed or lost power" in row
    assert run_cli(["sessions", "show", "1", "--db", str(db)]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert "  status:   interrupted" in shown
    assert "  no session summary: the controller did not end the session (interrupted)" in shown
    with connect(db) as conn:  # opening it marked it, for good
        status, ended = conn.execute("SELECT status, ended FROM sessions").fetchone()
    assert status == "interrupted"
    assert ended is not None
