"""`treadctl records migrate/ship/export`, and a shipper process that keeps shipping through
a clinic server outage while treadmill sessions are recorded: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clinic_kit import (  # type: ignore[import-not-found]
    DEMO_SHORT,
    clinic_counts,
    clinic_rows,
    demo_files,
    local_counts,
    simulate_into,
)
from pg import PgServer  # type: ignore[import-not-found]
from records_cli import run  # type: ignore[import-not-found]

HERE = Path(__file__).resolve().parent
OUTAGE_S = float(os.environ.get("TREADCTL_OUTAGE_S", "15"))
WAIT_S = 120.0


def record(db: Path) -> int:
    return asyncio.run(simulate_into(db, demo_files(), DEMO_SHORT))


def test_ship_once_then_export_from_the_records(
    tmp_path: Path, clinic_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    clinic = tmp_path / "clinic.toml"
    clinic.write_text(f'[records]\nurl = "{clinic_url}"\ntreadmill_id = "tm-7"\n')
    db = tmp_path / "tm.sqlite"
    record(db)
    assert run(["records", "migrate", "--clinic", str(clinic)]) == 0
    assert run(["records", "ship", "--clinic", str(clinic), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"shipped 1 sessions ({local_counts(db)['samples']} samples" in out
    assert clinic_rows(clinic_url, "SELECT treadmill_id FROM sessions") == [("tm-7",)]
    target = tmp_path / "p.json"
    assert run(["records", "export", "--patient", "DEMO-001", "--clinic", str(clinic),
                "--out", str(target)]) == 0  # fmt: skip
    exported = json.loads(target.read_text())
    assert exported["resourceType"] == "Bundle"
    assert len(exported["entry"]) == 4  # activity, duration, distance, speeds


def test_refusals_say_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "clinic.toml"
    bad.write_text('[records]\nurl = "mysql://x/y"\n')
    assert run(["records", "ship", "--clinic", str(bad)]) == 2
    assert "must be a postgresql:// URL" in capsys.readouterr().err
    assert run(["records", "ship"]) == 2
    assert "name the clinic's records" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run(["records", "ship", "--url", "postgresql://x/y", "--treadmill", "tm 1; drop"])
    assert "'tm 1; drop': 1 to 64 of" in capsys.readouterr().err
    db = tmp_path / "tm.sqlite"
    record(db)
    code = run(["records", "ship", "--url", "postgresql://nobody:pw@127.0.0.1:1/none",
                "--db", str(db)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 3
    assert "clinic records postgresql://nobody@127.0.0.1:1/none: cannot connect" in err
    assert ":pw@" not in err


@pytest.mark.slow
def test_a_shipper_process_rides_out_a_server_outage(tmp_path: Path, own_pg: PgServer) -> None:
    url = own_pg.create_database()
    db = tmp_path / "tm.sqlite"
    record(db)
    log = (tmp_path / "ship.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "records_cli.py"), "records", "ship", "--url", url,
         "--db", str(db), "--treadmill", "tm-1", "--follow"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: _shipped(url) == 1, "the first session")
        own_pg.stop()
        down_at = time.monotonic()
        record(db)  # the treadmill keeps recording while the records are down
        record(db)
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
        assert proc.poll() is None
        own_pg.start()
        wait_for(lambda: clinic_counts(url) == local_counts(db), "everything shipped")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=WAIT_S) == 0
    finally:
        proc.kill()
        proc.wait()
        log.close()
    text = (tmp_path / "ship.log").read_text()
    assert text.count("cannot connect") <= 2, text  # said once (per distinct reason)
    assert "again" in text
    keys = clinic_rows(url, "SELECT count(*), count(DISTINCT (session_id, t_s)) FROM samples")
    assert keys == [(local_counts(db)["samples"],) * 2]


def _shipped(url: str) -> int:
    try:
        return int(clinic_rows(url, "SELECT count(*) FROM sessions")[0][0])
    except Exception:  # not migrated yet, or down
        return 0


def wait_for(check: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception:  # the server restarting
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)
