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
    "direction",
    "incline_pct",
    "rail_left",
    "rail_right",
    "heart_rate_bpm",
    "mode",
)


def _dicts(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def patients(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return _dicts(
        conn.execute(
            "SELECT p.*, count(s.id) AS sessions, max(s.started) AS last_session "
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


def _session_view(row: dict[str, Any]) -> dict[str, Any]:
    row["status"] = effective_status(row["status"], row["host"], row["pid"], row["heartbeat"])
    summary = row.pop("summary_json")
    row["summary"] = json.loads(summary) if summary else None
    patient_json = row.pop("patient_json")
    row["patient_file"] = json.loads(patient_json) if patient_json else None
    prescription_json = row.pop("prescription_json", None)
    row["prescription"] = json.loads(prescription_json) if prescription_json else None
    return row


def sessions(conn: sqlite3.Connection, patient_id: int | None = None) -> list[dict[str, Any]]:
    if patient_id is None:
        cur = conn.execute(_SESSION_SELECT + " ORDER BY s.id")
    else:
        cur = conn.execute(_SESSION_SELECT + " WHERE s.patient_id = ? ORDER BY s.id", (patient_id,))
    return [_session_view(r) for r in _dicts(cur)]


def profile_sessions(
    conn: sqlite3.Connection, patient_id: int, profile_name: str, kind: str
) -> list[dict[str, Any]]:
    """One patient's sessions of one profile (by name) and kind, oldest first."""
    cur = conn.execute(
        _SESSION_SELECT + " WHERE s.patient_id = ? AND s.profile_name = ? AND s.kind = ? "
        "ORDER BY s.started, s.id",
        (patient_id, profile_name, kind),
    )
    return [_session_view(r) for r in _dicts(cur)]


def session(conn: sqlite3.Connection, session_id: int) -> dict[str, Any] | None:
    rows = _dicts(conn.execute(_SESSION_SELECT + " WHERE s.id = ?", (session_id,)))
    return _session_view(rows[0]) if rows else None


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
