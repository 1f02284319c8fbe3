"""The patient's progression across sessions of the same profile: a plot and a table."""

from __future__ import annotations

from treadctl.store import plots
from treadctl.store.report.data import _Data
from treadctl.store.report.figures import mean_moving_kmh
from treadctl.store.report.markup import _e, _img, _pct, _table, _td


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
