"""The session database: stdlib sqlite3, WAL mode, forward migrations, crash recovery.

Opening a database (for recording or for reading) marks every session that a dead
controller left in status "running" as "interrupted": a controller killed with
SIGKILL or by a power cut cannot say so itself. A controller is dead when its
process is gone from this host, or when it has not written a heartbeat for
`STALE_HEARTBEAT_S` (another host, or a reused process id).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from treadctl.store.schema import SchemaError, mark_session, migrate
from treadctl.store.timeutil import parse_utc, utc_iso

if TYPE_CHECKING:  # pydantic's models load with a verb that records, not with --help
    from treadctl.config.patient import PatientConfig

DEFAULT_DB = Path("runs/treadctl.sqlite")
CLINIC_URL_SCHEMES = ("postgresql://", "postgres://")  # a --db that names the clinic's records
STALE_HEARTBEAT_S = 30.0
STATUSES = ("running", "completed", "stopped", "faulted", "interrupted")
INTERRUPTED_OUTCOME = (
    "interrupted: the controller ended without closing the session (killed, crashed or lost power)"
)
_PATIENT_FIELDS = ("comfortable_forward_kmh", "max_forward_kmh", "max_backward_kmh", "notes")


class DatabaseError(Exception):
    """The database cannot be opened, read or written; names the file and the reason."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def open_db(path: Path, *, create: bool = True, busy_timeout_s: float = 5.0) -> sqlite3.Connection:
    """Open (or with `create`, create) the database, migrate it and recover dead sessions.

    The connection is in autocommit mode: callers use explicit BEGIN/COMMIT.
    """
    if not create and not path.is_file():
        raise DatabaseError(path, "no such database file")
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
        else:
            uri = path.resolve().as_uri() + "?mode=rw"
            conn = sqlite3.connect(uri, timeout=busy_timeout_s, isolation_level=None, uri=True)
    except (OSError, sqlite3.Error) as exc:
        raise DatabaseError(path, f"cannot open: {exc}") from exc
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # durable across a process kill
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)
        recover_interrupted(conn)
    except SchemaError as exc:
        conn.close()
        raise DatabaseError(path, str(exc)) from exc
    except sqlite3.Error as exc:
        conn.close()
        raise DatabaseError(path, f"not a usable treadctl database: {exc}") from exc
    return conn


def controller_alive(host: str, pid: int, heartbeat: str, now_wall: float | None = None) -> bool:
    """Whether the controller that owns a running session may still be writing it."""
    now_wall = time.time() if now_wall is None else now_wall
    try:
        if now_wall - parse_utc(heartbeat) > STALE_HEARTBEAT_S:
            return False
    except ValueError:
        return False
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def recover_interrupted(conn: sqlite3.Connection) -> list[int]:
    """Mark the sessions of dead controllers "interrupted"; return their ids.

    On a database this process may not write, nothing is changed (readers still show
    such a session as interrupted, see `effective_status`).
    """
    rows = conn.execute(
        "SELECT id, host, pid, heartbeat FROM sessions WHERE status = 'running'"
    ).fetchall()
    dead = [r for r in rows if not controller_alive(r[1], r[2], r[3])]
    if not dead:
        return []
    with contextlib.suppress(sqlite3.OperationalError):  # read-only: readers compute it
        conn.execute("BEGIN IMMEDIATE")
        try:
            for session_id, _host, _pid, heartbeat in dead:
                conn.execute(
                    "UPDATE sessions SET status = 'interrupted', ended = ?, "
                    "outcome = coalesce(outcome, ?) WHERE id = ? AND status = 'running'",
                    (heartbeat, INTERRUPTED_OUTCOME, session_id),
                )
                mark_session(conn, session_id, ended=True)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return [r[0] for r in dead]


def effective_status(status: str, host: str, pid: int, heartbeat: str) -> str:
    """The status to show: a "running" session whose controller is dead is interrupted."""
    if status == "running" and not controller_alive(host, pid, heartbeat):
        return "interrupted"
    return status


def patient_values(patient: PatientConfig) -> dict[str, Any]:
    return {"pseudonym": patient.pseudonym, **{f: getattr(patient, f) for f in _PATIENT_FIELDS}}


def upsert_patient(conn: sqlite3.Connection, patient: PatientConfig) -> tuple[int, str]:
    """Find the patient by pseudonym, add or update it from the file; (id, what was done).

    Call inside a transaction. The patient file is what the controller enforces, so
    its caps replace those stored; each session keeps its own copy (patient_json).
    """
    now = utc_iso(time.time())
    values = patient_values(patient)
    row = conn.execute(
        f"SELECT id, {', '.join(_PATIENT_FIELDS)} FROM patients WHERE pseudonym = ?",
        (patient.pseudonym,),
    ).fetchone()
    if row is None:
        cur = conn.execute(
            f"INSERT INTO patients (pseudonym, {', '.join(_PATIENT_FIELDS)}, created, updated) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (*values.values(), now, now),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid, "added"
    patient_id = int(row[0])
    changes = [
        f"{f} {old!r} -> {values[f]!r}"
        for f, old in zip(_PATIENT_FIELDS, row[1:], strict=True)
        if old != values[f]
    ]
    if not changes:
        return patient_id, "unchanged"
    conn.execute(
        f"UPDATE patients SET {', '.join(f'{f} = ?' for f in _PATIENT_FIELDS)}, updated = ? "
        "WHERE id = ?",
        (*(values[f] for f in _PATIENT_FIELDS), now, patient_id),
    )
    return patient_id, "updated: " + ", ".join(changes)


def dumps(value: Any) -> str:
    """Compact JSON for the database's JSON columns."""
    return json.dumps(value, separators=(",", ":"), default=str)
