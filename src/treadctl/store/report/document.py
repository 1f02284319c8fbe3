"""The whole report: one HTML document from the sections, written to a file (the verb,
`treadctl sessions report`, is cli/database.py's)."""

from __future__ import annotations

import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from treadctl.store.db import DatabaseError
from treadctl.store.report.belt import _speed_changes_section, _speed_section, _stops_section
from treadctl.store.report.data import _Data, _read
from treadctl.store.report.effort import _effort_section, _energy_section
from treadctl.store.report.figures import _profile_meta, segment_times, session_energy
from treadctl.store.report.header import _header
from treadctl.store.report.markup import _CSS, _e, _when
from treadctl.store.report.progression import _progression_section
from treadctl.store.report.segments import _direction_section, _incline_section, _segment_section
from treadctl.store.report.stops import stops_from_events, with_summary_belt
from treadctl.store.timeutil import utc_iso


def _treadctl_version() -> str:
    try:
        return version("treadctl")
    except PackageNotFoundError:
        return "unknown"


def render(d: _Data) -> str:
    """The report as one HTML document."""
    s = d.session
    summary = s["summary"]
    duration = float(summary["duration_s"]) if summary else (d.t_s[-1] if d.t_s else None)
    source, expanded = _profile_meta(s["profile_text"])
    labels = [str(g["label"]) for g in d.segments]
    incline_note = ""
    if expanded is not None and [lab for lab, _ in expanded] == labels:
        inclines = [inc for _, inc in expanded]
    else:
        inclines = [0.0] * len(d.segments)
        incline_note = "Incline unknown (the stored profile does not match): counted as level."
    body_mass = (s["patient_file"] or {}).get("body_mass_kg")
    est = session_energy(
        d.segments,
        inclines,
        segment_times(d.events, duration or 0.0),
        None if body_mass is None else float(body_mass),
    )
    stops = with_summary_belt(stops_from_events(d.events, d.t_s, d.actual), summary)
    title = f"Session {int(s['id'])} report: {s['patient'] or '-'}, {s['profile_name']}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        *_header(d, source, duration),
        "<main>",
        *_speed_section(d, stops),
        *_segment_section(d.segments, d.session.get("segments_recount")),
        *_incline_section(d),
        *_direction_section(d),
        *_effort_section(d),
        *_speed_changes_section(d),
        *_energy_section(est, incline_note),
        *_stops_section(stops),
        *_progression_section(d),
        "</main>",
        f"<footer>treadctl {_e(_treadctl_version())}: session {int(s['id'])} in "
        f"{_e(d.db.name)}, report written {_e(_when(utc_iso(time.time())))}. Times are "
        "minutes:seconds since the session started; dates are UTC.</footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def write_report(db: Path, session_id: int, out: Path) -> Path:
    """Write the report of session `session_id` in `db` to `out`; return `out`.

    Raises DatabaseError (naming the file and the reason) for a missing or unusable
    database, an unknown session id, or an output file that cannot be written.
    """
    text = render(_read(db, session_id))
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DatabaseError(out, f"cannot write the report: {exc}") from exc
    return out


def default_out(db: Path, session_id: int) -> Path:
    """Next to the database: runs/session-12-report.html for runs/treadctl.sqlite."""
    return db.parent / f"session-{session_id}-report.html"
