"""The session database's schema, as a list of forward migrations.

Each migration is applied once, in its own transaction, and recorded in
`schema_version`. A database written by a newer treadctl (a version above the
last one here) is refused rather than guessed at. Never edit a migration that
has shipped: append a new one.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from treadctl.store.timeutil import utc_iso

Migration = tuple[int, tuple[str, ...]]

_V1 = (
    """CREATE TABLE patients (
        id INTEGER PRIMARY KEY,
        pseudonym TEXT NOT NULL UNIQUE,
        comfortable_forward_kmh REAL NOT NULL,
        max_forward_kmh REAL,
        max_backward_kmh REAL,
        notes TEXT NOT NULL DEFAULT '',
        created TEXT NOT NULL,
        updated TEXT NOT NULL
    )""",
    """CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        patient_id INTEGER REFERENCES patients(id),
        patient_json TEXT,
        kind TEXT NOT NULL CHECK (kind IN ('run', 'simulate')),
        profile_name TEXT NOT NULL,
        profile_sha256 TEXT,
        profile_text TEXT,
        machine_name TEXT NOT NULL,
        started TEXT NOT NULL,
        ended TEXT,
        status TEXT NOT NULL CHECK (
            status IN ('running', 'completed', 'stopped', 'faulted', 'interrupted')
        ),
        outcome TEXT,
        planned_s REAL NOT NULL,
        summary_json TEXT,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        heartbeat TEXT NOT NULL
    )""",
    "CREATE INDEX sessions_by_patient ON sessions (patient_id, started)",
    "CREATE INDEX sessions_by_status ON sessions (status)",
    """CREATE TABLE segment_results (
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        label TEXT NOT NULL,
        kind TEXT NOT NULL,
        target_kmh REAL NOT NULL,
        planned_s REAL NOT NULL,
        moving_s REAL NOT NULL DEFAULT 0,
        distance_m REAL NOT NULL DEFAULT 0,
        completed INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (session_id, idx)
    )""",
    """CREATE TABLE samples (
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        t_s REAL NOT NULL,
        target_kmh REAL NOT NULL,
        setpoint_kmh REAL NOT NULL,
        actual_kmh REAL,
        direction TEXT NOT NULL,
        incline_pct REAL,
        rail_left INTEGER,
        rail_right INTEGER,
        heart_rate_bpm REAL,
        mode TEXT NOT NULL
    )""",
    "CREATE INDEX samples_by_session ON samples (session_id, t_s)",
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        t_s REAL NOT NULL,
        wall TEXT NOT NULL,
        kind TEXT NOT NULL,
        record TEXT NOT NULL
    )""",
    "CREATE INDEX events_by_session ON events (session_id, id)",
)

# Version 2: what the progression across sessions needs (treadctl.store.history).
_V2 = (
    # The prescription the session's plan was built with (target, bout length, change and
    # reason, JSON), NULL when it ran the profile's own targets.
    "ALTER TABLE sessions ADD COLUMN prescription_json TEXT",
    # The machine's standstill threshold the session used: belt movement is above it.
    "ALTER TABLE sessions ADD COLUMN standstill_kmh REAL",
    # Rating of perceived exertion, given after the session, on the named scale.
    "ALTER TABLE sessions ADD COLUMN rpe REAL",
    "ALTER TABLE sessions ADD COLUMN rpe_scale TEXT",
    "ALTER TABLE sessions ADD COLUMN rpe_recorded TEXT",
    # 1: the segment's target (and length) were set by the progression; NULL: recorded
    # before version 2 (the history works it out from the stored profile text).
    "ALTER TABLE segment_results ADD COLUMN progress INTEGER",
)

MIGRATIONS: tuple[Migration, ...] = ((1, _V1), (2, _V2))
SCHEMA_VERSION = MIGRATIONS[-1][0]


class SchemaError(Exception):
    """The database's schema cannot be used by this treadctl."""


def current_version(conn: sqlite3.Connection) -> int:
    """The highest migration applied, 0 for an empty database."""
    row = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if row[0] == 0:
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if tables:
            raise SchemaError("not a treadctl database (it has tables but no schema_version)")
        return 0
    version = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
    return int(version or 0)


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply every pending migration; return the version the database is now at.

    The connection must be in autocommit mode (isolation_level=None). A database that
    is up to date is only read. Otherwise the migrations run in one BEGIN IMMEDIATE
    transaction, so two processes opening a new database at once apply them once.
    """
    latest = migrations[-1][0] if migrations else 0
    version = _check(current_version(conn), latest)
    if version == latest:
        return version
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _check(current_version(conn), latest)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version INTEGER PRIMARY KEY, applied TEXT NOT NULL)"
        )
        for number, statements in migrations:
            if number <= version:
                continue
            for statement in statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, applied) VALUES (?, ?)",
                (number, utc_iso(time.time())),
            )
            version = number
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return version


def _check(version: int, latest: int) -> int:
    if version > latest:
        raise SchemaError(
            f"schema version {version} is newer than this treadctl understands "
            f"({latest}): use a newer treadctl"
        )
    return version
