"""The clinic verbs' reads (cli/clinic.py, cli/records.py): patients and sessions of every
treadmill, from PostgreSQL.

`patients list|show` and `sessions list|show` against the clinic's records (a
postgresql:// --db, or the URL of a clinic file), printed like the treadmill's own verbs
(treadctl.cli.database) with the treadmill each session ran on. Clinic sessions only
unless `include_all` (demo runs and sessions in which the belt never moved are counted
apart), as on a treadmill. Records that cannot be read: ClinicUnreachableError.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

import psycopg
from psycopg.rows import dict_row

from treadctl.clinic.connect import ClinicUnreachableError, Conn, connect, redact
from treadctl.clinic.history import _SESSION_SELECT
from treadctl.clinic.schema import SCHEMA_VERSION, current_version
from treadctl.store.db import DatabaseError
from treadctl.store.queries import session_view
from treadctl.store.segment_table import segment_table_lines

CLINIC_SQL = "(s.simulated = 0 AND coalesce(s.moved, 1) = 1)"


@contextmanager
def records(url: str) -> Iterator[Conn]:
    """A read connection to records that hold treadctl's schema (else a refusal)."""
    where = redact(url)
    conn = connect(url)
    try:
        version = current_version(conn)
        if version == 0:
            raise ClinicUnreachableError(where, "holds no treadctl records (no schema)")
        if version > SCHEMA_VERSION:
            raise ClinicUnreachableError(where, f"schema version {version} is newer than this")
        yield conn
    except psycopg.Error as exc:
        raise ClinicUnreachableError(where, f"cannot read: {exc}") from exc
    finally:
        conn.close()


def rows(conn: Conn, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql.encode(), params)
        return list(cur.fetchall())


def patients(conn: Conn) -> list[dict[str, Any]]:
    return rows(
        conn,
        f"SELECT p.*, coalesce(sum(CASE WHEN {CLINIC_SQL} THEN 1 ELSE 0 END), 0) AS sessions, "
        f"count(s.id) - coalesce(sum(CASE WHEN {CLINIC_SQL} THEN 1 ELSE 0 END), 0) "
        "AS other_sessions, "
        f"max(CASE WHEN {CLINIC_SQL} THEN s.started END) AS last_session, "
        "string_agg(DISTINCT s.treadmill_id, ', ') AS treadmills "
        "FROM patients p LEFT JOIN sessions s ON s.patient_id = p.id "
        "GROUP BY p.id ORDER BY p.pseudonym",
    )


def patient(conn: Conn, pseudonym: str) -> dict[str, Any] | None:
    found = rows(conn, "SELECT * FROM patients WHERE pseudonym = %s", (pseudonym,))
    return found[0] if found else None


def sessions(
    conn: Conn, patient_id: int | None = None, *, include_all: bool = False
) -> tuple[list[dict[str, Any]], int]:
    """(sessions by start, how many were left out)."""
    where: list[str] = []
    params: list[Any] = []
    if patient_id is not None:
        where.append("s.patient_id = %s")
        params.append(patient_id)
    every = rows(
        conn,
        _SESSION_SELECT
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + " ORDER BY s.started, s.id",
        params,
    )
    shown = [
        session_view(r)
        for r in every
        if include_all or (not r["simulated"] and (r["moved"] is None or r["moved"]))
    ]
    return shown, len(every) - len(shown)


def session(conn: Conn, session_id: int) -> dict[str, Any] | None:
    found = rows(conn, _SESSION_SELECT + " WHERE s.id = %s", (session_id,))
    return session_view(found[0]) if found else None


def _when(iso: str | None) -> str:
    return "-" if not iso else iso[:16].replace("T", " ")


