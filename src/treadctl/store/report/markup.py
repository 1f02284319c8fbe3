"""The report's HTML pieces: the inline CSS, escaped text, numeric cells, tables,
embedded PNGs, and the words for times, dates, shares and RPE (the clinic's report
uses them too, so a session reads the same in both)."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

from treadctl.store.history import RPE_SCALES

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


def _rpe_words(rpe: float | None, scale_key: str | None) -> str:
    if rpe is None:
        return "not recorded (treadctl sessions rpe ID VALUE)"
    scale = RPE_SCALES.get(scale_key or "")
    return f"{float(rpe):g} ({scale.label if scale is not None else scale_key})"


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.0f} %"
