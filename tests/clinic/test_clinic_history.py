"""Progression across treadmills: a patient alternates between two treadmills for four
weeks; each treadmill ships its own file, and the prescription on either reads the whole
history from PostgreSQL. Records configured but unreachable: a refusal, never the
first-session targets."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clinic_kit import DEMO, KNEE, SIM, simulate_into  # type: ignore[import-not-found]
from pg import PgServer  # type: ignore[import-not-found]

from treadctl.app import apply_prescription, load_session, session_progress
from treadctl.cli import main
from treadctl.clinic.connect import ClinicUnreachableError
from treadctl.clinic.ship import Shipper
from treadctl.sim.scenario import Scenario
from treadctl.store.db import DatabaseError

MONDAY = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
DAYS = [0, 2, 4, 7, 9, 11, 14, 16, 18, 21, 23, 25]  # Monday, Wednesday, Friday


def hands_off_at(at_s: float, **more: list[dict[str, object]]) -> Scenario:
    """The walker lets go of the rails at `at_s` (the backward bout runs from ~136 s)."""
    events: list[dict[str, object]] = [{"at_s": at_s, "action": "release_rails"}]
    return Scenario.model_validate(
        {"event": events + more.get("event", []), "command": more.get("command", [])}
    )


# The programme of tests/store/test_progress_weeks.py, on two treadmills in turn.
SESSIONS: list[tuple[Scenario, int]] = [
    (hands_off_at(190), 11),
    (hands_off_at(190), 12),
    (hands_off_at(190), 12),
    (hands_off_at(190, command=[{"at_s": 400.0, "command": "stop"}]), 13),
    (hands_off_at(320), 12),
    (hands_off_at(190), 12),
    (hands_off_at(190), 13),
    (hands_off_at(190, event=[{"at_s": 400.0, "action": "open_estop"}]), 15),
    (hands_off_at(190), 11),
    (hands_off_at(190), 11),
    (hands_off_at(190), 12),
    (hands_off_at(190), 12),
]
EXPECTED = [1.28, 1.28, 1.28, 1.38, 1.38, 1.38, 1.38, 1.38, 1.28, 1.28, 1.28, 1.38]
# the 12th session raised the target; with its RPE the 13th holds it, counting from there
EXPECTED_13TH = "held 1.38 km/h: 1 of 3 sessions in a row inside the rules at this target"


def run_cli(argv: list[str]) -> int:
    previous = signal.getsignal(signal.SIGPIPE)
    try:
        return main(argv)
    finally:
        signal.signal(signal.SIGPIPE, previous)


@pytest.mark.slow
def test_two_treadmills_alternate_a_patient_through_four_weeks(
    tmp_path: Path, clinic_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    files = load_session(SIM, KNEE, DEMO)
    treadmills = {"tm-a": tmp_path / "tm-a.sqlite", "tm-b": tmp_path / "tm-b.sqlite"}
    seen: list[float] = []
    for i, (day, (the_scenario, rpe)) in enumerate(zip(DAYS, SESSIONS, strict=True)):
        name = "tm-a" if i % 2 == 0 else "tm-b"
        db = treadmills[name]
        if i == 0:  # no records yet anywhere: the clinic database is created by shipping
            progress = session_progress(files, KNEE, db, "simulate", create=True)
        else:
            progress = session_progress(files, KNEE, clinic_url, "simulate")  # type: ignore[arg-type]
            assert progress.source.startswith(f"clinic records {clinic_url} ({i} sessions on ")
            assert len(progress.sessions) == i
        planned = apply_prescription(files, KNEE, progress.prescription)
        seen.append(progress.prescription.target_kmh)
        wall = (MONDAY + timedelta(days=day)).timestamp()
        sid = asyncio.run(simulate_into(db, planned, KNEE, the_scenario, wall_start=wall))
        assert run_cli(["sessions", "rpe", str(sid), str(rpe), "--db", str(db)]) == 0
        shipper = Shipper(db, clinic_url, name)
        try:
            assert shipper.ship_once().sessions == 1
        finally:
            shipper.close()
    capsys.readouterr()
    assert seen == EXPECTED
    after = session_progress(files, KNEE, clinic_url, "simulate")  # type: ignore[arg-type]
    assert after.source == f"clinic records {clinic_url} (12 sessions on tm-a, tm-b)"
    assert after.prescription.reason == EXPECTED_13TH
    assert [s.started[:10] for s in after.sessions] == [
        (MONDAY + timedelta(days=d)).date().isoformat() for d in DAYS
    ]
    # either treadmill's own file holds half the story, and would prescribe otherwise
    assert after.prescription.target_kmh == 1.38
    alone = session_progress(files, KNEE, treadmills["tm-a"], "simulate")
    assert alone.source == f"local store {treadmills['tm-a']}"
    assert len(alone.sessions) == 6
    assert alone.prescription.target_kmh == 1.28


def test_records_configured_but_down_is_a_refusal(own_pg: PgServer) -> None:
    url = own_pg.create_database()
    files = load_session(SIM, KNEE, DEMO)
    own_pg.stop()
    with pytest.raises(ClinicUnreachableError, match="cannot connect") as caught:
        session_progress(files, KNEE, url, "simulate")  # type: ignore[arg-type]
    assert isinstance(caught.value, DatabaseError)  # every verb reports it and exits non-zero


def test_records_without_treadctl_tables_are_a_refusal(clinic_url: str) -> None:
    files = load_session(SIM, KNEE, DEMO)
    with pytest.raises(ClinicUnreachableError, match="holds no treadctl records"):
        session_progress(files, KNEE, clinic_url, "simulate")  # type: ignore[arg-type]


def test_the_password_never_shows_in_the_refusal(own_pg: PgServer) -> None:
    files = load_session(SIM, KNEE, DEMO)
    url = own_pg.url("nowhere").replace("treadctl@", "treadctl:s3cret@")
    own_pg.stop()
    with pytest.raises(ClinicUnreachableError) as caught:
        session_progress(files, KNEE, url, "simulate")  # type: ignore[arg-type]
    assert "s3cret" not in str(caught.value)
    assert f"127.0.0.1:{own_pg.port}" in str(caught.value)
