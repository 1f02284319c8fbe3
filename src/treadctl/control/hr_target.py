"""The heart-rate-zone speed controller: pure, bounded, one step at a time.

A heart rate follows effort with a lag of tens of seconds, so the controller moves in
small steps and waits between them: up by at most `up_step_kmh` when below the zone,
down by at most `down_step_kmh` (the larger step: too hard is worse than too easy) when
above it, at most one step per `step_interval_s`. Every speed it asks for lies within
the segment's [min_kmh, max_kmh] and under the interlock's cap at the time; the
setpoint generator then ramps to it with the segment's own ramp. It never acts on a
missing reading (the interlock's signal-loss rule holds and caps the belt then), never
while the belt is not running the segment, and an operator's speed change wins: the
controller carries on from the operator's speed after a full interval. Above the zone's
top for `above_zone_stop_s` in spite of the steps down: a controlled stop. The
interlock's own limit (the profile's heart_rate.max_bpm) stops at once, as always.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from treadctl.protocol.plan import HrZone
from treadctl.safety.types import Command, CommandKind

HR_TARGET_SOURCE = "heart-rate zone"


@dataclass(frozen=True, slots=True)
class HrTargetState:
    segment: int = -1  # the zone segment under control; -1: none
    speed_kmh: float = 0.0  # the speed last asked for in this segment
    last_step_at: float = 0.0  # when that speed was set (start, step or operator)
    above_since: float | None = None  # above the zone's top since (with a reading)
    stop_asked: bool = False


@dataclass(frozen=True, slots=True)
class HrTargetStep:
    state: HrTargetState
    command: Command | None = None  # SET_SPEED for a step, STOP for the above-zone stop
    from_kmh: float = 0.0  # the step's start (the speed in force, under the cap)


def step_hr_target(
    state: HrTargetState,
    zone: HrZone | None,
    segment_index: int,
    running: bool,
    hr_bpm: float | None,
    cap_kmh: float,
    operator_kmh: float | None,
    now: float,
) -> HrTargetStep:
    """One cycle. `running`: the belt runs this segment's direction; `cap_kmh`: the
    interlock's speed cap; `operator_kmh`: a speed someone else set since the last cycle."""
    if zone is None:
        return HrTargetStep(HrTargetState() if state.segment != -1 else state)
    if state.segment != segment_index:
        # A new zone segment: the program's own start speed; the first step after a full
        # interval, as the heart rate needs that long to answer the start.
        state = HrTargetState(segment_index, zone.start_kmh, now)
    if operator_kmh is not None:
        state = replace(state, speed_kmh=operator_kmh, last_step_at=now)
    if not running or hr_bpm is None:
        return HrTargetStep(state)
    ceiling = min(zone.max_kmh, cap_kmh)
    in_force = min(state.speed_kmh, ceiling)
    above = hr_bpm > zone.high_bpm
    since = state.above_since
    state = replace(state, above_since=(now if since is None else since) if above else None)
    if state.above_since is not None and now - state.above_since >= zone.above_zone_stop_s:
        if state.stop_asked:
            return HrTargetStep(state)
        stop = Command(CommandKind.STOP, HR_TARGET_SOURCE)
        return HrTargetStep(replace(state, stop_asked=True), stop, in_force)
    if now - state.last_step_at < zone.step_interval_s:
        return HrTargetStep(state)
    wanted: float | None = None
    if hr_bpm < zone.low_bpm and in_force < ceiling:
        wanted = min(in_force + zone.up_step_kmh, ceiling)
    elif above and in_force > zone.min_kmh:
        wanted = max(in_force - zone.down_step_kmh, zone.min_kmh)
    if wanted is None:
        return HrTargetStep(state)
    new = replace(state, speed_kmh=wanted, last_step_at=now)
    return HrTargetStep(new, Command(CommandKind.SET_SPEED, HR_TARGET_SOURCE, wanted), in_force)
