"""The sections on what was done per segment and per direction: the segments planned
and done, the incline per segment, and time and distance per direction."""

from __future__ import annotations

from typing import Any

from treadctl.store.recount import DEFAULT_STANDSTILL_KMH, RECOUNT_NOTES, UNKNOWN
from treadctl.store.report.data import _Data
from treadctl.store.report.figures import (
    direction_totals,
    mean_moving_kmh,
    sampled_direction_totals,
)
from treadctl.store.report.markup import _e, _mmss, _table, _td


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
