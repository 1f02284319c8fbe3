"""What a session did: time, distance and peak speed per direction, and every stop."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from treadctl.control.stats import CycleFigures
from treadctl.safety.types import Direction, DriveStatus, Mode, Reason, Transition

_STOPPING = (Mode.STOPPING, Mode.FAULTED)


@dataclass
class DirectionTotals:
    seconds: float = 0.0
    metres: float = 0.0
    peak_actual_kmh: float = 0.0
    peak_command_kmh: float = 0.0


@dataclass(frozen=True)
class StopRecord:
    at_s: float
    kind: str  # "controlled" or "latched fault"
    reasons: tuple[Reason, ...]
    detail: str
    belt_kmh: float


@dataclass
class SessionTotals:
    """Per-direction totals and stops, updated by the loop every cycle (in memory)."""

    standstill_kmh: float
    totals: dict[Direction, DirectionTotals] = field(
        default_factory=lambda: {d: DirectionTotals() for d in Direction}
    )
    stops: list[StopRecord] = field(default_factory=list)
    t0: float = 0.0  # session start on the loop's clock; stop times are relative to it
    _last_now: float | None = None
    _last_belt_kmh: float = 0.0

    def cycle(
        self, now: float, drive: DriveStatus | None, command_kmh: float, direction: Direction
    ) -> None:
        dt = 0.0 if self._last_now is None else now - self._last_now
        self._last_now = now
        t = self.totals[direction]  # the walker's: a turned walker walks backward
        # (each peak is max(peak, x) without its call: every cycle)
        if drive is not None:
            speed = self._last_belt_kmh = drive.actual_speed_kmh
            if speed > self.standstill_kmh:
                t.seconds += dt
                t.metres += speed / 3.6 * dt
                peak = t.peak_actual_kmh
                t.peak_actual_kmh = speed if speed > peak else peak
        peak = t.peak_command_kmh
        t.peak_command_kmh = command_kmh if command_kmh > peak else peak

    def transition(self, tr: Transition) -> None:
        if tr.new in _STOPPING and (tr.old is not tr.new or tr.reasons):
            if tr.old is tr.new and tr.new is Mode.STOPPING:
                return
            if tr.reasons == (Reason.POWER_ON,):
                return
            kind = "latched fault" if tr.new is Mode.FAULTED else "controlled"
            self.stops.append(
                StopRecord(tr.at_s - self.t0, kind, tr.reasons, tr.detail, self._last_belt_kmh)
            )


@dataclass(frozen=True)
class SessionSummary:
    profile: str
    patient: str
    outcome: str
    duration_s: float
    totals: dict[Direction, DirectionTotals]
    stops: list[StopRecord]
    cycles: CycleFigures
    final_mode: Mode
    final_reasons: tuple[Reason, ...]
    wall_seconds: float
    virtual: bool
    warnings: tuple[str, ...] = ()  # e.g. the session record could not be written

    @property
    def speedup(self) -> float:
        return self.duration_s / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def lines(self) -> list[str]:
        out = [
            f"Session summary: {self.profile} (patient {self.patient})",
            f"  outcome: {self.outcome}",
            *(f"  WARNING: {w}" for w in self.warnings),
            f"  session time: {_mmss(self.duration_s)}",
        ]
        for direction in Direction:
            t = self.totals[direction]
            out.append(
                f"  {direction.value:8s}: {_mmss(t.seconds)} moving, {t.metres:7.1f} m, "
                f"peak belt {t.peak_actual_kmh:.2f} km/h, peak command "
                f"{t.peak_command_kmh:.2f} km/h"
            )
        if self.stops:
            out.append(f"  stops ({len(self.stops)}):")
            for s in self.stops:
                why = ", ".join(r.value for r in s.reasons)
                extra = f" ({s.detail})" if s.detail else ""
                out.append(
                    f"    {_mmss(s.at_s)}  {s.kind}: {why}{extra}; belt at {s.belt_kmh:.2f} km/h"
                )
        else:
            out.append("  stops: none")
        out.append(
            f"  final state: {self.final_mode.value}"
            + (f" ({', '.join(r.value for r in self.final_reasons)})" if self.final_reasons else "")
        )
        out.append("  control loop:")
        out.extend(f"    {line}" for line in self.cycles.lines())
        if self.virtual:
            out.append(
                f"  virtual clock: {_mmss(self.duration_s)} simulated in "
                f"{self.wall_seconds:.2f} s wall time ({self.speedup:.0f}x real time)"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (the session database keeps it)."""
        return {
            "profile": self.profile,
            "patient": self.patient,
            "outcome": self.outcome,
            "duration_s": round(self.duration_s, 3),
            "totals": {d.value: asdict(t) for d, t in self.totals.items()},
            "stops": [
                {
                    "at_s": round(s.at_s, 3),
                    "kind": s.kind,
                    "reasons": [r.value for r in s.reasons],
                    "detail": s.detail,
                    "belt_kmh": s.belt_kmh,
                }
                for s in self.stops
            ],
            "cycles": asdict(self.cycles),
            "final_mode": self.final_mode.value,
            "final_reasons": [r.value for r in self.final_reasons],
            "wall_seconds": round(self.wall_seconds, 3),
            "virtual": self.virtual,
            "warnings": list(self.warnings),
            "lines": self.lines(),
        }


def _mmss(seconds: float) -> str:
    m, s = divmod(max(seconds, 0.0), 60)
    return f"{int(m):02d}:{s:04.1f}"
