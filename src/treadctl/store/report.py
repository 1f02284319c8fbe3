"""A clinician report for one recorded session: one self-contained, printable HTML file.

`treadctl sessions report ID [--out FILE]`. The file needs nothing else to be read or
printed: the plots are PNGs embedded as base64 data URIs, the CSS is inline, and there
is no script. It holds:

- the header: the patient's pseudonym (never a name; the patient file's notes are left
  out), the profile and its source line, the machine, the date, the status (also
  "interrupted") and the outcome;
- the speed-time plot from the 10 Hz samples: target and measured belt speed, backward
  time shaded, every stop marked and labelled with its reason (latched faults in a
  colour and line of their own);
- the segment table, planned against done; time and distance per direction;
- the energy estimate per segment and in total (protocol/energy.py's METs at the
  segment's actual moving time and mean moving belt speed), or "no estimate: no body
  mass" when the session's copy of the patient file has none;
- every stop with its time and reason, found in the session's events the way the
  session summary finds them (so an interrupted session without a summary has them too);
- the two figures the progression uses, RPE and rail contact (the share of backward
  walking with a hand on a rail, as `store.history` measures it), for the session, and
  rail contact per segment from the samples (RPE is recorded per session only);
- the operator's speed changes as a table: time, segment, from, to, who;
- the patient's progression: for every session of the same patient, profile (by name)
  and kind (run or simulate) up to this one, the highest backward target and the
  achieved backward speed (mean moving belt speed), RPE and rail contact, with the
  sessions that had unplanned stops or latched faults marked. Demo runs on the built-in
  simulator and sessions in which the belt never moved are left out (unless the report
  is of one: a demo's report lists demo runs).

Every string read from the database is escaped with html.escape.
"""

from __future__ import annotations

import base64
import bisect
import html
import json
import sqlite3
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from treadctl.config.errors import ConfigError
from treadctl.config.loader import loads_toml
from treadctl.config.profile import SegmentKind
from treadctl.protocol import energy
from treadctl.safety.types import Reason
from treadctl.store import plots, queries
from treadctl.store.db import DatabaseError, effective_status, open_db
from treadctl.store.history import RPE_SCALES, PastSession, past_session
from treadctl.store.recount import DEFAULT_STANDSTILL_KMH, MAX_GAP_S, RECOUNT_NOTES, UNKNOWN
from treadctl.store.timeutil import utc_iso

EXIT_OK = 0
EXIT_ERROR = 2  # the CLI's configuration/database error code
NO_BODY_MASS = "no estimate: no body mass"
ENERGY_BASIS = (
    "each walking segment at its actual moving time and its mean moving belt speed "
    "(distance / moving time), at the profile's incline; a rest segment at 1 MET for the "
    "time spent in it, at most its planned length; standing between segments is not counted"
)
_STOPPING_MODES = ("stopping", "faulted")
_PLANNED_STOP = (Reason.SEQUENCE_STOP.value,)


@dataclass(frozen=True, slots=True)
class Stop:
    """A stop as the session summary counts it: a transition into stopping or faulted."""

    number: int
    t_s: float
    latched: bool
    reasons: tuple[str, ...]
    detail: str
    belt_kmh: float | None  # the summary's belt speed at the stop, else the last sample's

    @property
    def kind(self) -> str:
        return "latched fault" if self.latched else "controlled"

    @property
    def planned(self) -> bool:
        """The profile's own stop (a turnaround, the end), not an interruption."""
        return self.reasons == _PLANNED_STOP

    @property
    def reason_text(self) -> str:
        return ", ".join(self.reasons) or "-"

    @property
    def label(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.kind}: {self.reason_text}{extra}"


def stops_from_events(
    records: Sequence[dict[str, Any]],
    sample_t: Sequence[float] = (),
    sample_belt: Sequence[float | None] = (),
) -> list[Stop]:
    """The stops in the event records, by the session summary's rule (control/summary.py):
    every transition into stopping or faulted, but a new reason while already stopping
    and the power-on latch are not stops."""
    out: list[Stop] = []
    for r in records:
        if r.get("kind") != "transition":
            continue
        old, new = r.get("old"), r.get("new")
        reasons = tuple(str(x) for x in r.get("reasons") or ())
        if new not in _STOPPING_MODES or (old == new and (not reasons or new == "stopping")):
            continue
        if reasons == (Reason.POWER_ON.value,):
            continue
        t_s = float(r["t_s"])
        belt: float | None = None
        i = bisect.bisect_right(sample_t, t_s + 1e-9) - 1
        if i >= 0:
            belt = sample_belt[i]
        out.append(
            Stop(len(out) + 1, t_s, new == "faulted", reasons, str(r.get("detail") or ""), belt)
        )
    return out


