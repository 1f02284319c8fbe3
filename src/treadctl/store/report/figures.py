"""The figures the report computes from a session's stored records, HTML aside: the
stored profile's inclines, time per segment, the energy estimate, the operator's speed
changes, rail contact per segment and time and distance per direction."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from treadctl.config.errors import ConfigError
from treadctl.config.loader import loads_toml
from treadctl.config.profile import SegmentKind
from treadctl.protocol import energy
from treadctl.store.recount import MAX_GAP_S

NO_BODY_MASS = "no estimate: no body mass"
ENERGY_BASIS = (
    "each walking segment at its actual moving time and its mean moving belt speed "
    "(distance / moving time), at the profile's incline; a rest segment at 1 MET for the "
    "time spent in it, at most its planned length; standing between segments is not counted"
)


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
