"""The sections on the belt over time: the speed-time plot, every stop, and the speeds
the operator set."""

from __future__ import annotations

from treadctl.store import plots
from treadctl.store.report.data import _Data
from treadctl.store.report.figures import speed_changes
from treadctl.store.report.markup import _e, _img, _mmss, _table, _td
from treadctl.store.report.stops import Stop


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