def with_summary_belt(stops: list[Stop], summary: dict[str, Any] | None) -> list[Stop]:
    """The belt speed at each stop from the session summary (taken in the stop's own control
    cycle) when the summary lists the same stops; else the last sample's."""
    listed = (summary or {}).get("stops") or []
    if len(listed) != len(stops) or any(
        abs(float(a["at_s"]) - b.t_s) > 0.01 for a, b in zip(listed, stops, strict=True)
    ):
        return stops
    return [replace(b, belt_kmh=float(a["belt_kmh"])) for a, b in zip(listed, stops, strict=True)]


def _profile_meta(text: str | None) -> tuple[str, list[tuple[str, float]] | None]:
    """The profile's source line and, expanded like the plan, each segment's (label, incline)."""
    if not text:
        return "", None
    try:
        data = loads_toml(text, "stored profile")
        source = str(data.get("source", ""))
        expanded: list[tuple[str, float]] = []
        for block in data.get("blocks", []):
            name = str(block.get("name", ""))
            specs = [
                (
                    str(s.get("name") or s.get("direction", "")),
                    float(s.get("incline_pct") or 0.0),
                )
                for s in block.get("segments", [])
            ]
            for _ in range(int(block.get("repeats", 1))):
                expanded.extend((f"{name}/{n}" if name else n, inc) for n, inc in specs)
    except (ConfigError, AttributeError, TypeError, ValueError, OverflowError):
        return "", None
    return source, expanded


def segment_times(records: Sequence[dict[str, Any]], end_s: float) -> dict[int, float]:
    """Seconds spent in each segment, from the "segment" events to the next or the end."""
    starts = [(float(r["t_s"]), r.get("index")) for r in records if r.get("kind") == "segment"]
    out: dict[int, float] = {}
    for k, (t, index) in enumerate(starts):
        if not isinstance(index, int):
            continue
        until = starts[k + 1][0] if k + 1 < len(starts) else end_s
        out[index] = max(0.0, until - t)
    return out


def mean_moving_kmh(distance_m: float, moving_s: float) -> float:
    return distance_m / moving_s * 3.6 if moving_s > 0 else 0.0


def session_energy(
    segments: Sequence[dict[str, Any]],
    inclines: Sequence[float],
    rest_times: dict[int, float],
    body_mass_kg: float | None,
) -> energy.EnergyEstimate | None:
    """The energy estimate from what was done (see ENERGY_BASIS); None without a body mass."""
    if body_mass_kg is None:
        return None
    rows = []
    for seg, incline in zip(segments, inclines, strict=True):
        kind = SegmentKind(seg["kind"])
        if kind is SegmentKind.REST:
            speed = 0.0
            seconds = min(float(seg["planned_s"]), rest_times.get(int(seg["idx"]), 0.0))
        else:
            seconds = float(seg["moving_s"])
            speed = mean_moving_kmh(float(seg["distance_m"]), seconds)
        m = energy.mets(kind, speed, incline)
        rows.append(
            energy.SegmentEnergy(
                index=int(seg["idx"]),
                label=str(seg["label"]),
                kind=kind,
                speed_kmh=speed,
                incline_pct=incline,
                duration_s=seconds,
                mets=m,
                kcal=energy.kcal(m, body_mass_kg, seconds),
                extrapolated=kind is not SegmentKind.REST and speed > energy.REF_KMH + 1e-9,
            )
        )
    return energy.EnergyEstimate(body_mass_kg, tuple(rows))


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


@dataclass(frozen=True, slots=True)
class SpeedChange:
    """A speed the operator set (accepted), from the session's command events."""

    t_s: float
    segment: str  # "2 backward/1": number and label; "-" before the first segment
    from_kmh: float | None  # the speed before: the segment's target or the last change
    to_kmh: float
    who: str  # the command's source


