"""Profile sequencing as pure logic: which segment is current, and when it ends.

Segment time counts only while the belt runs the segment's direction (rest
time counts regardless), so a pause or a fault holds the session's place.
The sequencer never starts the belt: at a turnaround it sets the direction
once the interlock reports verified standstill, and waits for a start.
"""

from __future__ import annotations

from dataclasses import dataclass

from treadctl.config.machine import RampLimits
from treadctl.config.profile import ProfileConfig, SegmentKind
from treadctl.protocol.plan import Plan, PlannedSegment
from treadctl.safety.types import (
    Command,
    CommandKind,
    Direction,
    Mode,
    Reason,
    SafetyOutputs,
    SegmentPolicy,
)


@dataclass(frozen=True, slots=True)
class SequencerState:
    index: int = 0
    elapsed_s: float = 0.0
    last_now: float | None = None
    ended: bool = False
    outcome: str = ""


@dataclass(frozen=True, slots=True)
class SegmentChange:
    at_s: float
    segment: PlannedSegment | None  # None: the plan is done


@dataclass(frozen=True, slots=True)
class SegmentCues:
    """What the current segment asks of everything but the interlock.

    The interlock does not see these: the incline is for the incline drive, the cadence
    for the metronome, the ramp for the setpoint generator (None: the machine's ramp for
    the belt's direction). After the end of the plan: level, no cue, the machine's ramp.
    """

    incline_pct: float = 0.0
    cadence_spm: float | None = None
    ramp: RampLimits | None = None


def _direction(kind: SegmentKind) -> Direction:
    return Direction.BACKWARD if kind is SegmentKind.BACKWARD else Direction.FORWARD


def _policies(plan: Plan, profile: ProfileConfig) -> tuple[SegmentPolicy, ...]:
    segs = plan.segments
    out: list[SegmentPolicy] = []
    for i, seg in enumerate(segs):
        if seg.kind is SegmentKind.REST:
            # A rest faces the way of the next moving segment, so the turn happens at rest.
            nxt = next((s for s in segs[i + 1 :] if s.kind is not SegmentKind.REST), None)
            prev = next((s for s in reversed(segs[:i]) if s.kind is not SegmentKind.REST), None)
            ref = nxt or prev
            direction = _direction(ref.kind) if ref else Direction.FORWARD
        else:
            direction = _direction(seg.kind)
        out.append(
            SegmentPolicy(
                index=i,
                moving=seg.kind is not SegmentKind.REST,
                direction=direction,
                target_kmh=seg.target_kmh,
                rail_policy=seg.rail_policy,
                hr_required=profile.heart_rate.required or seg.hr_zone is not None,
                hr_max_bpm=profile.heart_rate.max_bpm,
            )
        )
    return tuple(out)


class Sequencer:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._policies = _policies(plan, plan.profile)

    def policy(self, state: SequencerState) -> SegmentPolicy | None:
        if state.ended or state.index >= len(self._policies):
            return None
        return self._policies[state.index]

    def segment(self, state: SequencerState) -> PlannedSegment | None:
        if state.index >= len(self.plan.segments):
            return None
        return self.plan.segments[state.index]

    def cues(self, state: SequencerState, belt: Direction | None = None) -> SegmentCues:
        """Incline, metronome cadence and ramp of the current segment (pure).

        A segment's ramp override is checked against the machine's ramp for the segment's
        own direction only. Give `belt` (the interlock's direction this cycle) and the
        override is withheld (None: the machine's ramp) unless the belt runs that way:
        after the sequencer moves on at a turnaround the belt still ramps down the old
        way, and a forward override may exceed the machine's backward limits.
        """
        seg = None if state.ended else self.segment(state)
        if seg is None:
            return SegmentCues()
        ramp = seg.ramp
        if belt is not None and (seg.kind is SegmentKind.REST or _direction(seg.kind) is not belt):
            ramp = None
        return SegmentCues(seg.incline_pct, seg.cadence_spm, ramp)

    def step(
        self, state: SequencerState, out: SafetyOutputs, now: float
    ) -> tuple[SequencerState, tuple[Command, ...], SegmentChange | None]:
        dt = 0.0 if state.last_now is None else now - state.last_now
        index, elapsed, ended, outcome = state.index, state.elapsed_s, state.ended, state.outcome
        change: SegmentChange | None = None
        commands: tuple[Command, ...] = ()
        if not ended:
            for decision in out.decisions:
                if decision.accepted and decision.command.kind is CommandKind.STOP:
                    ended, outcome = True, f"stopped by {decision.command.source}"
                    break  # the first stop names the outcome
            if Reason.HEART_RATE_LOST in out.reasons:
                ended, outcome = True, "ended: heart-rate signal lost"
        if not ended and index < len(self.plan.segments):
            seg = self.plan.segments[index]
            policy = self._policies[index]
            if seg.kind is SegmentKind.REST or (
                out.mode is Mode.RUNNING and out.direction is policy.direction
            ):
                elapsed += dt
            if elapsed >= seg.duration_s:
                index, elapsed = index + 1, 0.0
                nxt = self.plan.segments[index] if index < len(self.plan.segments) else None
                change = SegmentChange(now, nxt)
                if nxt is None:
                    ended, outcome = True, "completed"
            if not ended:
                policy = self._policies[index]
                if (
                    policy.direction is not out.direction
                    and out.mode is Mode.STOPPED
                    and out.at_standstill
                ):
                    commands = (
                        Command(CommandKind.SET_DIRECTION, "profile", direction=policy.direction),
                    )
        return SequencerState(index, elapsed, now, ended, outcome), commands, change
