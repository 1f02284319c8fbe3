"""The clinic schema on a real PostgreSQL, and the treadmill file's outbox migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from treadctl.clinic.connect import connect, records_source, redact
from treadctl.clinic.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    ClinicSchemaError,
    current_version,
    migrate,
)
from treadctl.config.errors import ConfigError
from treadctl.store.db import open_db
from treadctl.store.schema import MIGRATIONS as LOCAL_MIGRATIONS
from treadctl.store.schema import migrate as local_migrate

TABLES = {
    "clinic_schema_version", "treadmills", "patients", "sessions", "segment_results",
    "samples", "events",
}  # fmt: skip


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def test_migrates_an_empty_database_and_a_second_run_changes_nothing(clinic_url: str) -> None:
    conn = connect(clinic_url)
    try:
        assert current_version(conn) == 0
        assert migrate(conn) == SCHEMA_VERSION
        assert tables(clinic_url) == TABLES
        applied = conn.execute("SELECT version, applied FROM clinic_schema_version").fetchall()
        assert migrate(conn) == SCHEMA_VERSION
        assert conn.execute("SELECT version, applied FROM clinic_schema_version").fetchall() == (
            applied
        )
    finally:
        conn.close()


def test_a_newer_clinic_schema_is_refused(clinic_url: str) -> None:
    conn = connect(clinic_url)
    try:
        migrate(conn)
        conn.execute("INSERT INTO clinic_schema_version (version) VALUES (%s)", (99,))
        with pytest.raises(ClinicSchemaError, match="99 is newer"):
            migrate(conn)
    finally:
        conn.close()


def test_keys_refuse_a_bad_treadmill_id_and_uuid(clinic_url: str) -> None:
    conn = connect(clinic_url)
    try:
        migrate(conn)
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO treadmills (id) VALUES ('no spaces; or quotes')")
        conn.execute("INSERT INTO treadmills (id) VALUES ('tm-1')")
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO sessions (treadmill_id, local_uuid, local_id, local_version, kind, "
                "profile_name, machine_name, started, status, planned_s, host, pid, heartbeat) "
                "VALUES ('tm-1', 'not-a-uuid', 1, 1, 'run', 'p', 'm', 's', 'running', 1, 'h', "
                "1, 'h')"
            )
    finally:
        conn.close()


def _v3_database(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    local_migrate(conn, LOCAL_MIGRATIONS[:3])
    for pid in (11, 12):
        conn.execute(
            "INSERT INTO sessions (kind, profile_name, machine_name, started, status, planned_s, "
            "host, pid, heartbeat) VALUES ('run', 'p', 'm', '2025-01-01T00:00:00Z', "
            "'completed', 60, 'h', ?, '2025-01-01T00:01:00Z')",
            (pid,),
        )
    conn.close()


def test_an_old_treadmill_file_gets_uuids_and_every_session_in_the_outbox(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    _v3_database(db)
    conn = open_db(db, create=False)
    try:
        rows = conn.execute("SELECT id, uuid FROM sessions ORDER BY id").fetchall()
        assert [r[0] for r in rows] == [1, 2]
        assert all(len(r[1]) == 32 for r in rows)
        assert rows[0][1] != rows[1][1]
        assert conn.execute(
            "SELECT session_id, version, shipped_version FROM outbox ORDER BY session_id"
        ).fetchall() == [(1, 1, 0), (2, 1, 0)]
    finally:
        conn.close()


def test_triggers_give_a_new_session_a_uuid_and_count_its_changes(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "new.sqlite")
    try:
        conn.execute(
            "INSERT INTO sessions (kind, profile_name, machine_name, started, status, planned_s, "
            "host, pid, heartbeat) VALUES ('run', 'p', 'm', 's', 'running', 60, 'h', 1, 'h')"
        )
        ((uuid,),) = conn.execute("SELECT uuid FROM sessions").fetchall()
        assert len(uuid) == 32
        (before,) = conn.execute("SELECT version FROM outbox WHERE session_id = 1").fetchone()
        conn.execute("UPDATE sessions SET heartbeat = 'h2' WHERE id = 1")
        conn.execute("UPDATE sessions SET rpe = 12 WHERE id = 1")
        (after,) = conn.execute("SELECT version FROM outbox WHERE session_id = 1").fetchone()
        assert after == before + 2
        assert conn.execute("SELECT uuid FROM sessions").fetchall() == [(uuid,)]
    finally:
        conn.close()


def test_records_source_picks_the_clinic_when_configured(tmp_path: Path) -> None:
    clinic = tmp_path / "clinic.toml"
    clinic.write_text('[records]\nurl = "postgresql://tm@pc/treadctl"\ntreadmill_id = "tm-1"\n')
    assert records_source(Path("runs/t.sqlite")) == Path("runs/t.sqlite")
    assert records_source("runs/t.sqlite") == Path("runs/t.sqlite")
    assert records_source("postgresql://pc/db") == "postgresql://pc/db"
    assert records_source(Path("runs/t.sqlite"), clinic) == "postgresql://tm@pc/treadctl"
    clinic.write_text('[records]\nurl = "postgresql://pc/db"\ntreadmill_id = "no spaces"\n')
    with pytest.raises(ConfigError, match="treadmill_id"):
        records_source("x", clinic)
    assert redact("postgresql://u:secret@pc:5433/db") == "postgresql://u@pc:5433/db"


def test_a_clinic_database_of_version_1_is_upgraded(clinic_url: str) -> None:
    conn = connect(clinic_url)
    try:
        assert migrate(conn, MIGRATIONS[:1]) == 1
        assert migrate(conn) == SCHEMA_VERSION
        row = conn.execute(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_name = 'samples' AND column_name = 'incline_target_pct'"
        ).fetchone()
        assert row == (1,)
    finally:
        conn.close()