def speed_changes(records: Sequence[dict[str, Any]]) -> list[SpeedChange]:
    """Every accepted set_speed command, with the speed it replaced."""
    out: list[SpeedChange] = []
    current: float | None = None
    segment = "-"
    for r in sorted(records, key=lambda r: float(r.get("t_s") or 0.0)):  # stable: log order
        kind = r.get("kind")
        if kind == "segment":
            index = r.get("index")
            segment = f"{index + 1} {r.get('label', '')}" if isinstance(index, int) else "-"
            target = r.get("target_kmh")
            current = float(target) if isinstance(target, int | float) else None
        elif (
            kind == "command"
            and r.get("command") == "set_speed"
            and r.get("accepted")
            and isinstance(r.get("speed_kmh"), int | float)
        ):
            to = float(r["speed_kmh"])
            out.append(
                SpeedChange(float(r["t_s"]), segment, current, to, str(r.get("source") or "-"))
            )
            current = to
    return out


def segment_rail(
    records: Sequence[dict[str, Any]],
    sample_t: Sequence[float],
    moving: Sequence[bool],
    rail: Sequence[bool],
) -> dict[int, float]:
    """Per segment index: the share of its moving samples with a hand on a rail (a rail
    that was not read counts as held); segments without a moving sample are left out."""
    starts = [
        (float(r["t_s"]), r["index"])
        for r in records
        if r.get("kind") == "segment" and isinstance(r.get("index"), int)
    ]
    times = [t for t, _ in starts]
    counts: dict[int, list[int]] = {}
    for t, m, held in zip(sample_t, moving, rail, strict=True):
        k = bisect.bisect_right(times, t) - 1
        if not m or k < 0:
            continue
        c = counts.setdefault(starts[k][1], [0, 0])
        c[0] += 1
        c[1] += held
    return {i: held / n for i, (n, held) in counts.items() if n}


def _loads(text: str) -> dict[str, Any]:
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


# --- HTML ---------------------------------------------------------------------------

_CSS = """
@page { size: A4; margin: 14mm; }
body { font-family: system-ui, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #111;
  line-height: 1.4; max-width: 62rem; margin: 1.5rem auto; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .4rem; }
h2 { font-size: 1.15rem; border-bottom: 1px solid #999; margin-top: 1.8rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; margin: .4rem 0; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; }
th, td { border: 1px solid #bbb; padding: .2rem .45rem; text-align: left; vertical-align: top; }
thead th { background: #f0f0f0; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tfoot td, tfoot th { font-weight: 600; }
tr.fault td { color: #9c3600; font-weight: 600; }
figure { margin: .6rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: .85rem; color: #333; }
.warning { border: 2px solid #D55E00; padding: .4rem .7rem; font-weight: 600; }
.estimate { font-style: italic; }
.note { font-size: .85rem; color: #333; }
footer { margin-top: 2rem; font-size: .8rem; color: #555; }
@media print {
  body { max-width: none; margin: 0; padding: 0; font-size: 10pt; }
  h2 { break-after: avoid; page-break-after: avoid; }
  figure, tr, .warning { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  figure img { border: 0; }
}
"""


def _e(value: object) -> str:
    """Any stored value as escaped HTML text."""
    return html.escape("-" if value is None else str(value))


