"""The pre-start checklist of one segment: what the operator confirms before its start.

One pure function, used wherever a checklist is shown: the dashboard's start dialog,
the headless console at every stop before a start, and `treadctl plan` for each
segment. The list is for the segment about to start, not the session's first: at a
turnaround of a turn-round machine (`backward_walking = "walker_turns"`) the walker
faces away from the console, cannot reach its stop button, and has the handrail and
console sides swapped; the checklist says so.
"""

from __future__ import annotations

from treadctl.config.machine import MachineConfig
from treadctl.config.profile import (
    BACKWARD_WALKING_MAX_KMH,
    HARNESS_INCLINE_PCT,
    RailPolicy,
    SegmentKind,
)
from treadctl.protocol.plan import Plan, PlannedSegment

ONLY_STOP = (
    "safety key clipped to the walker: their ONLY stop "
    "(the console's stop button is behind them, out of reach)"
)
SIDES_SWAPPED = (
    "sides swapped: the console is behind the walker, the left handrail at their right hand"
)


NO_WATCHDOG_KEY = (
    "the treadmill's own safety key clipped to the walker: this drive has no comm-loss "
    "watchdog, so if treadctl or its link fails only that key stops the belt"
)


def no_watchdog(machine: MachineConfig) -> bool:
    """The machine file's drive has no comm-loss watchdog (a Modbus drive declared without
    one, or a Bluetooth FTMS treadmill: the standard has none)."""
    drive = machine.drive
    return getattr(drive, "has_comm_watchdog", True) is False or getattr(drive, "kind", "") == (
        "ftms"
    )


def segment_words(seg: PlannedSegment, total: int) -> str:
    """ "segment 2/3 BACKWARD at 1.00 km/h": one numbering (1-based) everywhere."""
    what = f"segment {seg.index + 1}/{total} {seg.kind.value.upper()}"
    if seg.kind is SegmentKind.REST:
        return what
    return f"{what} at {seg.target_kmh:.2f} km/h"


def _previous_moving(plan: Plan, index: int) -> PlannedSegment | None:
    return next(
        (s for s in reversed(plan.segments[:index]) if s.kind is not SegmentKind.REST), None
    )


def _next_moving(plan: Plan, index: int) -> PlannedSegment | None:
    return next((s for s in plan.segments[index + 1 :] if s.kind is not SegmentKind.REST), None)


def _mmss(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"


def _orientation(machine: MachineConfig, plan: Plan, seg: PlannedSegment) -> list[str]:
    prev = _previous_moving(plan, seg.index)
    turned = prev is not None and prev.kind is not seg.kind
    if seg.kind is SegmentKind.BACKWARD and machine.walker_turns:
        lines = ["walker faces AWAY from the console, walks backward (belt runs forward)"]
        if turned:
            lines.append("walker turned round at standstill, and the turn confirmed")
        return [*lines, ONLY_STOP, SIDES_SWAPPED]
    if seg.kind is SegmentKind.BACKWARD:
        lines = ["walker faces the console, walks backward (belt runs backward)"]
        if turned:
            lines.append("walker stays facing the console: only the belt turns")
        return [*lines, "safety key clipped to the walker (every backward segment)"]
    lines = ["walker faces the console, walks forward"]
    if turned and machine.walker_turns:
        lines.append("walker turned back round at standstill, and the turn confirmed")
    return [*lines, "safety key clipped to the walker"]


def _rails(seg: PlannedSegment, machine: MachineConfig) -> str:
    if seg.rail_policy is RailPolicy.HOLD_TO_RUN:
        return "hands on both handrails: this segment does not start or run without them"
    if seg.rail_policy is RailPolicy.UNTIL_CONFIDENT:
        cap = machine.limits.rail_release_cap_kmh
        return f"hands on the handrails until confident (released: capped at {cap:g} km/h)"
    return "handrails within reach (advisory: not checked)"


def checklist(machine: MachineConfig, plan: Plan, segment_index: int) -> list[str]:
    """What the operator confirms before starting segment `segment_index` (0-based)."""
    segs = plan.segments
    if not 0 <= segment_index < len(segs):
        return []
    seg = segs[segment_index]
    if seg.kind is SegmentKind.REST:
        lines = [f"rest {_mmss(seg.duration_s)}: the belt stays stopped"]
        prev, nxt = _previous_moving(plan, segment_index), _next_moving(plan, segment_index)
        if machine.walker_turns and prev is not None and nxt is not None and prev.kind != nxt.kind:
            lines.append("the walker turns round during the rest, with the belt at standstill")
        if nxt is not None:
            lines.append(f"the checks of {segment_words(nxt, len(segs))} come before its start")
        return lines
    lines = _orientation(machine, plan, seg)
    if no_watchdog(machine):
        lines.append(NO_WATCHDOG_KEY)  # on every start: nothing else stops a runaway belt
    lines.append(_rails(seg, machine))
    if plan.requires_harness or seg.incline_pct >= HARNESS_INCLINE_PCT:
        if seg.incline_pct >= HARNESS_INCLINE_PCT:
            why = f"incline {seg.incline_pct:g} % (required from {HARNESS_INCLINE_PCT:g} %)"
        elif plan.profile.requires_harness:
            why = "the profile requires it"
        else:
            why = f"the profile's incline reaches {plan.profile.max_incline_pct:g} %"
        lines.append(f"chest harness on and attached to the safety arch: {why}")
    if seg.incline_pct:
        rng = machine.incline
        if rng is not None and rng.actuator is not None:
            lines.append(
                f"incline {seg.incline_pct:g} %: treadctl drives it at {rng.rate_pct_per_s:g} %/s "
                "once the belt runs; keep the lift's path clear"
            )
        else:
            lines.append(
                f"incline set by hand to {seg.incline_pct:g} % (treadctl does not drive it)"
            )
    if seg.hr_zone is not None:
        z = seg.hr_zone
        lines.append(
            f"heart-rate strap on and reading: the speed follows {z.low_bpm:g}-{z.high_bpm:g} bpm "
            f"({z.min_kmh:g}-{z.max_kmh:g} km/h)"
        )
    elif plan.profile.heart_rate.required:
        lines.append("heart-rate strap on and reading")
    if seg.kind is SegmentKind.BACKWARD and seg.target_kmh > BACKWARD_WALKING_MAX_KMH:
        lines.append(f"backward running above {BACKWARD_WALKING_MAX_KMH:g} km/h: athlete opted in")
    if plan.forward_only:
        lines.append("exercise test: forward only, backward is refused")
    if seg.cadence_spm is not None:
        lines.append(f"metronome audible ({seg.cadence_spm:g} steps/min, a cue)")
    return lines


__all__ = [
    "NO_WATCHDOG_KEY",
    "ONLY_STOP",
    "SIDES_SWAPPED",
    "checklist",
    "no_watchdog",
    "segment_words",
]
