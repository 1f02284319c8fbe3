"""A patient's report across every treadmill, from the clinic's records (HTML, one file).

Per profile the patient walked (clinic sessions of kind `run`; demo runs and sessions in
which the belt never moved are left out, as everywhere): the progression plot of the
session report (treadctl.store.plots.progression_plot: highest backward target and
achieved backward speed per session, unplanned stops marked) and a table of the sessions
with the treadmill each ran on. Pseudonym only; every stored string HTML-escaped; the
plot embedded as PNG, no script. Built from the session report's own pieces
(treadctl.store.report) so a session reads the same in both.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from treadctl.clinic.connect import Conn, redact
from treadctl.clinic.reads import patient, records, rows, sessions
from treadctl.config.profile import SegmentKind
from treadctl.store import plots
from treadctl.store.db import DatabaseError
from treadctl.store.recount import DEFAULT_STANDSTILL_KMH, SAMPLE_PERIOD_S, UNKNOWN
from treadctl.store.report import (
    _CSS,
    _e,
    _img,
    _mmss,
    _table,
    _td,
    _when,
    direction_totals,
    mean_moving_kmh,
    stops_from_events,
)
from treadctl.store.timeutil import utc_iso


@dataclass(frozen=True)
class Row:
    session_id: int
    started: str
    treadmill: str
    profile: str
    status: str
    moving_s: float
    backward_s: float
    target_kmh: float | None
    achieved_kmh: float | None
    rpe: float | None
    unplanned_stops: int
    latched_faults: int


def _row(conn: Conn, s: dict[str, Any]) -> Row:
    segs = rows(
        conn,
        "SELECT kind, target_kmh, moving_s, distance_m FROM segment_results "
        "WHERE session_id = %s ORDER BY idx",
        (s["id"],),
    )
    totals = direction_totals(segs)
    back_s, back_m = totals[SegmentKind.BACKWARD.value]
    if s.get("segments_recount") == UNKNOWN:
        # segment results unknown (treadctl.store.recount): the backward walking sampled
        sampled = rows(
            conn,
            "SELECT count(*) AS n, coalesce(sum(actual_kmh), 0) AS kmh FROM samples "
            "WHERE session_id = %s AND direction = 'backward' AND actual_kmh > %s",
            (s["id"], s.get("standstill_kmh") or DEFAULT_STANDSTILL_KMH),
        )[0]
        back_s = int(sampled["n"]) * SAMPLE_PERIOD_S
        back_m = float(sampled["kmh"]) / 3.6 * SAMPLE_PERIOD_S
    backward = [g for g in segs if g["kind"] == SegmentKind.BACKWARD.value]
    records_ = [
        json.loads(r["record"])
        for r in rows(
            conn,
            "SELECT record FROM events WHERE session_id = %s AND kind = 'transition' ORDER BY seq",
            (s["id"],),
        )
    ]
    stops = [x for x in stops_from_events(records_) if not x.planned]
    return Row(
        session_id=int(s["id"]),
        started=str(s["started"]),
        treadmill=str(s["treadmill_id"]),
        profile=str(s["profile_name"]),
        status=str(s["status"]),
        moving_s=sum(float(g["moving_s"]) for g in segs),
        backward_s=back_s,
        target_kmh=max((float(g["target_kmh"]) for g in backward), default=None),
        achieved_kmh=mean_moving_kmh(back_m, back_s) if back_s > 0 else None,
        rpe=s["rpe"],
        unplanned_stops=len(stops),
        latched_faults=sum(1 for x in stops if x.latched),
    )


def patient_rows(url: str, pseudonym: str) -> list[Row]:
    """The patient's clinic sessions of kind run, every treadmill, oldest first."""
    with records(url) as conn:
        p = patient(conn, pseudonym)
        if p is None:
            raise DatabaseError(redact(url), f"no patient {pseudonym!r}")
        found, _hidden = sessions(conn, p["id"])
        return [_row(conn, s) for s in found if s["kind"] == "run"]


def render(url: str, pseudonym: str, found: list[Row]) -> str:
    by_profile: dict[str, list[Row]] = {}
    for r in found:
        by_profile.setdefault(r.profile, []).append(r)
    treadmills = sorted({r.treadmill for r in found})
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>treadctl: patient {_e(pseudonym)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Patient {_e(pseudonym)}: sessions on every treadmill</h1>",
        f'<p id="source">clinic records {_e(redact(url))}; {len(found)} sessions on '
        f"{_e(', '.join(treadmills) or 'no treadmill')}; written {_e(utc_iso(time.time()))}</p>",
    ]
    if not found:
        out.append("<p>No clinic sessions recorded.</p>")
    for profile, group in by_profile.items():
        points = [
            plots.ProgressionPoint(
                r.session_id,
                r.started[:10],
                r.target_kmh,
                r.achieved_kmh,
                r.unplanned_stops,
                r.latched_faults,
            )
            for r in group
        ]
        png = plots.progression_plot(points, -1, f"{pseudonym}: {profile}")
        out += [f"<h2>{_e(profile)}</h2>", _img(f"progression-{len(out)}", png, "progression")]
        body = [
            "<tr>"
            f"<td>{r.session_id}</td><td>{_e(_when(r.started))}</td>"
            f'<td class="treadmill">{_e(r.treadmill)}</td><td>{_e(r.status)}</td>'
            + _td(r.moving_s, _mmss(r.moving_s))
            + _td(r.backward_s, _mmss(r.backward_s))
            + _td(r.target_kmh, "-" if r.target_kmh is None else f"{r.target_kmh:.2f}")
            + _td(r.achieved_kmh, "-" if r.achieved_kmh is None else f"{r.achieved_kmh:.2f}")
            + _td(r.rpe, "-" if r.rpe is None else f"{r.rpe:g}")
            + f"<td>{r.unplanned_stops}</td></tr>"
            for r in group
        ]
        out += _table(
            "sessions",
            f"{profile}: every session, the treadmill it ran on",
            [
                ("session", False),
                ("started", False),
                ("treadmill", False),
                ("status", False),
                ("walked", True),
                ("backward", True),
                ("backward target km/h", True),
                ("achieved km/h", True),
                ("RPE", True),
                ("unplanned stops", False),
            ],
            body,
        )
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_patient_report(url: str, pseudonym: str, out: Path) -> Path:
    text = render(url, pseudonym, patient_rows(url, pseudonym))
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DatabaseError(out, f"cannot write: {exc}") from exc
    return out
