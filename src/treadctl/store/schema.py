"""The session database's schema, as a list of forward migrations.

Each migration is applied once, in its own transaction, and recorded in
`schema_version`. A database written by a newer treadctl (a version above the
last one here) is refused rather than guessed at. Never edit a migration that
has shipped: append a new one.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence

from treadctl.store.recount import recount_turn_round
from treadctl.store.timeutil import utc_iso

# A step is SQL, or a function run on the connection inside the migration's transaction
# (a recomputation that SQL alone cannot say).
Step = str | Callable[[sqlite3.Connection], None]
Migration = tuple[int, tuple[Step, ...]]

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

# The built-in simulator's drive, as the "connect" event names it (sim/backends.py SimDrive).
SIM_DRIVE_NAME = "sim-drive"
# Whether a session ran on the built-in simulator: `treadctl simulate`, or a session whose
# drive connected as the simulated drive (`treadctl run --machine sim`, a demo).
SIMULATED_SQL = (
    "(sessions.kind = 'simulate' OR EXISTS (SELECT 1 FROM events e "
    "WHERE e.session_id = sessions.id AND e.kind = 'connect' AND CASE WHEN json_valid(e.record) "
    f"THEN json_extract(e.record, '$.drive') = '{SIM_DRIVE_NAME}' ELSE 0 END))"
)
# Whether the belt moved at all: a segment's moving time, or a sample above the standstill
# threshold (the session's own, 0.05 km/h, the machine default, before version 2 kept it).
MOVED_SQL = (
    "(EXISTS (SELECT 1 FROM segment_results g WHERE g.session_id = sessions.id "
    "AND g.moving_s > 0) OR EXISTS (SELECT 1 FROM samples m WHERE m.session_id = sessions.id "
    "AND m.actual_kmh > coalesce(sessions.standstill_kmh, 0.05)))"
)

# Version 3: demo runs and sessions in which the belt never moved are marked, so the
# clinic's lists, reports and progression leave them out by default.
_V3 = (
    # 1: ran on the built-in simulator (simulated drive); 0: a treadmill's drive.
    "ALTER TABLE sessions ADD COLUMN simulated INTEGER NOT NULL DEFAULT 0",
    # 1: the belt moved; 0: it never did (idle or empty session); NULL: still running.
    "ALTER TABLE sessions ADD COLUMN moved INTEGER",
    # Sessions recorded before: inferred from what they hold (a session that holds no
    # connect event of the simulated drive stays a clinic session).
    f"UPDATE sessions SET simulated = {SIMULATED_SQL}",
    f"UPDATE sessions SET moved = {MOVED_SQL} WHERE status != 'running'",
)

# A fresh random id for a session row: with the treadmill's id, a session's global key in
# the clinic's records (treadctl.clinic), stable when the local file is replaced and its
# integer ids start again.
_NEW_UUID = "lower(hex(randomblob(16)))"

# Version 4: the outbox for the clinic's records (treadctl.clinic.ship). Triggers keep it,
# so the recorder writes sessions exactly as before: a new session gets its uuid and an
# outbox row, every change of a session row bumps `version`. The shipper ships a session
# while `version` differs from `shipped_version` or samples/events lie past its marks.
_V4 = (
    "ALTER TABLE sessions ADD COLUMN uuid TEXT",
    f"UPDATE sessions SET uuid = {_NEW_UUID}",
    "CREATE UNIQUE INDEX sessions_by_uuid ON sessions (uuid)",
    """CREATE TABLE outbox (
        session_id INTEGER PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
        version INTEGER NOT NULL DEFAULT 1,
        shipped_version INTEGER NOT NULL DEFAULT 0,
        samples_rowid INTEGER NOT NULL DEFAULT 0,
        events_id INTEGER NOT NULL DEFAULT 0,
        shipped TEXT
    )""",
    "INSERT INTO outbox (session_id) SELECT id FROM sessions",
    f"""CREATE TRIGGER sessions_outbox_new AFTER INSERT ON sessions BEGIN
        INSERT OR IGNORE INTO outbox (session_id) VALUES (NEW.id);
        UPDATE sessions SET uuid = {_NEW_UUID} WHERE id = NEW.id AND uuid IS NULL;
    END""",
    """CREATE TRIGGER sessions_outbox_changed AFTER UPDATE ON sessions BEGIN
        UPDATE outbox SET version = version + 1 WHERE session_id = NEW.id;
    END""",
)

# Version 5: the powered incline's target beside its measured position (samples.incline_pct,
# NULL when nothing measured it), so the report plots both under the speed.
_V5 = ("ALTER TABLE samples ADD COLUMN incline_target_pct REAL",)

# Version 6: the record speaks in the walker's direction. Samples always kept the walker's
# direction (`direction`); the belt's own measured direction is now a column of its own
# (NULL before). Segment results were credited by the belt's direction, so a turn-round
# session (the belt always runs forward) was recorded as 0 s backward: those are
# recomputed from their samples where the samples allow it (treadctl.store.recount), and
# `segments_recount` says what was done ('recomputed' or 'unknown'; NULL: as recorded).
_V6: tuple[Step, ...] = (
    "ALTER TABLE samples ADD COLUMN belt_direction TEXT",
    "ALTER TABLE sessions ADD COLUMN segments_recount TEXT",
    recount_turn_round,
)

MIGRATIONS: tuple[Migration, ...] = (
    (1, _V1),
    (2, _V2),
    (3, _V3),
    (4, _V4),
    (5, _V5),
    (6, _V6),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


def mark_session(conn: sqlite3.Connection, session_id: int, *, ended: bool) -> None:
    """Set a session's `simulated` (and, once it has `ended`, its `moved`) from what it
    holds. Call inside a transaction."""
    moved = f", moved = {MOVED_SQL}" if ended else ""
    conn.execute(
        f"UPDATE sessions SET simulated = {SIMULATED_SQL}{moved} WHERE id = ?", (session_id,)
    )


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
            for step in statements:
                if isinstance(step, str):
                    conn.execute(step)
                else:
                    step(conn)
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
