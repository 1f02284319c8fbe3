"""The sections on effort: RPE and rail contact, and the energy estimate."""

from __future__ import annotations

from treadctl.protocol import energy
from treadctl.store.report.data import _Data
from treadctl.store.report.figures import ENERGY_BASIS, NO_BODY_MASS, segment_rail
from treadctl.store.report.markup import _e, _mmss, _pct, _rpe_words, _table, _td


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
