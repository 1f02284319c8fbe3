"""Shipping treadmill files into the clinic's PostgreSQL: once, complete, across outages."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from clinic_kit import (  # type: ignore[import-not-found]
    DEMO_SHORT,
    clinic_counts,
    clinic_rows,
    demo_files,
    local_counts,
    local_rows,
    simulate_into,
)
from pg import PgServer  # type: ignore[import-not-found]

from treadctl.clinic.connect import ClinicUnreachableError
from treadctl.clinic.ship import Shipper


def record(db: Path) -> int:
    return asyncio.run(simulate_into(db, demo_files(), DEMO_SHORT))


def test_nothing_to_ship_before_the_file_exists(tmp_path: Path, clinic_url: str) -> None:
    shipper = Shipper(tmp_path / "none.sqlite", clinic_url, "tm-1")
    try:
        report = shipper.ship_once()
    finally:
        shipper.close()
    assert (report.sessions, report.samples) == (0, 0)
    assert not (tmp_path / "none.sqlite").exists()


def test_a_session_shipped_twice_is_stored_once(tmp_path: Path, clinic_url: str) -> None:
    db = tmp_path / "tm1.sqlite"
    record(db)
    record(db)
    local = local_counts(db)
    assert local["samples"] > 500
    shipper = Shipper(db, clinic_url, "tm-1")
    try:
        first = shipper.ship_once()
        second = shipper.ship_once()
    finally:
        shipper.close()
    assert (first.sessions, first.samples, first.events) == (
        2,
        local["samples"],
        local["events"],
    )
    assert (second.sessions, second.samples) == (0, 0)
    assert clinic_counts(clinic_url) == local
    # forget the marks (a shipper killed between PostgreSQL's commit and the file's update)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE outbox SET shipped_version = 0, samples_rowid = 0, events_id = 0")
    conn.commit()
    conn.close()
    shipper = Shipper(db, clinic_url, "tm-1")
    try:
        again = shipper.ship_once()
    finally:
        shipper.close()
    assert again.samples == local["samples"]
    assert clinic_counts(clinic_url) == local


def test_what_crosses_the_network_names_the_patient_by_pseudonym_only(
    tmp_path: Path, clinic_url: str
) -> None:
    db = tmp_path / "tm1.sqlite"
    record(db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE patients SET notes = 'Jane Example, knee'")
    conn.execute(
        "UPDATE sessions SET patient_json = json_set(patient_json, '$.notes', 'Jane Example')"
    )
    conn.commit()
    conn.close()
    shipper = Shipper(db, clinic_url, "tm-1")
    try:
        shipper.ship_once()
    finally:
        shipper.close()
    dump = repr(clinic_rows(clinic_url, "SELECT * FROM patients"))
    dump += repr(clinic_rows(clinic_url, "SELECT * FROM sessions"))
    assert "DEMO-001" in dump
    assert "Jane" not in dump


def test_in_batches_and_a_growing_session_arrives_complete(tmp_path: Path, clinic_url: str) -> None:
    db = tmp_path / "tm1.sqlite"
    record(db)
    # the session ships in batches of 100 samples, as a running one would
    shipper = Shipper(db, clinic_url, "tm-1", batch_rows=100)
    try:
        shipper.ship_once()
        assert clinic_counts(clinic_url) == local_counts(db)
        # more samples and a changed session row after it was shipped: shipped again, whole
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO samples (session_id, t_s, target_kmh, setpoint_kmh, actual_kmh, "
            "direction, mode, incline_pct, incline_target_pct) SELECT session_id, t_s + 1000, "
            "target_kmh, setpoint_kmh, actual_kmh, direction, mode, 2.5, 3.0 FROM samples"
        )
        conn.execute("UPDATE sessions SET rpe = 13, rpe_scale = 'borg'")
        conn.execute("COMMIT")
        conn.close()
        report = shipper.ship_once()
    finally:
        shipper.close()
    assert report.samples == local_counts(db)["samples"] // 2
    assert clinic_counts(clinic_url) == local_counts(db)
    assert clinic_rows(clinic_url, "SELECT rpe FROM sessions") == [(13.0,)]
    # the samples are the file's, value for value (samples are only ever appended)
    columns = "t_s, actual_kmh, direction, mode, incline_pct, incline_target_pct"
    mine = local_rows(db, f"SELECT {columns} FROM samples ORDER BY rowid")
    theirs = clinic_rows(clinic_url, f"SELECT {columns} FROM samples ORDER BY seq")
    assert theirs == mine


def test_an_older_copy_of_a_session_never_overwrites_a_newer(
    tmp_path: Path, clinic_url: str
) -> None:
    db = tmp_path / "tm1.sqlite"
    record(db)
    shipper = Shipper(db, clinic_url, "tm-1")
    try:
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("UPDATE sessions SET rpe = 14")
        shipper.ship_once()
        # a stale copy: an older version number with another RPE
        conn.execute("UPDATE outbox SET version = 1, shipped_version = 0")
        conn.execute("DROP TRIGGER sessions_outbox_changed")
        conn.execute("UPDATE sessions SET rpe = 9")
        conn.close()
        shipper.ship_once()
    finally:
        shipper.close()
    assert clinic_rows(clinic_url, "SELECT rpe FROM sessions") == [(14.0,)]


def test_server_down_while_shipping_is_retried_later_and_nothing_is_lost_or_doubled(
    tmp_path: Path, own_pg: PgServer
) -> None:
    url = own_pg.create_database()
    db = tmp_path / "tm1.sqlite"
    record(db)
    shipper = Shipper(db, url, "tm-1", batch_rows=200)
    try:
        shipper.ship_once()
        record(db)
        record(db)
        own_pg.stop()
        with pytest.raises(ClinicUnreachableError, match="clinic records postgresql://"):
            shipper.ship_once()
        with pytest.raises(ClinicUnreachableError):
            shipper.ship_once()
        record(db)
        own_pg.start()
        report = shipper.ship_once()
        assert report.sessions == 3
        assert shipper.ship_once().sessions == 0
    finally:
        shipper.close()
    assert clinic_counts(url) == local_counts(db)
    keys = clinic_rows(url, "SELECT count(DISTINCT (session_id, t_s)) FROM samples")
    assert keys == [(local_counts(db)["samples"],)]


def test_a_session_the_records_refuse_does_not_hold_up_the_others(
    tmp_path: Path, clinic_url: str
) -> None:
    db = tmp_path / "tm1.sqlite"
    record(db)
    record(db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE sessions SET uuid = 'not a uuid' WHERE id = 1")  # a damaged file
    conn.commit()
    conn.close()
    shipper = Shipper(db, clinic_url, "tm-1")
    try:
        report = shipper.ship_once()
        assert report.sessions == 1
        assert list(report.failed) == [1]
        assert "local_uuid" in report.failed[1]
        assert shipper.pending() == [1]  # kept, tried again next pass
        assert list(shipper.ship_once().failed) == [1]
    finally:
        shipper.close()
    assert clinic_rows(clinic_url, "SELECT local_id FROM sessions") == [(2,)]
