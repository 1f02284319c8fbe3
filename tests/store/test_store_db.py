"""The session database file: schema, forward migrations, dead controllers' sessions."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from records import DEMO, connect  # type: ignore[import-not-found]

from treadctl.config.loader import load_model
from treadctl.config.patient import PatientConfig
from treadctl.store.db import DatabaseError, open_db, upsert_patient
from treadctl.store.schema import MIGRATIONS, SCHEMA_VERSION, SchemaError, migrate
from treadctl.store.timeutil import utc_iso

TABLES = {
    "schema_version",
    "patients",
    "sessions",
    "segment_results",
    "samples",
    "events",
    "outbox",  # schema 4: what the clinic shipper has still to send
}


def tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows}


def test_a_new_database_has_every_table_in_wal_mode(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "t.sqlite"
    conn = open_db(db)
    try:
        assert tables(conn) == TABLES
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == (
            SCHEMA_VERSION
        )
    finally:
        conn.close()
    conn = open_db(db)  # opening again applies nothing
    try:
        assert conn.execute("SELECT count(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)
    finally:
        conn.close()


def test_forward_migrations_apply_in_order_once_and_keep_the_data(tmp_path: Path) -> None:
    db = tmp_path / "t.sqlite"
    with connect(db) as conn:
        assert migrate(conn, MIGRATIONS[:1]) == 1
        upsert_patient(conn, load_model(DEMO, PatientConfig))
        later = (
            *MIGRATIONS,
            (SCHEMA_VERSION + 1, ("ALTER TABLE patients ADD COLUMN height_cm REAL",)),
            (SCHEMA_VERSION + 2, ("UPDATE patients SET height_cm = 170",)),
        )
        assert migrate(conn, later) == SCHEMA_VERSION + 2
        assert migrate(conn, later) == SCHEMA_VERSION + 2  # nothing left to apply
        row = conn.execute("SELECT pseudonym, height_cm FROM patients").fetchone()
        assert row == ("DEMO-001", 170)
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
        assert versions == [*range(1, SCHEMA_VERSION + 3)]


def test_a_failing_migration_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "t.sqlite"
    with connect(db) as conn:
        migrate(conn)
        broken = (*MIGRATIONS, (SCHEMA_VERSION + 1, ("CREATE TABLE x (a)", "NOT SQL")))
        with pytest.raises(sqlite3.OperationalError):
            migrate(conn, broken)
        assert "x" not in tables(conn)
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == (
            SCHEMA_VERSION
        )


def test_a_database_from_a_newer_treadctl_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "t.sqlite"
    with connect(db) as conn:
        migrate(conn, (*MIGRATIONS, (SCHEMA_VERSION + 1, ("CREATE TABLE x (a)",))))
    with pytest.raises(DatabaseError, match="newer than this treadctl") as caught:
        open_db(db)
    assert caught.value.path == db


def test_other_sqlite_files_and_other_files_are_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.sqlite"
    with connect(foreign) as conn:
        conn.execute("CREATE TABLE something (a)")
    with pytest.raises(DatabaseError, match="not a treadctl database"):
        open_db(foreign)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_text("not a database at all, but long enough to have a header " * 4)
    with pytest.raises(DatabaseError, match="file is not a database"):
        open_db(garbage, create=False)
    with pytest.raises(DatabaseError, match="no such database file"):
        open_db(tmp_path / "missing.sqlite", create=False)
    assert not (tmp_path / "missing.sqlite").exists()
    with pytest.raises(SchemaError), connect(foreign) as conn:
        migrate(conn)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _running_session(conn: sqlite3.Connection, pid: int, heartbeat_age_s: float) -> int:
    cur = conn.execute(
        "INSERT INTO sessions (kind, profile_name, machine_name, started, status, planned_s, "
        "host, pid, heartbeat) VALUES ('run', 'p', 'm', ?, 'running', 60, ?, ?, ?)",
        (
            utc_iso(time.time() - 100),
            socket.gethostname(),
            pid,
            utc_iso(time.time() - heartbeat_age_s),
        ),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def test_opening_marks_sessions_of_dead_controllers_interrupted(tmp_path: Path) -> None:
    db = tmp_path / "t.sqlite"
    conn = open_db(db)
    try:
        killed = _running_session(conn, _dead_pid(), heartbeat_age_s=0.5)
        silent = _running_session(conn, os.getpid(), heartbeat_age_s=600)  # pid reused, say
        alive = _running_session(conn, os.getpid(), heartbeat_age_s=0.5)
    finally:
        conn.close()
    conn = open_db(db)
    try:
        status = dict(conn.execute("SELECT id, status FROM sessions").fetchall())
        outcome = conn.execute("SELECT outcome FROM sessions WHERE id = ?", (killed,)).fetchone()
    finally:
        conn.close()
    assert status == {killed: "interrupted", silent: "interrupted", alive: "running"}
    assert "killed, crashed or lost power" in outcome[0]


def test_a_patient_is_added_once_and_updated_from_its_file(tmp_path: Path) -> None:
    patient = load_model(DEMO, PatientConfig)
    with connect(tmp_path / "t.sqlite") as conn:
        migrate(conn)
        first, done = upsert_patient(conn, patient)
        assert done == "added"
        assert upsert_patient(conn, patient) == (first, "unchanged")
        faster = patient.model_copy(update={"comfortable_forward_kmh": 3.5})
        again, done = upsert_patient(conn, faster)
        assert again == first
        assert done == "updated: comfortable_forward_kmh 3.2 -> 3.5"
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(
                "INSERT INTO patients (pseudonym, comfortable_forward_kmh, created, updated) "
                "VALUES ('DEMO-001', 3, 'x', 'x')"
            )