def _kmh(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _mmss(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    m, s = divmod(max(seconds, 0.0), 60)
    return f"{int(m):02d}:{s:02.0f}"


def session_table(found: list[dict[str, Any]], out: TextIO) -> None:
    if not found:
        return
    out.write(
        f"  {'id':>5s}  {'started (UTC)':16s}  {'treadmill':12s} {'patient':12s} {'kind':8s} "
        f"{'status':11s} {'samples':>7s}  profile: outcome\n"
    )
    for s in found:
        out.write(
            f"  {s['id']:>5d}  {_when(s['started']):16s}  {s['treadmill_id']:12s} "
            f"{s['patient'] or '-':12s} {s['kind']:8s} {s['status']:11s} "
            f"{s['sample_count']:>7d}  {s['profile_name']}: {s['outcome'] or '(running)'}"
            + (f"  [{'; '.join(s['marks'])}]" if s["marks"] else "")
            + "\n"
        )


def _hidden(n: int) -> str:
    return f"  ({n} more not shown: simulated or the belt never moved; --all shows them)"


def patients_list(url: str, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout
    with records(url) as conn:
        found = patients(conn)
    if not found:
        out.write(f"no patients in {redact(url)}\n")
        return 0
    out.write(
        f"{'pseudonym':16s} {'sessions':>8s} {'other':>5s}  {'last session':16s}  treadmills\n"
    )
    for p in found:
        out.write(
            f"{p['pseudonym']:16s} {p['sessions']:>8d} {p['other_sessions']:>5d}  "
            f"{_when(p['last_session']):16s}  {p['treadmills'] or '-'}\n"
        )
    return 0


def patients_show(
    url: str, pseudonym: str, include_all: bool = False, out: TextIO | None = None
) -> int:
    out = out if out is not None else sys.stdout
    with records(url) as conn:
        p = patient(conn, pseudonym)
        if p is None:
            raise DatabaseError(redact(url), f"no patient {pseudonym!r}")
        found, hidden = sessions(conn, p["id"], include_all=include_all)
    out.write(f"patient {p['pseudonym']} (clinic records {redact(url)})\n")
    out.write(f"  comfortable forward: {_kmh(p['comfortable_forward_kmh'])} km/h\n")
    out.write(f"  max forward:         {_kmh(p['max_forward_kmh'])} km/h\n")
    out.write(f"  max backward:        {_kmh(p['max_backward_kmh'])} km/h\n")
    out.write(f"  sessions:            {len(found)}\n")
    session_table(found, out)
    if hidden:
        out.write(_hidden(hidden) + "\n")
    return 0


def sessions_list(
    url: str, pseudonym: str | None, include_all: bool = False, out: TextIO | None = None
) -> int:
    out = out if out is not None else sys.stdout
    with records(url) as conn:
        pid = None
        if pseudonym is not None:
            p = patient(conn, pseudonym)
            if p is None:
                raise DatabaseError(redact(url), f"no patient {pseudonym!r}")
            pid = p["id"]
        found, hidden = sessions(conn, pid, include_all=include_all)
    if not found:
        out.write(
            f"no sessions in {redact(url)}" + (f" for {pseudonym}" if pseudonym else "") + "\n"
        )
    session_table(found, out)
    if hidden:
        out.write(_hidden(hidden) + "\n")
    return 0


def sessions_show(url: str, session_id: int, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout
    with records(url) as conn:
        s = session(conn, session_id)
        if s is None:
            raise DatabaseError(redact(url), f"no session {session_id}")
        segs = rows(
            conn,
            "SELECT idx, label, kind, target_kmh, planned_s, moving_s, distance_m, completed "
            "FROM segment_results WHERE session_id = %s ORDER BY idx",
            (session_id,),
        )
    out.write(
        "\n".join(
            [
                f"session {s['id']} (clinic records {redact(url)})",
                f"  treadmill: {s['treadmill_id']} (its session {s['local_id']})",
                f"  status:    {s['status']}",
                f"  outcome:   {s['outcome'] or '-'}",
                f"  kind:      {s['kind']}" + (f" [{'; '.join(s['marks'])}]" if s["marks"] else ""),
                f"  patient:   {s['patient'] or '-'}",
                f"  profile:   {s['profile_name']}",
                f"  machine:   {s['machine_name']}",
                f"  started:   {s['started']}",
                f"  ended:     {s['ended'] or '-'}",
                f"  recorded:  {s['sample_count']} samples up to {_mmss(s['last_sample_s'])}, "
                f"{s['event_count']} events",
                *segment_table_lines(segs, s.get("segments_recount")),
            ]
        )
        + "\n"
    )
    return 0
