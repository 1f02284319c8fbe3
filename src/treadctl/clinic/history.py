"""A patient's history from the clinic's records: every treadmill's sessions.

The same reads as the treadmill's own file (treadctl.store.queries.SqliteReader), in
PostgreSQL's SQL, so the progression judges a session the same way wherever it is read.
A session's id here is its clinic-wide id. Records that cannot be reached or read are a
ClinicUnreachableError: the caller refuses to prescribe.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from treadctl.clinic.connect import ClinicUnreachableError, Conn, connect, redact
from treadctl.clinic.schema import SCHEMA_VERSION, ClinicSchemaError, current_version
from treadctl.store.history import PastSession, load_history
from treadctl.store.queries import session_view

_SESSION_SELECT = (
    "SELECT s.*, p.pseudonym AS patient, "
    "(SELECT count(*) FROM samples m WHERE m.session_id = s.id) AS sample_count, "
    "(SELECT max(t_s) FROM samples m WHERE m.session_id = s.id) AS last_sample_s, "
    "(SELECT count(*) FROM events e WHERE e.session_id = s.id) AS event_count "
    "FROM sessions s LEFT JOIN patients p ON p.id = s.patient_id"
)


class ClinicReader:
    """The progression's reads (treadctl.store.history.SessionReader) on the clinic's records."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    def _rows(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql.encode(), params)
            return list(cur.fetchall())

    def patient(self, pseudonym: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM patients WHERE pseudonym = %s", (pseudonym,))
        return rows[0] if rows else None

    def profile_sessions(
        self, patient_id: int, profile_name: str, kind: str, *, include_all: bool = False
    ) -> list[dict[str, Any]]:
        hide = "" if include_all else " AND coalesce(s.moved, 1) = 1"
        if kind != "simulate" and not include_all:
            hide += " AND s.simulated = 0"
        rows = self._rows(
            _SESSION_SELECT + " WHERE s.patient_id = %s AND s.profile_name = %s "
            f"AND s.kind = %s{hide} ORDER BY s.started, s.id",
            (patient_id, profile_name, kind),
        )
        return [session_view(r) for r in rows]

    def segments(self, session_id: int) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT idx, label, kind, target_kmh, planned_s, moving_s, distance_m, completed, "
            "progress FROM segment_results WHERE session_id = %s ORDER BY idx",
            (session_id,),
        )
        for r in rows:
            r["completed"] = bool(r["completed"])
            r["progress"] = None if r["progress"] is None else bool(r["progress"])
        return rows

    def events(self, session_id: int, kinds: Sequence[str] | None = None) -> list[dict[str, Any]]:
        if kinds is None:
            sql, params = (
                "SELECT record FROM events WHERE session_id = %s ORDER BY seq",
                (session_id,),
            )
            rows = self._rows(sql, params)
        else:
            rows = self._rows(
                "SELECT record FROM events WHERE session_id = %s AND kind = ANY(%s) ORDER BY seq",
                (session_id, list(kinds)),
            )
        return [json.loads(r["record"]) for r in rows]

    def backward_samples(self, session_id: int, standstill_kmh: float) -> tuple[int, int]:
        """As queries.backward_samples: a rail not read (NULL) counts as held."""
        rows = self._rows(
            "SELECT count(*) AS n, coalesce(sum(CASE WHEN coalesce(rail_left, 1) <> 0 "
            "OR coalesce(rail_right, 1) <> 0 THEN 1 ELSE 0 END), 0) AS rail FROM samples "
            "WHERE session_id = %s AND direction = 'backward' AND actual_kmh > %s",
            (session_id, standstill_kmh),
        )
        return int(rows[0]["n"]), int(rows[0]["rail"])

    def moving_samples(self, session_id: int, standstill_kmh: float) -> int:
        rows = self._rows(
            "SELECT count(*) AS n FROM samples WHERE session_id = %s AND actual_kmh > %s",
            (session_id, standstill_kmh),
        )
        return int(rows[0]["n"])

    def treadmills_of(self, session_ids: Sequence[int]) -> list[str]:
        rows = self._rows(
            "SELECT DISTINCT treadmill_id FROM sessions WHERE id = ANY(%s) ORDER BY 1",
            (list(session_ids),),
        )
        return [str(r["treadmill_id"]) for r in rows]


def load_clinic_history(
    url: str,
    pseudonym: str,
    profile_name: str,
    kind: str,
    standstill_kmh: float,
    profile_sha256: str | None = None,
    *,
    include_all: bool = False,
) -> tuple[list[PastSession], str]:
    """The patient's sessions on every treadmill, oldest first, and where they were read.

    Read only: a clinic database without treadctl's tables (or newer than this treadctl)
    is refused, not created, since an empty history would prescribe first-session targets.
    """
    where = redact(url)
    conn = connect(url)
    try:
        version = current_version(conn)
        if version == 0:
            raise ClinicUnreachableError(where, "holds no treadctl records (no schema)")
        if version > SCHEMA_VERSION:
            raise ClinicSchemaError(f"clinic schema version {version} is newer than this treadctl")
        reader = ClinicReader(conn)
        sessions = load_history(
            reader,
            pseudonym,
            profile_name,
            kind,
            standstill_kmh,
            profile_sha256,
            include_all=include_all,
        )
        treadmills = reader.treadmills_of([s.session_id for s in sessions])
    except (psycopg.Error, ClinicSchemaError) as exc:
        raise ClinicUnreachableError(where, f"cannot read the history: {exc}") from exc
    finally:
        conn.close()
    on = f" on {', '.join(treadmills)}" if treadmills else ""
    return sessions, f"clinic records {where} ({len(sessions)} sessions{on})"
