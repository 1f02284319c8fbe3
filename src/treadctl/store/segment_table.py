"""The segment table as `sessions show` prints it, for the treadmill's file and the clinic's
records alike, with what the schema upgrade did to it (treadctl.store.recount)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from treadctl.store.recount import RECOUNT_NOTES, UNKNOWN


def _mmss(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    m, s = divmod(max(0.0, seconds), 60)
    return f"{int(m):02d}:{s:04.1f}"


def segment_table_lines(segs: Sequence[dict[str, Any]], recount: str | None) -> list[str]:
    """The header, a line per segment numbered from 1, and the recount's note if any."""
    unknown = recount == UNKNOWN
    lines = [
        "  segments:",
        f"    {'#':>3s}  {'label':24s} {'kind':8s} {'target':>6s} {'planned':>8s} "
        f"{'moving':>8s} {'distance':>9s}  done",
    ]
    for g in segs:
        moving = "unknown" if unknown else _mmss(g["moving_s"])
        distance = "unknown" if unknown else f"{g['distance_m']:7.1f} m"
        lines.append(
            f"    {g['idx'] + 1:>3d}  {g['label'][:24]:24s} {g['kind']:8s} {g['target_kmh']:6.2f} "
            f"{_mmss(g['planned_s']):>8s} {moving:>8s} {distance:>9s}  "
            f"{'yes' if g['completed'] else 'no'}"
        )
    if recount in RECOUNT_NOTES:
        lines.append(f"  NOTE: {RECOUNT_NOTES[recount]}")
    return lines
