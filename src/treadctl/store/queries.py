"""Reading the session database: patients, sessions, segment results, events, samples."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from treadctl.store.db import effective_status

SAMPLE_COLUMNS = (
    "t_s",
    "target_kmh",
    "setpoint_kmh",
    "actual_kmh",
    "direction",  # the walker's walking direction (a turned walker walks backward)
    "belt_direction",  # schema 6: the belt's own, as the drive reported it (NULL before)
    "incline_pct",
    "incline_target_pct",  # schema 5: what the profile asked of a powered incline
    "rail_left",
    "rail_right",
    "heart_rate_bpm",
    "mode",
)


def _dicts(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


# A clinic session: on a treadmill's drive, and the belt moved (or it is still running).
# Demo runs on the built-in simulator and idle or empty sessions are left out of lists,
# reports and the progression unless asked for (`--all`).
CLINIC_SQL = "(s.simulated = 0 AND coalesce(s.moved, 1) = 1)"
SIMULATED_MARK = "simulated"
IDLE_MARK = "belt never moved"


def marks(row: dict[str, Any]) -> list[str]:
    """Why a session is not a clinic session, in words; empty for a clinic session."""
    out = []
    if row.get("simulated"):
        out.append(SIMULATED_MARK)
    if row.get("moved") == 0:
        out.append(IDLE_MARK)
    return out


def patients(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every patient, with the number of clinic sessions and of the others."""
    return _dicts(
        conn.execute(
            f"SELECT p.*, coalesce(sum({CLINIC_SQL}), 0) AS sessions, "
            f"count(s.id) - coalesce(sum({CLINIC_SQL}), 0) AS other_sessions, "
            f"max(CASE WHEN {CLINIC_SQL} THEN s.started END) AS last_session "
            "FROM patients p LEFT JOIN sessions s ON s.patient_id = p.id "
            "GROUP BY p.id ORDER BY p.pseudonym"
        )
    )


def patient(conn: sqlite3.Connection, pseudonym: str) -> dict[str, Any] | None:
    rows = _dicts(conn.execute("SELECT * FROM patients WHERE pseudonym = ?", (pseudonym,)))
    return rows[0] if rows else None


_SESSION_SELECT = (
    "SELECT s.*, p.pseudonym AS patient, "
    "(SELECT count(*) FROM samples m WHERE m.session_id = s.id) AS sample_count, "
    "(SELECT max(t_s) FROM samples m WHERE m.session_id = s.id) AS last_sample_s, "
    "(SELECT count(*) FROM events e WHERE e.session_id = s.id) AS event_count "
    "FROM sessions s LEFT JOIN patients p ON p.id = s.patient_id"
)


def session_view(row: dict[str, Any]) -> dict[str, Any]:
    """A session row as readers see it: the effective status, JSON columns decoded, marks
    (also for the clinic's records, whose rows have the same columns)."""
    row["status"] = effective_status(row["status"], row["host"], row["pid"], row["heartbeat"])
    summary = row.pop("summary_json")
    row["summary"] = json.loads(summary) if summary else None
    patient_json = row.pop("patient_json")
    row["patient_file"] = json.loads(patient_json) if patient_json else None
    prescription_json = row.pop("prescription_json", None)
    row["prescription"] = json.loads(prescription_json) if prescription_json else None
    row["marks"] = marks(row)
    return row


def sessions(
    conn: sqlite3.Connection, patient_id: int | None = None, *, include_all: bool = False
) -> list[dict[str, Any]]:
    """Sessions by id; clinic sessions only unless `include_all`."""
    where = [] if include_all else [CLINIC_SQL]
    params: tuple[Any, ...] = ()
    if patient_id is not None:
        where.append("s.patient_id = ?")
        params = (patient_id,)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    cur = conn.execute(_SESSION_SELECT + clause + " ORDER BY s.id", params)
    return [session_view(r) for r in _dicts(cur)]


def hidden_count(conn: sqlite3.Connection, patient_id: int | None = None) -> int:
    """Sessions that `sessions()` leaves out unless asked: simulated, or the belt never moved."""
    sql = f"SELECT count(*) FROM sessions s WHERE NOT {CLINIC_SQL}"
    if patient_id is None:
        return int(conn.execute(sql).fetchone()[0])
    return int(conn.execute(sql + " AND s.patient_id = ?", (patient_id,)).fetchone()[0])


