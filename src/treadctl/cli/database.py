"""`treadctl patients ...`, `treadctl sessions ...` and `treadctl progress`: the session
database on the console (their parsers are in cli/records.py). The treadmill's own file
only: given the clinic's records (`--db postgresql://...`) cli/records.py reads them with
treadctl.clinic.reads.

Every failure raises DatabaseError naming the database file and the reason (a rating that
is not on its scale: RpeError); the CLI prints it and exits with 2.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from treadctl.config.loader import load_model
from treadctl.config.patient import PatientConfig
from treadctl.protocol.progression import Outcome, ProgressionParams
from treadctl.store import export, queries
from treadctl.store.db import DatabaseError, open_db, upsert_patient
from treadctl.store.history import (
    GUESSED_NOTE,
    RPE_SCALES,
    PastSession,
    Progress,
    RecordsHistory,
    RpeError,
    load_history,
    load_progress,
    mmss,
)
from treadctl.store.segment_table import segment_table_lines
from treadctl.store.timeutil import utc_iso


@contextlib.contextmanager
def _db(path: Path, create: bool = False) -> Iterator[sqlite3.Connection]:
    conn = open_db(path, create=create)
    try:
        yield conn
    except sqlite3.Error as exc:
        raise DatabaseError(path, f"cannot read: {exc}") from exc
    finally:
        conn.close()


def _mmss(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    m, s = divmod(max(seconds, 0.0), 60)
    return f"{int(m):02d}:{s:04.1f}"


def _when(iso: str | None) -> str:
    return "-" if not iso else iso[:19].replace("T", " ")


def _kmh(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _duration(s: dict[str, Any]) -> float | None:
    summary = s["summary"]
    if summary is not None:
        return float(summary["duration_s"])
    last = s["last_sample_s"]
    return None if last is None else float(last)


def patients_add(db: Path, patient_file: Path) -> int:
    patient = load_model(patient_file, PatientConfig)
    with _db(db, create=True) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            _, done = upsert_patient(conn, patient)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    print(f"{patient.pseudonym}: {done} ({db})")
    return 0


def patients_list(db: Path) -> int:
    with _db(db) as conn:
        rows = queries.patients(conn)
    if not rows:
        print(f"no patients in {db}")
        return 0
    print(
        f"{'pseudonym':16s} {'comfortable':>11s} {'max fwd':>7s} {'max bwd':>7s} "
        f"{'sessions':>8s} {'other':>5s}  last session (UTC)"
    )
    for p in rows:
        print(
            f"{p['pseudonym']:16s} {_kmh(p['comfortable_forward_kmh']):>11s} "
            f"{_kmh(p['max_forward_kmh']):>7s} {_kmh(p['max_backward_kmh']):>7s} "
            f"{p['sessions']:>8d} {p['other_sessions']:>5d}  {_when(p['last_session'])}"
        )
    if any(p["other_sessions"] for p in rows):
        print(f"other: {_HIDDEN_WORDS}, not counted in sessions")
    return 0


_HIDDEN_WORDS = "simulated (built-in simulator) or the belt never moved"


def _hidden_line(n: int) -> str:
    which = "session" if n == 1 else "sessions"
    return f"  ({n} more {which} not shown: {_HIDDEN_WORDS}; --all shows them)"


def patients_show(db: Path, pseudonym: str, include_all: bool = False) -> int:
    with _db(db) as conn:
        p = queries.patient(conn, pseudonym)
        if p is None:
            raise DatabaseError(db, f"no patient {pseudonym!r}")
        rows = queries.sessions(conn, p["id"], include_all=include_all)
        hidden = 0 if include_all else queries.hidden_count(conn, p["id"])
    print(f"patient {p['pseudonym']} ({db})")
    print(f"  comfortable forward: {_kmh(p['comfortable_forward_kmh'])} km/h")
    print(f"  max forward:         {_kmh(p['max_forward_kmh'])} km/h")
    print(f"  max backward:        {_kmh(p['max_backward_kmh'])} km/h")
    print(f"  notes:               {p['notes'] or '-'}")
    print(f"  created:             {p['created']}")
    print(f"  updated:             {p['updated']}")
    print(f"  sessions:            {len(rows)}")
    _session_table(rows, sys.stdout)
    if hidden:
        print(_hidden_line(hidden))
    return 0


def _session_table(rows: list[dict[str, Any]], out: TextIO) -> None:
    if not rows:
        return
    out.write(
        f"  {'id':>4s}  {'started (UTC)':19s}  {'patient':12s} {'kind':8s} {'status':11s} "
        f"{'time':>7s}  profile: outcome\n"
    )
    for s in rows:
        out.write(
            f"  {s['id']:>4d}  {_when(s['started'])}  {s['patient'] or '-':12s} "
            f"{s['kind']:8s} {s['status']:11s} {_mmss(_duration(s)):>7s}  "
            f"{s['profile_name']}: {s['outcome'] or '(running)'}"
            + (f"  [{'; '.join(s['marks'])}]" if s["marks"] else "")
            + "\n"
        )


def sessions_list(db: Path, pseudonym: str | None, include_all: bool = False) -> int:
    with _db(db) as conn:
        patient_id = None
        if pseudonym is not None:
            p = queries.patient(conn, pseudonym)
            if p is None:
                raise DatabaseError(db, f"no patient {pseudonym!r}")
            patient_id = p["id"]
        rows = queries.sessions(conn, patient_id, include_all=include_all)
        hidden = 0 if include_all else queries.hidden_count(conn, patient_id)
    if not rows:
        which = "clinic sessions" if hidden else "sessions"
        print(f"no {which} in {db}" + (f" for {pseudonym}" if pseudonym else ""))
    _session_table(rows, sys.stdout)
    if hidden:
        print(_hidden_line(hidden))
    return 0


def _session(conn: sqlite3.Connection, db: Path, session_id: int) -> dict[str, Any]:
    s = queries.session(conn, session_id)
    if s is None:
        raise DatabaseError(db, f"no session {session_id}")
    return s


def sessions_show(db: Path, session_id: int) -> int:
    with _db(db) as conn:
        s = _session(conn, db, session_id)
        segs = queries.segments(conn, session_id)
    digest = f" (sha256 {s['profile_sha256'][:12]})" if s["profile_sha256"] else ""
    lines = [
        f"session {s['id']} ({db})",
        f"  status:   {s['status']}",
        f"  outcome:  {s['outcome'] or '-'}",
        f"  kind:     {s['kind']}"
        + (f" [{'; '.join(s['marks'])}: not a clinic session]" if s["marks"] else ""),
        f"  patient:  {s['patient'] or '-'}",
        f"  profile:  {s['profile_name']}{digest}",
        f"  machine:  {s['machine_name']}",
        f"  started:  {s['started']}",
        f"  ended:    {s['ended'] or '-'}",
        f"  planned:  {_mmss(s['planned_s'])}",
        f"  RPE:      {_rpe_text(s)}",
        f"  recorded: {s['sample_count']} samples up to {_mmss(s['last_sample_s'])}, "
        f"{s['event_count']} events",
        *_prescription_lines(s),
    ]
    lines.extend(segment_table_lines(segs, s.get("segments_recount")))
    summary = s["summary"]
    if summary is None:
        lines.append(
            "  no session summary: the controller did not end the session "
            + ("(it is still running)" if s["status"] == "running" else "(interrupted)")
        )
    else:
        lines.extend(summary["lines"])
        shown = set(summary["lines"])
        lines.extend(
            f"  WARNING: {w}" for w in summary["warnings"] if f"  WARNING: {w}" not in shown
        )
    print("\n".join(lines))
    return 0


def sessions_report(db: Path, session_id: int, out: Path | None) -> int:
    """`treadctl sessions report ID [--out FILE]`: 0, or 2 with one line naming the file."""
    from treadctl.store.report import default_out, write_report  # noqa: PLC0415 - matplotlib

    target = default_out(db, session_id) if out is None else out
    try:
        write_report(db, session_id, target)
    except DatabaseError as exc:
        print(f"treadctl: {exc}", file=sys.stderr)
        return 2
    print(f"session {session_id} report written to {target}", file=sys.stderr)
    return 0


def sessions_export(db: Path, session_id: int, fmt: str, out_path: Path | None) -> int:
    with _db(db) as conn:
        s = _session(conn, db, session_id)
        try:
            with contextlib.ExitStack() as stack:
                out: TextIO = sys.stdout
                if out_path is not None:
                    out = stack.enter_context(out_path.open("w", encoding="utf-8", newline=""))
                if fmt == "csv":
                    export.write_csv(conn, session_id, out)
                else:
                    export.write_json(conn, s, out)
        except OSError as exc:
            raise DatabaseError(out_path or "stdout", f"cannot write: {exc}") from exc
    if out_path is not None:
        print(f"session {session_id} exported to {out_path} ({fmt})", file=sys.stderr)
    return 0


def _rpe_text(s: dict[str, Any]) -> str:
    if s.get("rpe") is None:
        return "-"
    scale = RPE_SCALES.get(s.get("rpe_scale") or "")
    label = scale.label if scale is not None else s.get("rpe_scale")
    return f"{s['rpe']:g} ({label}, recorded {_when(s.get('rpe_recorded'))})"


def _prescription_lines(s: dict[str, Any]) -> list[str]:
    rx = s.get("prescription")
    if not rx:
        return []
    return [f"  progression: {rx['target_kmh']:g} km/h, bouts {rx['bout_s']:g} s: {rx['reason']}"]


def sessions_rpe(db: Path, session_id: int, value: str, scale_key: str) -> int:
    """Record (or correct) a session's rating of perceived exertion."""
    scale = RPE_SCALES[scale_key]
    try:
        rating = scale.parse(value)
    except RpeError as exc:
        raise RpeError(f"session {session_id}: {exc}; nothing recorded") from None
    with _db(db) as conn:
        s = _session(conn, db, session_id)
        if s["status"] == "running":
            raise DatabaseError(
                db, f"session {session_id} is still running: record its RPE after it ends"
            )
        conn.execute("BEGIN IMMEDIATE")
        try:
            queries.set_rpe(conn, session_id, rating, scale.key, utc_iso(time.time()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    was = ""
    if s.get("rpe") is not None:
        old_scale = RPE_SCALES.get(s.get("rpe_scale") or "")
        was = f" (was {s['rpe']:g}" + (f", {old_scale.label})" if old_scale else ")")
    print(f"session {session_id}: RPE {rating:g} ({scale.label}) recorded{was}")
    return 0


_OUTCOME_WORDS = {
    Outcome.COMPLETED: "completed",
    Outcome.INCOMPLETE: "incomplete",
    Outcome.SAFETY_STOP: "safety stop",
}


def _rules_line(progress: Progress) -> str:
    p = progress.params
    change = f"+{p.step_kmh:g} km/h up to {p.cap_kmh:g} km/h"
    if p.lengthens:
        change = f"bouts +{p.bout_step_s:g} s up to {p.bout_cap_s:g} s, then " + change
    n = p.after_sessions
    inside = ["after a session complete" if n == 1 else f"after {n} sessions in a row complete"]
    if p.rail_contact_below_pct is not None:
        inside.append(f"rail contact below {p.rail_contact_below_pct:g} %")
    if p.rpe_at_most is not None:
        scale = f" ({progress.rpe_scale.label})" if progress.rpe_scale else ""
        inside.append(f"RPE at most {p.rpe_at_most:g}{scale}")
    back = f"{p.step_back_kmh:g} km/h"
    if p.bout_step_s is not None:
        back += f" and {p.bout_step_s:g} s"
    rule = inside[0]
    if inside[1:]:
        rule += " with " + " and ".join(inside[1:])
    return (
        f"rules: {change} {rule}; a safety stop steps back {back}, never below {p.start_kmh:g} km/h"
    )


def _history_row(n: str, s: PastSession, lengthens: bool) -> str:
    outcome = _OUTCOME_WORDS[s.outcome] if s.outcome is not None else "not counted"
    share = s.rail_share
    rail = "-" if share is None else f"{share * 100:.0f} %"
    rpe = "-" if s.rpe is None else f"{s.rpe:g}"
    target = "-" if s.target_kmh is None else f"{s.target_kmh:.2f}"
    bout = ""
    if lengthens:
        bout = "      -" if s.bout_s is None else f"  {s.bout_s:5g}"
    notes = [] if s.outcome is Outcome.COMPLETED else [s.grounds]
    notes += s.notes
    notes += [f"[{m}]" for m in s.marks]
    return (
        f"  {n:>3s} {s.session_id:>5d}  {_when(s.started)[:16]:16s}  {outcome:12s} "
        f"{mmss(s.backward_s):>8s} {rail:>5s} {rpe:>4s} {target:>7s}{bout}"
        + (f"  {'; '.join(notes)}" if notes else "")
    )


def progress_lines(progress: Progress, pseudonym: str, profile_name: str, where: str) -> list[str]:
    """The history table, one line a session, and the next prescription with its reason."""
    p = progress.params
    lengthens = p.lengthens
    out = [f"progress of {pseudonym} on {profile_name!r} ({where})", _rules_line(progress)]
    if progress.sessions:
        out.append(
            f"  {'#':>3s} {'id':>5s}  {'date (UTC)':16s}  {'outcome':12s} {'backward':>8s} "
            f"{'rail':>5s} {'RPE':>4s} {'target':>7s}"
            + ("  bout s" if lengthens else "")
            + "  notes"
        )
        n = 0
        for s in progress.sessions:
            label = "-"
            if s.counted:
                n += 1
                label = str(n)
            out.append(_history_row(label, s, lengthens))
    else:
        out.append("  no sessions recorded")
    rx = progress.prescription
    out.append(f"next: {rx.reason}")
    out.append(
        f"  progressing segments: {rx.target_kmh:g} km/h"
        + (f", bouts {rx.bout_s:g} s" if lengthens else "")
    )
    out += [f"  note: {note}" for note in progress.notes]
    return out


def _walked_s(conn: sqlite3.Connection, session_id: int) -> float:
    return sum(float(g["moving_s"]) for g in queries.segments(conn, session_id))


def history_lines(
    db: Path,
    pseudonym: str,
    profile_name: str,
    kind: str,
    standstill_kmh: float,
    where: str,
    *,
    include_all: bool = False,
) -> list[str]:
    """A patient's sessions of a profile that has no progression rule: what was done and
    when, and that there is nothing to prescribe from."""
    with _db(db) as conn:
        past = load_history(
            conn, pseudonym, profile_name, kind, standstill_kmh, include_all=include_all
        )
        walked = {s.session_id: _walked_s(conn, s.session_id) for s in past}
    out = [
        f"history of {pseudonym} on {profile_name!r} ({where})",
        "no progression rule: the profile has no [progression] section, so there is no",
        "next prescription to give; the sessions as recorded:",
    ]
    if not past:
        out.append("  no sessions recorded")
        return out
    out.append(
        f"  {'id':>5s}  {'date (UTC)':16s}  {'status':11s} {'walked':>8s} {'backward':>8s} "
        f"{'rail':>5s} {'RPE':>4s} {'target':>7s}  notes"
    )
    for s in past:
        rail = "-" if s.rail_share is None else f"{s.rail_share * 100:.0f} %"
        rpe = "-" if s.rpe is None else f"{s.rpe:g}"
        target = "-" if s.target_kmh is None else f"{s.target_kmh:.2f}"
        notes = [s.grounds] if s.outcome is Outcome.SAFETY_STOP else []
        notes += [n for n in s.notes if n != GUESSED_NOTE]
        notes += [f"[{m}]" for m in s.marks]
        out.append(
            f"  {s.session_id:>5d}  {_when(s.started)[:16]:16s}  {s.status:11s} "
            f"{mmss(walked[s.session_id]):>8s} {mmss(s.backward_s):>8s} {rail:>5s} {rpe:>4s} "
            f"{target:>7s}" + (f"  {'; '.join(notes)}" if notes else "")
        )
    out.append(
        "  walked: moving time of every segment; backward: of the backward ones; rail: "
        "share of backward walking with a hand on a rail; target: lowest backward target"
    )
    return out


def progress_of(
    db: Path | str,  # a treadmill file, or the clinic records' postgresql:// URL
    params: ProgressionParams,
    pseudonym: str,
    profile_name: str,
    profile_path: Path,
    kind: str,
    standstill_kmh: float,
    *,
    include_all: bool = False,
    clinic: RecordsHistory | None = None,
) -> Progress:
    """`treadctl progress`: the history and the next prescription (`load_progress`); with
    `include_all` the demo runs and idle sessions are in the history too, marked, uncounted;
    `clinic` reads `db` when it is the clinic's records' URL."""
    try:
        text = profile_path.read_text(encoding="utf-8")  # as the recorder hashes it
        sha: str | None = hashlib.sha256(text.encode()).hexdigest()
    except (OSError, UnicodeDecodeError):
        sha = None
    return load_progress(
        db,
        params,
        pseudonym,
        profile_name,
        kind,
        standstill_kmh,
        profile_sha256=sha,
        profile_source=str(profile_path),
        include_all=include_all,
        clinic=clinic,
    )
