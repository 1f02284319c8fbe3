"""FHIR export of sessions from either store: a treadmill's file or the clinic's records."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from treadctl.clinic.connect import ClinicUnreachableError, connect, redact
from treadctl.clinic.fhir import SampleStats, bundle, session_observations, stats_params, stats_sql
from treadctl.clinic.history import ClinicReader
from treadctl.store import queries
from treadctl.store.db import DatabaseError, open_db
from treadctl.store.timeutil import utc_iso

DEFAULT_STANDSTILL_KMH = 0.05  # sessions recorded before the store kept their own


def _standstill(session: dict[str, Any]) -> float:
    value = session.get("standstill_kmh")
    return DEFAULT_STANDSTILL_KMH if value is None else float(value)


def local_bundle(db: Path, session_ids: Sequence[int], treadmill_id: str) -> dict[str, Any]:
    """The sessions of a treadmill's file as one FHIR Bundle (DatabaseError: no such session)."""
    conn = open_db(db, create=False)
    try:
        observations: list[dict[str, Any]] = []
        for sid in session_ids:
            s = queries.session(conn, sid)
            if s is None:
                raise DatabaseError(db, f"no session {sid}")
            row = conn.execute(stats_sql("?"), stats_params(sid, _standstill(s))).fetchone()
            observations += session_observations(
                s, queries.segments(conn, sid), SampleStats.from_row(row), treadmill_id
            )
    except sqlite3.Error as exc:
        raise DatabaseError(db, f"cannot read: {exc}") from exc
    finally:
        conn.close()
    return bundle(observations, utc_iso(time.time()))


def clinic_bundle(url: str, pseudonym: str) -> dict[str, Any]:
    """Every session of the patient in the clinic's records, on every treadmill."""
    conn = connect(url)
    try:
        reader = ClinicReader(conn)
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT s.*, p.pseudonym AS patient FROM sessions s "
                "JOIN patients p ON p.id = s.patient_id WHERE p.pseudonym = %s "
                "ORDER BY s.started, s.id",
                (pseudonym,),
            )
            rows = list(cur.fetchall())
        observations: list[dict[str, Any]] = []
        for s in rows:
            sid = int(s["id"])
            got = conn.execute(
                stats_sql("%s").encode(), stats_params(sid, _standstill(s))
            ).fetchone()
            assert got is not None
            observations += session_observations(
                s, reader.segments(sid), SampleStats.from_row(got), str(s["treadmill_id"])
            )
    except psycopg.Error as exc:
        raise ClinicUnreachableError(redact(url), f"cannot read: {exc}") from exc
    finally:
        conn.close()
    return bundle(observations, utc_iso(time.time()))