def _mmss(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    m, s = divmod(max(seconds, 0.0), 60)
    return f"{int(m):02d}:{s:04.1f}"


def _when(iso: str | None) -> str:
    return "-" if not iso else iso[:16].replace("T", " ") + " UTC"


def _td(value: float | None, text: str) -> str:
    """A numeric cell; data-value keeps the stored figure exactly (repr of the float)."""
    if value is None:
        return '<td class="num">-</td>'
    return f'<td class="num" data-value="{float(value)!r}">{_e(text)}</td>'


def _img(element_id: str, png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img id="{element_id}" src="data:image/png;base64,{data}" alt="{_e(alt)}">'


def _table(
    table_id: str, caption: str, head: Sequence[tuple[str, bool]], body: list[str], foot: str = ""
) -> list[str]:
    cols = "".join(
        f'<th scope="col" class="num">{_e(h)}</th>' if num else f'<th scope="col">{_e(h)}</th>'
        for h, num in head
    )
    out = [
        f'<table id="{table_id}">',
        f"<caption>{_e(caption)}</caption>",
        f"<thead><tr>{cols}</tr></thead>",
        "<tbody>",
        *body,
        "</tbody>",
    ]
    if foot:
        out.append(f"<tfoot>{foot}</tfoot>")
    out.append("</table>")
    return out


def _treadctl_version() -> str:
    try:
        return version("treadctl")
    except PackageNotFoundError:
        return "unknown"


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


def _header(d: _Data, source: str, duration_s: float | None) -> list[str]:
    s = d.session
    pseudonym = s["patient"] or (s["patient_file"] or {}).get("pseudonym")
    kind = (
        "simulated on the virtual clock (not a patient session)"
        if s["kind"] == "simulate"
        else "run on the treadmill"
    )
    status = str(s["status"])
    facts = [
        ("Patient (pseudonym)", _e(pseudonym)),
        ("Profile", _e(s["profile_name"])),
        ("Profile source", _e(source or "-")),
        ("Machine", _e(s["machine_name"])),
        ("Date", f"{_e(_when(s['started']))} (ended {_e(_when(s['ended']))})"),
        ("Session", f"#{int(s['id'])}, {_e(kind)}"),
        ("Status", f'<strong class="status">{_e(status)}</strong>'),
        ("Outcome", _e(s["outcome"] or "(none recorded)")),
        ("RPE", _e(_rpe_words(s.get("rpe"), s.get("rpe_scale")))),
        ("Session time", f"{_mmss(duration_s)} of {_mmss(float(s['planned_s']))} planned"),
    ]
    p = s["patient_file"] or {}
    if p.get("comfortable_forward_kmh") is not None:
        facts.append(
            ("Comfortable forward speed", f"{float(p['comfortable_forward_kmh']):.2f} km/h")
        )
    out = [
        "<header>",
        "<h1>Backward walking session report</h1>",
        '<dl class="facts">',
        *(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in facts),
        "</dl>",
    ]
    last = d.t_s[-1] if d.t_s else None
    if status == "interrupted":
        out.append(
            '<p class="warning">Interrupted: the controller ended without closing the session '
            "(killed, crashed or lost power). The figures below are what was recorded, up to "
            f"the last sample at {_mmss(last)}.</p>"
        )
    elif status == "running":
        out.append(
            '<p class="warning">Still running: the session is being recorded; the figures '
            f"below are partial (up to {_mmss(last)}).</p>"
        )
    if s.get("simulated") and s["kind"] == "run":
        out.append(
            '<p class="warning" id="mark-simulated">A demo run on the built-in simulator '
            "(simulated drive), not a clinic session: left out of the lists and the patient's "
            "progression.</p>"
        )
    if s.get("moved") == 0:
        out.append(
            '<p class="warning" id="mark-idle">The belt never moved in this session: '
            "left out of the lists and the patient's progression.</p>"
        )
    summary = s["summary"] or {}
    out.extend(f'<p class="warning">WARNING: {_e(w)}</p>' for w in summary.get("warnings", []))
    out.append("</header>")
    return out


def _rpe_words(rpe: float | None, scale_key: str | None) -> str:
    if rpe is None:
        return "not recorded (treadctl sessions rpe ID VALUE)"
    scale = RPE_SCALES.get(scale_key or "")
    return f"{float(rpe):g} ({scale.label if scale is not None else scale_key})"


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.0f} %"


def _effort_section(d: _Data) -> list[str]:
    """RPE and rail contact: the session's figures as the progression reads them, and rail
    contact per segment from the samples."""
    s, past = d.session, d.past
    rail = None if past is None else past.rail_share
    out = [
        "<section>",
        "<h2>Effort and rail contact</h2>",
        '<dl class="facts" id="effort-session">',
        f"<dt>RPE</dt><dd>{_e(_rpe_words(s.get('rpe'), s.get('rpe_scale')))}</dd>",
        "<dt>Rail contact, backward walking</dt>"
        f'<dd id="rail-session" data-value="{rail!r}">{_e(_pct(rail))}</dd>',
        "</dl>",
    ]
    if past is not None and past.unrecorded_s > 0:
        out.append(
            f'<p class="note">{_mmss(past.unrecorded_s)} of backward walking was not sampled '
            "and counts as rail contact.</p>"
        )
    standstill = float(s.get("standstill_kmh") or 0.05)
    moving = [a is not None and a > standstill for a in d.actual]
    per_segment = segment_rail(d.events, d.t_s, moving, d.rail) if d.rail else {}
    body = []
    for g in d.segments:
        share = per_segment.get(int(g["idx"]))
        body.append(
            f'<tr><td class="num">{int(g["idx"]) + 1}</td><td>{_e(g["label"])}</td>'
            f"<td>{_e(g['kind'])}</td>{_td(float(g['moving_s']), _mmss(float(g['moving_s'])))}"
            f"{_td(share, _pct(share))}</tr>"
        )
    head = [
        ("#", True),
        ("segment", False),
        ("kind", False),
        ("moving (min:s)", True),
        ("rail contact", True),
    ]
    out += _table("effort", "Rail contact per segment, while the belt moved", head, body)
    out += [
        '<p class="note">Rail contact: the share of the 10 Hz samples with a hand on either '
        "rail while the belt moved (a rail that was not read counts as held). The session's "
        "figure is the one the progression uses: backward walking only. RPE is recorded per "
        "session.</p>",
        "</section>",
    ]
    return out


def _speed_changes_section(d: _Data) -> list[str]:
    changes = speed_changes(d.events)
    out = ["<section>", "<h2>Operator speed changes</h2>"]
    if not changes:
        out += ['<p id="speed-changes-none">No speed changes by the operator.</p>', "</section>"]
        return out
    body = [
        f"<tr>{_td(c.t_s, _mmss(c.t_s))}<td>{_e(c.segment)}</td>"
        f"{_td(c.from_kmh, '-' if c.from_kmh is None else f'{c.from_kmh:.2f}')}"
        f"{_td(c.to_kmh, f'{c.to_kmh:.2f}')}<td>{_e(c.who)}</td></tr>"
        for c in changes
    ]
    head = [
        ("time (min:s)", True),
        ("segment", False),
        ("from (km/h)", True),
        ("to (km/h)", True),
        ("who", False),
    ]
    out += _table("speed-changes", "Speeds set by the operator, accepted", head, body)
    out.append("</section>")
    return out


def _speed_section(d: _Data, stops: list[Stop]) -> list[str]:
    out = ["<section>", "<h2>Belt speed over time</h2>"]
    if not d.t_s:
        out += ['<p class="note">No samples were recorded for this session.</p>', "</section>"]
        return out
    incline = plots.InclineSeries(d.incline_target, d.incline_actual) if d.had_incline else None
    what = "belt speed and incline" if incline is not None else "belt speed"
    png = plots.speed_plot(
        plots.SpeedSeries(d.t_s, d.target, d.actual, d.backward),
        [plots.StopMark(x.number, x.t_s, x.latched, x.reasons) for x in stops],
        f"Session {int(d.session['id'])}: target and measured {what}",
        incline,
    )
    n_fault = sum(x.latched for x in stops)
    alt = (
        "Target and measured belt speed in km/h against time, backward time shaded, "
        f"{len(stops)} stop(s) marked, {n_fault} of them latched faults"
    )
    caption = (
        "<figcaption>Target (dashed) and measured belt speed (solid) from the 10 Hz samples; "
        "shaded: walking backward (the walker's direction; where the walker turns round the belt "
        "runs forward). Stops: dotted orange lines (controlled) and solid "
        "red lines (latched faults), numbered as in the table of stops."
    )
    if incline is not None:
        alt += "; under it the incline's target and measured % on the same time axis"
        caption += (
            " Under the speed, on the same time axis: the incline the profile asks "
            "(dashed) and the incline measured by the lift's sensor (solid green)."
        )
    out += [
        "<figure>",
        _img("speed-plot", png, alt),
        caption + "</figcaption>",
        "</figure>",
        "</section>",
    ]
    return out


def _incline_section(d: _Data) -> list[str]:
    """Each segment's incline: asked, and measured while it ran (none: no section)."""
    if not d.had_incline:
        return []
    starts = [
        (float(r["t_s"]), r["index"], float(r.get("incline_pct") or 0.0))
        for r in d.events
        if r.get("kind") == "segment" and isinstance(r.get("index"), int)
    ]
    labels = {int(g["idx"]): str(g["label"]) for g in d.segments}
    end_s = d.t_s[-1] if d.t_s else 0.0
    body = []
    for k, (t0, index, asked) in enumerate(starts):
        t1 = starts[k + 1][0] if k + 1 < len(starts) else end_s + 1.0
        seen = [
            a
            for t, a in zip(d.t_s, d.incline_actual, strict=True)
            if t0 <= t < t1 and a is not None
        ]
        mean = sum(seen) / len(seen) if seen else None
        low = min(seen) if seen else None
        high = max(seen) if seen else None
        body.append(
            f'<tr><td class="num">{index + 1}</td><td>{_e(labels.get(index, "-"))}</td>'
            f"{_td(asked, f'{asked:g}')}"
            f"{_td(mean, '-' if mean is None else f'{mean:.1f}')}"
            f"{_td(low, '-' if low is None else f'{low:.1f}')}"
            f"{_td(high, '-' if high is None else f'{high:.1f}')}</tr>"
        )
    faults = [r for r in d.events if r.get("kind") == "incline_fault"]
    head = [
        ("#", True),
        ("segment", False),
        ("asked (%)", True),
        ("measured mean (%)", True),
        ("measured min (%)", True),
        ("measured max (%)", True),
    ]
    out = [
        "<section>",
        "<h2>Incline</h2>",
        *_table("incline", "Incline per segment", head, body),
        '<p class="note">The incline was driven by the machine\'s actuator; measured by the '
        "lift's position sensor in the 10 Hz samples while the segment ran (including its "
        "ramp from the previous incline).</p>",
    ]
    for r in faults:
        out.append(
            f'<p class="warning">Incline fault at {_mmss(float(r["t_s"]))}: '
            f"{_e(r.get('reason', '-'))} {_e(r.get('detail', ''))}</p>"
        )
    out.append("</section>")
    return out


def _segment_section(segs: list[dict[str, Any]], recount: str | None) -> list[str]:
    unknown = recount == UNKNOWN
    body = []
    for g in segs:
        target, planned_s, moving_s, metres = (
            float(g[k]) for k in ("target_kmh", "planned_s", "moving_s", "distance_m")
        )
        done = (
            "<td>unknown</td><td>unknown</td>"
            if unknown
            else f"{_td(moving_s, _mmss(moving_s))}{_td(metres, f'{metres:.1f}')}"
        )
        body.append(
            f'<tr><td class="num">{int(g["idx"]) + 1}</td><td>{_e(g["label"])}</td>'
            f"<td>{_e(g['kind'])}</td>"
            f"{_td(target, f'{target:.2f}')}{_td(planned_s, _mmss(planned_s))}"
            f"{done}<td>{'yes' if g['completed'] else 'no'}</td></tr>"
        )
    planned = sum(float(g["planned_s"]) for g in segs)
    moving = sum(float(g["moving_s"]) for g in segs)
    metres = sum(float(g["distance_m"]) for g in segs)
    n_done = sum(bool(g["completed"]) for g in segs)
    totals = (
        "<td>unknown</td><td>unknown</td>"
        if unknown
        else f"{_td(moving, _mmss(moving))}{_td(metres, f'{metres:.1f}')}"
    )
    foot = (
        '<tr><th scope="row" colspan="4">Total</th>'
        f"{_td(planned, _mmss(planned))}{totals}<td>{n_done} of {len(segs)}</td></tr>"
    )
    head = [
        ("#", True),
        ("segment", False),
        ("direction", False),
        ("target (km/h)", True),
        ("planned (min:s)", True),
        ("moving (min:s)", True),
        ("distance (m)", True),
        ("completed", False),
    ]
    return [
        "<section>",
        "<h2>Segments: planned and done</h2>",
        *_table("segments", "Segments", head, body, foot),
        '<p class="note">Moving time and distance count belt movement above standstill, in '
        "the walker's direction (where the walker turns round, the belt runs forward while "
        "they walk backward); the stop after a segment counts for that segment.</p>",
        *(
            [f'<p id="segments-recount" class="note">{_e(RECOUNT_NOTES[recount])}.</p>']
            if recount in RECOUNT_NOTES
            else []
        ),
        "</section>",
    ]


def direction_totals(segs: Sequence[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """(moving seconds, metres) per direction, from the segment results."""
    out = {}
    for kind in (SegmentKind.FORWARD.value, SegmentKind.BACKWARD.value):
        rows = [g for g in segs if g["kind"] == kind]
        out[kind] = (
            sum(float(g["moving_s"]) for g in rows),
            sum(float(g["distance_m"]) for g in rows),
        )
    return out


def sampled_direction_totals(
    t_s: Sequence[float],
    actual: Sequence[float | None],
    backward: Sequence[bool],
    standstill_kmh: float,
) -> dict[str, tuple[float, float]]:
    """(moving seconds, metres) per walking direction, from the 10 Hz samples: for a
    session whose segment results are unknown (treadctl.store.recount)."""
    out = {SegmentKind.FORWARD.value: [0.0, 0.0], SegmentKind.BACKWARD.value: [0.0, 0.0]}
    for i in range(1, len(t_s)):
        speed = actual[i]
        dt = t_s[i] - t_s[i - 1]
        if speed is None or speed <= standstill_kmh or dt > MAX_GAP_S:
            continue
        row = out[SegmentKind.BACKWARD.value if backward[i] else SegmentKind.FORWARD.value]
        row[0] += dt
        row[1] += speed / 3.6 * dt
    return {k: (v[0], v[1]) for k, v in out.items()}


def _direction_section(d: _Data) -> list[str]:
    recount = d.session.get("segments_recount")
    standstill = d.session.get("standstill_kmh") or DEFAULT_STANDSTILL_KMH
    totals = (
        sampled_direction_totals(d.t_s, d.actual, d.backward, float(standstill))
        if recount == UNKNOWN
        else direction_totals(d.segments)
    )
    all_s = sum(v[0] for v in totals.values())
    body = []
    for kind, (secs, metres) in totals.items():
        share = 100.0 * secs / all_s if all_s > 0 else 0.0
        speed = mean_moving_kmh(metres, secs)
        body.append(
            f'<tr id="direction-{_e(kind)}"><th scope="row">{_e(kind)}</th>'
            f"{_td(secs, _mmss(secs))}{_td(metres, f'{metres:.1f}')}"
            f"{_td(speed, f'{speed:.2f}')}{_td(share, f'{share:.0f} %')}</tr>"
        )
    metres_all = sum(v[1] for v in totals.values())
    foot = (
        f'<tr><th scope="row">total</th>{_td(all_s, _mmss(all_s))}'
        f"{_td(metres_all, f'{metres_all:.1f}')}<td></td><td></td></tr>"
    )
    head = [
        ("direction", False),
        ("moving time (min:s)", True),
        ("distance (m)", True),
        ("mean moving speed (km/h)", True),
        ("share of moving time", True),
    ]
    return [
        "<section>",
        "<h2>Time and distance per direction</h2>",
        *_table("directions", "Per direction", head, body, foot),
        '<p class="note">The walker\'s direction: a walker turned round to face away from '
        "the console walks backward on a belt that runs forward.</p>",
        *(
            [
                '<p id="directions-from-samples" class="note">From the 10 Hz samples: the '
                "segment results of this session are unknown.</p>"
            ]
            if recount == UNKNOWN
            else []
        ),
        "</section>",
    ]


def _energy_section(est: energy.EnergyEstimate | None, incline_note: str) -> list[str]:
    out = ["<section>", "<h2>Energy (estimate)</h2>"]
    if est is None:
        out += [f'<p id="energy-none" class="estimate">{_e(NO_BODY_MASS)}</p>', "</section>"]
        return out
    body = []
    for r in est.segments:
        more = " *" if r.extrapolated else ""
        body.append(
            f'<tr><td class="num">{r.index + 1}</td><td>{_e(r.label)}</td>'
            f"<td>{_e(r.kind.value)}</td>"
            f"{_td(r.incline_pct, f'{r.incline_pct:g}')}"
            f"{_td(r.speed_kmh, f'{r.speed_kmh:.2f}{more}')}"
            f"{_td(r.duration_s, _mmss(r.duration_s))}"
            f"{_td(r.mets, f'{r.mets:.2f}')}"
            f"{_td(r.kcal, f'{r.kcal:.1f}')}</tr>"
        )
    total = est.total_kcal
    foot = (
        '<tr><th scope="row" colspan="7">Total (estimate)</th>'
        f'<td id="energy-total" class="num" data-value="{total!r}">about {total:.0f}</td></tr>'
    )
    head = [
        ("#", True),
        ("segment", False),
        ("direction", False),
        ("incline (%)", True),
        ("mean moving speed (km/h)", True),
        ("time (min:s)", True),
        ("METs (estimate)", True),
        ("kcal (estimate)", True),
    ]
    out += _table(
        "energy", f"Energy estimate at {est.body_mass_kg:g} kg body mass", head, body, foot
    )
    notes = [f"Estimate: {est.label}.", f"Basis: {ENERGY_BASIS}."]
    if est.extrapolated:
        notes.append(
            "* faster than the Compendium's 3.5 mph (5.6 km/h): a straight-line extrapolation."
        )
    if incline_note:
        notes.append(incline_note)
    out += [f'<p class="note estimate">{_e(n)}</p>' for n in notes]
    out.append("</section>")
    return out


def _stops_section(stops: list[Stop]) -> list[str]:
    out = ["<section>", "<h2>Stops</h2>"]
    if not stops:
        out += ['<p id="stops-none">No stops.</p>', "</section>"]
        return out
    body = []
    for x in stops:
        cls = ' class="fault"' if x.latched else ""
        belt = "-" if x.belt_kmh is None else f"{x.belt_kmh:.2f}"
        body.append(
            f'<tr{cls}><td class="num">{x.number}</td>{_td(x.t_s, _mmss(x.t_s))}'
            f"<td>{_e(x.kind)}</td><td>{_e(x.reason_text)}</td><td>{_e(x.detail or '-')}</td>"
            f"{_td(x.belt_kmh, belt)}<td>{'yes' if x.planned else 'no'}</td></tr>"
        )
    head = [
        ("#", True),
        ("time (min:s)", True),
        ("kind", False),
        ("reason", False),
        ("detail", False),
        ("belt (km/h)", True),
        ("planned by the profile", False),
    ]
    out += _table("stops", "Every stop, from the session's events", head, body)
    out.append("</section>")
    return out


def _progression_section(d: _Data) -> list[str]:
    s = d.session
    out = ["<section>", "<h2>Progression across sessions</h2>"]
    if not d.history:
        out += ['<p class="note">No patient recorded: no progression.</p>', "</section>"]
        return out
    points = [
        plots.ProgressionPoint(
            h.session_id,
            h.started[:10],
            h.target_kmh,
            mean_moving_kmh(h.backward_m, h.backward_s) if h.backward_s > 0 else None,
            sum(not x.planned for x in h.stops),
            sum(x.latched for x in h.stops),
        )
        for h in d.history
    ]
    if all(p.target_kmh is None for p in points):
        out += ['<p class="note">The profile has no backward segments.</p>', "</section>"]
        return out
    png = plots.progression_plot(
        points, int(s["id"]), f"{s['patient']}: {s['profile_name']}, backward speed per session"
    )
    out += [
        "<figure>",
        _img(
            "progression-plot",
            png,
            f"Backward target and achieved backward speed in km/h for {len(points)} sessions "
            "of this profile",
        ),
        f"<figcaption>Every {'simulated ' if s['kind'] == 'simulate' else ''}session of this "
        "patient with this profile up to this one. "
        "Target: the session's highest backward target; achieved: its mean moving belt "
        "speed backward. Marked: sessions with unplanned stops (orange) or latched faults "
        "(red).</figcaption>",
        "</figure>",
    ]
    body = []
    for h, p in zip(d.history, points, strict=True):
        target = "-" if p.target_kmh is None else f"{p.target_kmh:.2f}"
        achieved = "-" if p.achieved_kmh is None else f"{p.achieved_kmh:.2f}"
        body.append(
            f'<tr><td>{_e(p.date)}</td><td class="num">{p.session_id}</td>'
            f"<td>{_e(h.status)}</td>{_td(p.target_kmh, target)}{_td(p.achieved_kmh, achieved)}"
            f'<td class="num">{p.unplanned_stops}</td><td class="num">{p.latched_faults}</td>'
            f"{_td(h.rpe, '-' if h.rpe is None else f'{h.rpe:g}')}"
            f"{_td(h.rail_share, _pct(h.rail_share))}</tr>"
        )
    head = [
        ("date (UTC)", False),
        ("session", True),
        ("status", False),
        ("backward target (km/h)", True),
        ("achieved backward (km/h)", True),
        ("unplanned stops", True),
        ("latched faults", True),
        ("RPE", True),
        ("rail contact", True),
    ]
    out += _table("progression", "Sessions of this profile", head, body)
    out.append("</section>")
    return out


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


def report_verb(db: Path, session_id: int, out: Path | None) -> int:
    """`treadctl sessions report ID [--out FILE]`: 0, or 2 with one line naming the file."""
    target = default_out(db, session_id) if out is None else out
    try:
        write_report(db, session_id, target)
    except DatabaseError as exc:
        print(f"treadctl: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"session {session_id} report written to {target}", file=sys.stderr)
    return EXIT_OK
