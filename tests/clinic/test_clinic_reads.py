"""Clinic verbs on the records: patients and sessions of every treadmill, and a patient's
report naming the treadmill each session ran on. Real sessions (simulator, virtual clock)
recorded on two treadmills' files, shipped to a real PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import sqlite3
from pathlib import Path

import pytest
from clinic_kit import DEMO_SHORT, demo_files, simulate_into  # type: ignore[import-not-found]
from records_cli import run  # type: ignore[import-not-found]

from treadctl.clinic import reads
from treadctl.clinic.report import patient_rows, write_patient_report
from treadctl.clinic.ship import Shipper
from treadctl.store.db import DatabaseError


@pytest.fixture
def two_treadmills(tmp_path: Path, clinic_url: str) -> str:
    files = demo_files()
    for i, name in enumerate(["tm-a", "tm-b", "tm-a", "tm-b"]):
        db = tmp_path / f"{name}.sqlite"
        wall = 1_740_000_000.0 + i * 86_400
        asyncio.run(simulate_into(db, files, DEMO_SHORT, wall_start=wall, kind="run"))
        conn = sqlite3.connect(db)  # as on a real machine: a clinic session
        conn.execute("UPDATE sessions SET simulated = 0")
        conn.commit()
        conn.close()
        shipper = Shipper(db, clinic_url, name)
        try:
            assert not shipper.ship_once().failed
        finally:
            shipper.close()
    return clinic_url


def test_lists_and_shows_across_treadmills(two_treadmills: str) -> None:
    url = two_treadmills
    out = io.StringIO()
    assert reads.patients_list(url, out) == 0
    line = next(x for x in out.getvalue().splitlines() if x.startswith("DEMO-001"))
    assert line.split()[1] == "4", line
    assert line.endswith("tm-a, tm-b"), line
    out = io.StringIO()
    assert reads.sessions_list(url, "DEMO-001", out=out) == 0
    table = out.getvalue().splitlines()[1:]
    assert [x.split()[3] for x in table] == ["tm-a", "tm-b", "tm-a", "tm-b"]
    sid = int(table[1].split()[0])
    out = io.StringIO()
    assert reads.sessions_show(url, sid, out) == 0
    assert "treadmill: tm-b" in out.getvalue()
    with pytest.raises(DatabaseError, match="no patient 'NOBODY'"):
        reads.patients_show(url, "NOBODY", out=out)


def test_patient_report_names_each_treadmill(two_treadmills: str, tmp_path: Path) -> None:
    url = two_treadmills
    found = patient_rows(url, "DEMO-001")
    assert [r.treadmill for r in found] == ["tm-a", "tm-b", "tm-a", "tm-b"]
    assert all(r.moving_s > 0 for r in found)
    out = write_patient_report(url, "DEMO-001", tmp_path / "p.html")
    text = out.read_text()
    assert text.count('<td class="treadmill">tm-a</td>') == 2
    assert text.count('<td class="treadmill">tm-b</td>') == 2
    assert "data:image/png;base64," in text
    assert "<script" not in text
    assert "demo patient" not in text  # the patient file's notes never left the treadmill
    # and through the verb
    assert run(["records", "report", "--url", url, "--patient", "DEMO-001", "--out",
                str(tmp_path / "v.html")]) == 0  # fmt: skip
    assert run(["records", "sessions", "--url", url, "--patient", "DEMO-001"]) == 0
    assert run(["records", "patients", "--url", url, "--patient", "NOBODY"]) == 2


def test_the_db_verbs_read_the_records_given_their_url(
    two_treadmills: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The seam `--db postgresql://...` goes through (cli/records.py to clinic.reads)."""
    from treadctl.cli import main  # noqa: PLC0415

    assert main(["sessions", "list", "--db", two_treadmills, "--patient", "DEMO-001"]) == 0
    out = capsys.readouterr().out
    assert out.count(" tm-a ") == 2
    assert out.count(" tm-b ") == 2
    assert main(["patients", "show", "DEMO-001", "--db", two_treadmills]) == 0
    assert "patient DEMO-001 (clinic records" in capsys.readouterr().out