def profile_sessions(
    conn: sqlite3.Connection,
    patient_id: int,
    profile_name: str,
    kind: str,
    *,
    include_all: bool = False,
) -> list[dict[str, Any]]:
    """One patient's sessions of one profile (by name) and kind, oldest first.

    Unless `include_all`: not those in which the belt never moved, and for "run" not those
    on the built-in simulator (a demo run never feeds a patient's progression; every
    "simulate" session is simulated).
    """
    hide = "" if include_all else " AND coalesce(s.moved, 1) = 1"
    if kind != "simulate" and not include_all:
        hide += " AND s.simulated = 0"
    cur = conn.execute(
        _SESSION_SELECT + " WHERE s.patient_id = ? AND s.profile_name = ? AND s.kind = ?"
        f"{hide} ORDER BY s.started, s.id",
        (patient_id, profile_name, kind),
    )
    return [session_view(r) for r in _dicts(cur)]


def session(conn: sqlite3.Connection, session_id: int) -> dict[str, Any] | None:
    rows = _dicts(conn.execute(_SESSION_SELECT + " WHERE s.id = ?", (session_id,)))
    return session_view(rows[0]) if rows else None


def segments(conn: sqlite3.Connection, session_id: int) -> list[dict[str, Any]]:
    rows = _dicts(
        conn.execute(
            "SELECT idx, label, kind, target_kmh, planned_s, moving_s, distance_m, completed, "
            "progress FROM segment_results WHERE session_id = ? ORDER BY idx",
            (session_id,),
        )
    )
    for r in rows:
        r["completed"] = bool(r["completed"])
        r["progress"] = None if r["progress"] is None else bool(r["progress"])
    return rows


def events(
    conn: sqlite3.Connection, session_id: int, kinds: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The session's event records in order; with `kinds`, only those kinds."""
    if kinds is None:
        cur = conn.execute(
            "SELECT record FROM events WHERE session_id = ? ORDER BY id", (session_id,)
        )
    else:
        marks = ", ".join("?" * len(kinds))
        cur = conn.execute(
            f"SELECT record FROM events WHERE session_id = ? AND kind IN ({marks}) ORDER BY id",
            (session_id, *kinds),
        )
    return [json.loads(row[0]) for row in cur]


def backward_samples(
    conn: sqlite3.Connection, session_id: int, standstill_kmh: float
) -> tuple[int, int]:
    """Samples with the belt moving backward, and those of them with a hand on a rail.

    Moving: the drive's reading above `standstill_kmh` with the direction backward. A rail
    that was not read (NULL) counts as held: the figure is used to judge independence, and
    an unknown must not look like walking hands-free.
    """
    row = conn.execute(
        "SELECT count(*), coalesce(sum(coalesce(rail_left, 1) OR coalesce(rail_right, 1)), 0) "
        "FROM samples WHERE session_id = ? AND direction = 'backward' AND actual_kmh > ?",
        (session_id, standstill_kmh),
    ).fetchone()
    return int(row[0]), int(row[1])


def moving_samples(conn: sqlite3.Connection, session_id: int, standstill_kmh: float) -> int:
    """Samples with the belt moving, either way."""
    row = conn.execute(
        "SELECT count(*) FROM samples WHERE session_id = ? AND actual_kmh > ?",
        (session_id, standstill_kmh),
    ).fetchone()
    return int(row[0])


def set_rpe(
    conn: sqlite3.Connection, session_id: int, value: float, scale: str, recorded: str
) -> None:
    conn.execute(
        "UPDATE sessions SET rpe = ?, rpe_scale = ?, rpe_recorded = ? WHERE id = ?",
        (value, scale, recorded, session_id),
    )


def samples(conn: sqlite3.Connection, session_id: int) -> Iterator[tuple[Any, ...]]:
    """Rows in SAMPLE_COLUMNS order, by time."""
    yield from conn.execute(
        f"SELECT {', '.join(SAMPLE_COLUMNS)} FROM samples WHERE session_id = ? ORDER BY t_s, rowid",
        (session_id,),
    )


class SqliteReader:
    """The reads the progression's history needs (treadctl.store.history.SessionReader),
    from a treadmill's own file."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def patient(self, pseudonym: str) -> dict[str, Any] | None:
        return patient(self.conn, pseudonym)

    def profile_sessions(
        self, patient_id: int, profile_name: str, kind: str, *, include_all: bool = False
    ) -> list[dict[str, Any]]:
        return profile_sessions(self.conn, patient_id, profile_name, kind, include_all=include_all)

    def segments(self, session_id: int) -> list[dict[str, Any]]:
        return segments(self.conn, session_id)

    def events(self, session_id: int, kinds: Sequence[str] | None = None) -> list[dict[str, Any]]:
        return events(self.conn, session_id, kinds)

    def backward_samples(self, session_id: int, standstill_kmh: float) -> tuple[int, int]:
        return backward_samples(self.conn, session_id, standstill_kmh)

    def moving_samples(self, session_id: int, standstill_kmh: float) -> int:
        return moving_samples(self.conn, session_id, standstill_kmh)
