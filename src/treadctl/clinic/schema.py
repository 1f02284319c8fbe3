"""The clinic database's schema on PostgreSQL, as a list of forward migrations.

Keys make shipping idempotent: a session is (treadmill_id, local_uuid); its samples are
(session, seq) with seq the sample's rowid in the treadmill's file, its events (session,
seq) with seq the event's local id, its segment results (session, idx). Columns keep the
names of the local schema (treadctl.store.schema) so that the same readers serve both.
All migrations run in one transaction under an advisory lock: two ingesters or shippers
starting at once on a new database apply them once.
"""

from __future__ import annotations

from collections.abc import Sequence

from treadctl.clinic.connect import Conn

Migration = tuple[int, tuple[str, ...]]
ADVISORY_LOCK = 0x7472_6561_6463_746C  # "treadctl"

_ID_CHECK = "CHECK ({col} ~ '^[A-Za-z0-9_.-]{{1,64}}$')"

_V1 = (
    f"""CREATE TABLE treadmills (
        id TEXT PRIMARY KEY {_ID_CHECK.format(col="id")},
        first_seen TIMESTAMPTZ NOT NULL DEFAULT now(),
        last_seen TIMESTAMPTZ NOT NULL DEFAULT now()
    )""",
    f"""CREATE TABLE patients (
        id BIGSERIAL PRIMARY KEY,
        pseudonym TEXT NOT NULL UNIQUE {_ID_CHECK.format(col="pseudonym")},
        comfortable_forward_kmh DOUBLE PRECISION NOT NULL,
        max_forward_kmh DOUBLE PRECISION,
        max_backward_kmh DOUBLE PRECISION,
        created TEXT NOT NULL,
        updated TEXT NOT NULL
    )""",
    """CREATE TABLE sessions (
        id BIGSERIAL PRIMARY KEY,
        treadmill_id TEXT NOT NULL REFERENCES treadmills(id),
        local_uuid TEXT NOT NULL CHECK (local_uuid ~ '^[0-9a-f]{32}$'),
        local_id BIGINT NOT NULL,
        local_version BIGINT NOT NULL,
        patient_id BIGINT REFERENCES patients(id),
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
        planned_s DOUBLE PRECISION NOT NULL,
        summary_json TEXT,
        host TEXT NOT NULL,
        pid BIGINT NOT NULL,
        heartbeat TEXT NOT NULL,
        prescription_json TEXT,
        standstill_kmh DOUBLE PRECISION,
        rpe DOUBLE PRECISION,
        rpe_scale TEXT,
        rpe_recorded TEXT,
        simulated INTEGER NOT NULL DEFAULT 0,
        moved INTEGER,
        shipped TIMESTAMPTZ NOT NULL DEFAULT now(),
        UNIQUE (treadmill_id, local_uuid)
    )""",
    "CREATE INDEX sessions_by_patient ON sessions (patient_id, started)",
    """CREATE TABLE segment_results (
        session_id BIGINT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        label TEXT NOT NULL,
        kind TEXT NOT NULL,
        target_kmh DOUBLE PRECISION NOT NULL,
        planned_s DOUBLE PRECISION NOT NULL,
        moving_s DOUBLE PRECISION NOT NULL DEFAULT 0,
        distance_m DOUBLE PRECISION NOT NULL DEFAULT 0,
        completed INTEGER NOT NULL DEFAULT 0,
        progress INTEGER,
        PRIMARY KEY (session_id, idx)
    )""",
    """CREATE TABLE samples (
        session_id BIGINT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        seq BIGINT NOT NULL,
        t_s DOUBLE PRECISION NOT NULL,
        target_kmh DOUBLE PRECISION NOT NULL,
        setpoint_kmh DOUBLE PRECISION NOT NULL,
        actual_kmh DOUBLE PRECISION,
        direction TEXT NOT NULL,
        incline_pct DOUBLE PRECISION,
        rail_left INTEGER,
        rail_right INTEGER,
        heart_rate_bpm DOUBLE PRECISION,
        mode TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
    )""",
    """CREATE TABLE events (
        session_id BIGINT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        seq BIGINT NOT NULL,
        t_s DOUBLE PRECISION NOT NULL,
        wall TEXT NOT NULL,
        kind TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
    )""",
)

# Version 2: the incline's target at each sample (the treadmill file's schema 5).
_V2 = ("ALTER TABLE samples ADD COLUMN incline_target_pct DOUBLE PRECISION",)

# Version 3: the treadmill file's schema 6: the belt's own direction beside the walker's
# (samples.direction), and what the upgrade did to a session's segment results.
_V3 = (
    "ALTER TABLE samples ADD COLUMN belt_direction TEXT",
    "ALTER TABLE sessions ADD COLUMN segments_recount TEXT",
)

MIGRATIONS: tuple[Migration, ...] = ((1, _V1), (2, _V2), (3, _V3))
SCHEMA_VERSION = MIGRATIONS[-1][0]


class ClinicSchemaError(Exception):
    """The clinic database's schema cannot be used by this treadctl."""


def current_version(conn: Conn) -> int:
    """The highest migration applied, 0 for a database without treadctl's tables."""
    row = conn.execute("SELECT to_regclass('clinic_schema_version') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return 0
    version = conn.execute("SELECT max(version) FROM clinic_schema_version").fetchone()
    return int(version[0] or 0) if version else 0


def migrate(conn: Conn, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply every pending migration in one transaction; the version the database is at.

    A database written by a newer treadctl is refused, never guessed at.
    """
    latest = migrations[-1][0] if migrations else 0
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS clinic_schema_version "
            "(version INTEGER PRIMARY KEY, applied TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        version = current_version(conn)
        if version > latest:
            raise ClinicSchemaError(
                f"clinic schema version {version} is newer than this treadctl understands "
                f"({latest}): use a newer treadctl"
            )
        for number, statements in migrations:
            if number <= version:
                continue
            for statement in statements:
                conn.execute(statement.encode())
            conn.execute("INSERT INTO clinic_schema_version (version) VALUES (%s)", (number,))
            version = number
    return version
