"""The report's header: who, what, when, the status and outcome, and every warning."""

from __future__ import annotations

from treadctl.store.report.data import _Data
from treadctl.store.report.markup import _e, _mmss, _rpe_words, _when


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
