"""Everything the report shows, read from the database at once: the session, its
segments, events and 10 Hz samples, and the patient's earlier sessions."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from treadctl.store import queries
from treadctl.store.db import DatabaseError, effective_status, open_db
from treadctl.store.history import PastSession, past_session
from treadctl.store.report.stops import Stop, stops_from_events


@dataclass(frozen=True, slots=True)
class _History:
    session_id: int
    started: str
    status: str
    target_kmh: float | None
    backward_s: float
    backward_m: float
    stops: list[Stop]
    rpe: float | None = None
    rail_share: float | None = None


def _history(conn: sqlite3.Connection, s: dict[str, Any]) -> list[_History]:
    """Every session of the same patient, profile (by name) and kind (a run's report shows
    runs, a simulation's simulations) up to this one, oldest first: of the same sort as
    this one (clinic sessions, or demo runs on the simulator), and never one in which the
    belt did not move (but this one)."""
    rows = conn.execute(
        "SELECT s.id, s.started, s.status, s.host, s.pid, s.heartbeat, "
        "(SELECT max(g.target_kmh) FROM segment_results g "
        " WHERE g.session_id = s.id AND g.kind = 'backward'), "
        "(SELECT coalesce(sum(g.moving_s), 0) FROM segment_results g "
        " WHERE g.session_id = s.id AND g.kind = 'backward'), "
        "(SELECT coalesce(sum(g.distance_m), 0) FROM segment_results g "
        " WHERE g.session_id = s.id AND g.kind = 'backward') "
        "FROM sessions s WHERE s.patient_id = ? AND s.profile_name = ? AND s.kind = ? "
        "AND (s.started < ? OR (s.started = ? AND s.id <= ?)) "
        "AND (s.id = ? OR (coalesce(s.moved, 1) = 1 AND s.simulated = ?)) "
        "ORDER BY s.started, s.id",
        (
            s["patient_id"],
            s["profile_name"],
            s["kind"],
            s["started"],
            s["started"],
            s["id"],
            s["id"],
            int(bool(s.get("simulated"))),
        ),
    ).fetchall()
    out = []
    for sid, started, status, host, pid, heartbeat, target, back_s, back_m in rows:
        records = [
            _loads(r[0])
            for r in conn.execute(
                "SELECT record FROM events WHERE session_id = ? AND kind = 'transition' "
                "ORDER BY id",
                (sid,),
            )
        ]
        row = queries.session(conn, sid)
        past = None if row is None else past_session(conn, row, 0.05)
        out.append(
            _History(
                sid,
                started,
                effective_status(status, host, pid, heartbeat),
                None if target is None else float(target),
                float(back_s),
                float(back_m),
                stops_from_events(records),
                None if past is None else past.rpe,
                None if past is None else past.rail_share,
            )
        )
    return out


def _loads(text: str) -> dict[str, Any]:
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


@dataclass
class _Data:
    db: Path
    session: dict[str, Any]
    segments: list[dict[str, Any]]
    events: list[dict[str, Any]]
    t_s: list[float]
    target: list[float]
    actual: list[float | None]
    backward: list[bool]
    history: list[_History]
    rail: list[bool] = field(default_factory=list)  # a hand on a rail (unread: held)
    past: PastSession | None = None  # the session as the progression reads it
    # the powered incline at the samples' times (target, measured %); empty: none driven
    incline_target: list[float | None] = field(default_factory=list)
    incline_actual: list[float | None] = field(default_factory=list)

    @property
    def had_incline(self) -> bool:
        return any(v is not None for v in (*self.incline_actual, *self.incline_target))


def _read(db: Path, session_id: int) -> _Data:
    conn = open_db(db, create=False)
    try:
        s = queries.session(conn, session_id)
        if s is None:
            raise DatabaseError(db, f"no session {session_id}")
        cols = queries.SAMPLE_COLUMNS
        it, itg, ia, idr = (cols.index(c) for c in ("t_s", "target_kmh", "actual_kmh", "direction"))
        irl, irr = cols.index("rail_left"), cols.index("rail_right")
        t_s, target, actual, backward, rail = [], [], [], [], []
        for row in queries.samples(conn, session_id):
            t_s.append(float(row[it]))
            target.append(float(row[itg]))
            actual.append(None if row[ia] is None else float(row[ia]))
            backward.append(row[idr] == "backward")
            rail.append(
                bool(1 if row[irl] is None else row[irl])
                or bool(1 if row[irr] is None else row[irr])
            )
        inc_target, inc_actual = _incline_samples(conn, session_id)
        return _Data(
            db,
            s,
            queries.segments(conn, session_id),
            queries.events(conn, session_id),
            t_s,
            target,
            actual,
            backward,
            _history(conn, s) if s["patient_id"] is not None else [],
            rail,
            past_session(conn, s, 0.05),
            inc_target,
            inc_actual,
        )
    except sqlite3.Error as exc:
        raise DatabaseError(db, f"cannot read: {exc}") from exc
    finally:
        conn.close()


def _incline_samples(
    conn: sqlite3.Connection, session_id: int
) -> tuple[list[float | None], list[float | None]]:
    """The incline's target and measured % of each sample, in queries.samples' order."""
    target: list[float | None] = []
    actual: list[float | None] = []
    for tgt, act in conn.execute(
        "SELECT incline_target_pct, incline_pct FROM samples WHERE session_id = ? "
        "ORDER BY t_s, rowid",
        (session_id,),
    ):
        target.append(None if tgt is None else float(tgt))
        actual.append(None if act is None else float(act))
    return target, actual
