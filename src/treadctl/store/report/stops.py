"""The stops of a session, found in its events by the session summary's rule."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from treadctl.safety.types import Reason

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
