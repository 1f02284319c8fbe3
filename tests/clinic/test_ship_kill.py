"""A real `treadctl serve` shipped while it runs, then killed with SIGKILL mid-session: the
clinic's records hold the session "interrupted", with every sample the file has, once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clinic_kit import (  # type: ignore[import-not-found]
    DEMO,
    DEMO_SHORT,
    SIM,
    clinic_rows,
    local_counts,
    local_rows,
)

from treadctl.clinic.connect import connect
from treadctl.clinic.schema import migrate
from treadctl.clinic.ship import Shipper, ShipperThread

WAIT_S = 90.0  # generous: a loaded 2-core machine
MIN_SAMPLES_BEFORE_KILL = 50  # 5 s of the session shipped while it runs


def wait_for(what: str, check: object, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def central(url: str) -> tuple[str | None, int]:
    rows = clinic_rows(url, "SELECT status, (SELECT count(*) FROM samples) FROM sessions")
    return (rows[0][0], int(rows[0][1])) if rows else (None, 0)


@pytest.mark.slow
def test_a_controller_killed_mid_session_arrives_interrupted_with_its_samples(
    tmp_path: Path, clinic_url: str
) -> None:
    db = tmp_path / "tm.sqlite"
    conn = connect(clinic_url)
    migrate(conn)  # so that the test can look before the shipper's first pass
    conn.close()
    shipper = ShipperThread(Shipper(db, clinic_url, "tm-kill"), period_s=0.2, retry_max_s=1.0)
    shipper.start()
    try:
        with (tmp_path / "out.txt").open("w") as out:
            proc = subprocess.Popen(
                [
                    sys.executable, "-m", "treadctl.cli", "serve", "--operator", "auto",
                    "--machine", str(SIM), "--profile", str(DEMO_SHORT), "--patient", str(DEMO),
                    "--db", str(db), "--socket", str(tmp_path / "c.sock"),
                    "--events", str(tmp_path / "e.jsonl"),
                ],
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                # shipped while it runs: the session is "running" in the clinic's records
                wait_for(
                    "the running session shipped",
                    lambda: (
                        central(clinic_url)[1] >= MIN_SAMPLES_BEFORE_KILL or proc.poll() is not None
                    ),
                )
                assert proc.poll() is None, (tmp_path / "out.txt").read_text()
                assert central(clinic_url)[0] == "running"
                proc.send_signal(signal.SIGKILL)
                proc.wait()  # reaped: its pid is gone, as after a real kill
            finally:
                proc.kill()
                proc.wait()
        assert proc.returncode == -signal.SIGKILL
        wait_for("the session shipped interrupted", lambda: central(clinic_url)[0] == "interrupted")
        wait_for(
            "every change shipped",
            lambda: (
                local_rows(db, "SELECT count(*) FROM outbox WHERE version != shipped_version")
                == [(0,)]
            ),
        )
    finally:
        shipper.stop()
    assert shipper.problem is None
    local = local_counts(db)
    assert local["samples"] > MIN_SAMPLES_BEFORE_KILL
    assert clinic_rows(clinic_url, "SELECT count(*) FROM samples") == [(local["samples"],)]
    assert clinic_rows(clinic_url, "SELECT count(*) FROM events") == [(local["events"],)]
    mine = local_rows(db, "SELECT t_s, actual_kmh, mode FROM samples ORDER BY rowid")
    theirs = clinic_rows(clinic_url, "SELECT t_s, actual_kmh, mode FROM samples ORDER BY seq")
    assert theirs == mine
    ((status, outcome, ended),) = clinic_rows(
        clinic_url, "SELECT status, outcome, ended FROM sessions"
    )
    assert (status, ended is not None) == ("interrupted", True)
    assert "killed, crashed or lost power" in outcome
