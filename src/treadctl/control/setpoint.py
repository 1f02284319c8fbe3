"""Jerk-limited (S-curve) speed setpoints, with a quick-stop path.

Works on the speed magnitude only: direction belongs to the interlock and
changes only at standstill. Two deliberate departures from a pure S-curve,
both towards safety: acceleration is dropped at once when the target falls
below the current speed (a lowered cap must never be overshot), and the
quick-stop path decelerates at its own fixed rate with no jerk limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from treadctl.config.machine import RampLimits
from treadctl.config.profile import SegmentKind
from treadctl.protocol.plan import PlannedSegment
from treadctl.safety.types import Direction


@dataclass(frozen=True, slots=True)
class Ramp:
    accel_kmh_per_s: float
    decel_kmh_per_s: float
    jerk_kmh_per_s2: float

    @classmethod
    def from_config(cls, ramp: RampLimits) -> Ramp:
        return cls(ramp.accel_kmh_per_s, ramp.decel_kmh_per_s, ramp.jerk_kmh_per_s2)


@dataclass(frozen=True, slots=True)
class Setpoint:
    speed_kmh: float = 0.0
    accel_kmh_per_s: float = 0.0
    quick: bool = False


def step_setpoint(
    state: Setpoint,
    target_kmh: float,
    ramp: Ramp,
    period_s: float,
    quick_decel_kmh_per_s: float | None = None,
) -> Setpoint:
    """Advance the setpoint by one period towards `target_kmh`."""
    speed = state.speed_kmh
    if quick_decel_kmh_per_s is not None:
        new_speed = max(0.0, speed - quick_decel_kmh_per_s * period_s)
        return Setpoint(new_speed, (new_speed - speed) / period_s, True)

    accel = state.accel_kmh_per_s
    jerk_step = ramp.jerk_kmh_per_s2 * period_s
    error = target_kmh - speed
    if error > 0:
        # Gain still to come while easing the acceleration back to zero: a^2 / 2j.
        if accel > 0 and error <= accel * accel / (2 * ramp.jerk_kmh_per_s2):
            accel = max(accel - jerk_step, 0.0)
        else:
            accel = min(accel + jerk_step, ramp.accel_kmh_per_s)
        new_speed = speed + accel * period_s
        if new_speed >= target_kmh:
            new_speed, accel = target_kmh, 0.0
    elif error < 0:
        accel = min(accel, 0.0)
        if accel < 0 and -error <= accel * accel / (2 * ramp.jerk_kmh_per_s2):
            accel = min(accel + jerk_step, 0.0)
        else:
            accel = max(accel - jerk_step, -ramp.decel_kmh_per_s)
        new_speed = speed + accel * period_s
        if new_speed <= target_kmh:
            new_speed, accel = target_kmh, 0.0
    else:
        if accel == 0.0 and not state.quick and speed >= 0.0:
            return state  # on target at rest or at speed: the same setpoint (immutable)
        new_speed, accel = speed, 0.0
    return Setpoint(max(new_speed, 0.0), accel, False)


def segment_ramps(segments: Sequence[PlannedSegment]) -> list[tuple[Direction, Ramp] | None]:
    """Each segment's own ramp (validated within the machine's limits for its direction),
    used only while the belt runs that direction: (direction, ramp) or None."""
    return [
        (
            Direction.BACKWARD if seg.kind is SegmentKind.BACKWARD else Direction.FORWARD,
            Ramp.from_config(seg.ramp),
        )
        if seg.ramp is not None and seg.kind is not SegmentKind.REST
        else None
        for seg in segments
    ]
