"""The controller's state in words: a loop snapshot as the Status message clients show.

Pure: no I/O. Each interlock input gets a level (ok, warn, fault) and a reason an
operator reads from a step away; a latched fault names what tripped.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from treadctl.api.messages import (
    MAX_INCLINE_FAULTS,
    MAX_INCLINE_TEXT,
    InclineStatus,
    Indicator,
    Level,
    RemoteRequest,
    SegmentInfo,
    SessionInfo,
    Status,
)
from treadctl.config.machine import MachineConfig
from treadctl.config.profile import RailPolicy, Supervision
from treadctl.control.loop import ControlLoop, LoopSnapshot
from treadctl.protocol.checklist import checklist
from treadctl.protocol.plan import Plan, PlannedSegment
from treadctl.protocol.sequencer import Sequencer
from treadctl.safety.incline import InclineOutputs
from treadctl.safety.types import LATCHING, Direction, Mode, Reason, SafetyOutputs


def segment_info(seg: PlannedSegment, checks: list[str] | None = None) -> SegmentInfo:
    return SegmentInfo(
        index=seg.index,
        label=seg.label,
        kind=seg.kind.value,
        target_kmh=seg.target_kmh,
        duration_s=seg.duration_s,
        rail_policy=seg.rail_policy.value,
        incline_pct=seg.incline_pct,
        cadence_spm=seg.cadence_spm,
        checklist=checks or [],
    )


def session_info(
    machine: MachineConfig,
    plan: Plan,
    patient: str,
    simulated: bool,
    heartbeat_s: float,
    caps: tuple[float, float],
) -> SessionInfo:
    prescription = plan.prescription
    return SessionInfo(
        profile=plan.profile.name,
        patient=patient,
        machine=machine.name,
        simulated=simulated,
        loop_hz=machine.loop.rate_hz,
        speed_step_kmh=machine.speed_step_kmh,
        max_forward_kmh=caps[0],
        max_backward_kmh=caps[1],
        supervision=plan.profile.supervision.value,
        presence_timeout_s=machine.operator.presence_timeout_s,
        heartbeat_s=heartbeat_s,
        segments=[segment_info(s, checklist(machine, plan, s.index)) for s in plan.segments],
        pre_start_checks=checklist(machine, plan, 0),
        progression=str(prescription) if prescription is not None else "",
        backward_walking=machine.backward_walking,
    )


class StatusBuilder:
    def __init__(
        self,
        machine: MachineConfig,
        plan: Plan,
        heart_rate_required: bool,
        loop: ControlLoop | None = None,
    ) -> None:
        """`loop`: the control loop whose time limit (LoopParts.max_session_s, from its
        start) the status counts down; None: no countdown in the status."""
        self.machine = machine
        self.loop = loop
        # Whether the metronome's clicks are audible (serve sets it from its bridge);
        # None: the status says "not known".
        self.sound: Callable[[], bool | None] | None = None
        self.plan = plan
        self.sequencer = Sequencer(plan)
        self.hr_fitted = machine.heart_rate.present
        self.hr_required = heart_rate_required
        self.supervised = plan.profile.supervision is Supervision.REQUIRED
        starts = [0.0]
        for seg in plan.segments:
            starts.append(starts[-1] + seg.duration_s)
        self._starts = starts
        self._infos = [segment_info(s, checklist(machine, plan, s.index)) for s in plan.segments]

    def build(
        self,
        snap: LoopSnapshot,
        remote: list[RemoteRequest] | None = None,
        ended: bool = False,
    ) -> Status | None:
        out = snap.outputs
        if out is None:
            return None
        seq = snap.sequencer
        segs = self.plan.segments
        index = snap.segment_index
        seg = segs[index] if index < len(segs) and not seq.ended else None
        nxt = segs[index + 1] if seg is not None and index + 1 < len(segs) else None
        cues = self.sequencer.cues(seq)
        total = self._starts[-1]
        if seg is None:
            seg_elapsed, seg_remaining, elapsed = 0.0, 0.0, total
        else:
            seg_elapsed = min(snap.segment_elapsed_s, seg.duration_s)
            seg_remaining = seg.duration_s - seg_elapsed
            elapsed = self._starts[index] + seg_elapsed
        drive = snap.drive
        fresh = drive is not None and snap.drive_age_s <= self.machine.watchdog.drive_read_timeout_s
        return Status(
            t_s=snap.now,
            mode=out.mode.value,
            direction=out.direction.value,
            reasons=[r.value for r in out.reasons],
            latched=out.mode is Mode.FAULTED,
            detail=snap.interlock.detail,
            target_kmh=out.target_kmh,
            setpoint_kmh=snap.setpoint_kmh,
            actual_kmh=drive.actual_speed_kmh if fresh and drive is not None else None,
            cap_kmh=out.speed_cap_kmh,
            at_standstill=out.at_standstill,
            incline_pct=cues.incline_pct,
            heart_rate_bpm=snap.heart_rate_bpm,
            cue_spm=cues.cadence_spm if out.mode is Mode.RUNNING else None,
            segment=self._infos[seg.index] if seg is not None else None,
            next_segment=self._infos[nxt.index] if nxt is not None else None,
            segment_elapsed_s=seg_elapsed,
            segment_remaining_s=seg_remaining,
            session_elapsed_s=elapsed,
            session_remaining_s=max(0.0, total - elapsed),
            indicators=self.indicators(snap, out, seg),
            warnings=list(out.warnings),
            operator_present=None
            if snap.operator_age_s is None
            else snap.operator_age_s <= self.machine.operator.presence_timeout_s,
            remote_requests=remote or [],
            ended=ended,
            backward_walking=self.machine.backward_walking,
            belt_direction=out.belt_direction.value,
            turn_pending=out.turn_pending,
            operator_kmh=self.operator_kmh(snap, seg),
            limit_remaining_s=self.limit_remaining_s(snap),
            incline=self.incline(snap.incline),
            metronome_sound=self.sound() if self.sound is not None else None,
        )

    def incline(self, inc: InclineOutputs | None) -> InclineStatus | None:
        """The powered incline in the status (None without an actuator); a non-finite
        figure is shown as no figure, never sent."""
        if inc is None:
            return None
        rng = self.machine.incline
        return InclineStatus(
            target_pct=_finite(inc.target_pct) or 0.0,
            goal_pct=_finite(inc.goal_pct),
            actual_pct=_finite(inc.actual_pct),
            mode=inc.mode.value,
            faults=[f.value[:MAX_INCLINE_TEXT] for f in inc.faults[:MAX_INCLINE_FAULTS]],
            detail=inc.detail[:MAX_INCLINE_TEXT],
            home_allowed=rng is not None and rng.return_to_zero,
        )

    def limit_remaining_s(self, snap: LoopSnapshot) -> float | None:
        """Seconds until the loop's time limit ends the session (negative once passed)."""
        loop = self.loop
        if loop is None or loop.p.max_session_s is None or not math.isfinite(loop.t0):
            return None
        left = loop.t0 + loop.p.max_session_s - snap.now
        return left if math.isfinite(left) else None

    @staticmethod
    def operator_kmh(snap: LoopSnapshot, seg: PlannedSegment | None) -> float | None:
        """The operator's speed for the running segment (+/-), when it has one."""
        il = snap.interlock
        if seg is None or il.operator_speed_kmh is None or il.operator_speed_segment != seg.index:
            return None
        return il.operator_speed_kmh

    def indicators(
        self, snap: LoopSnapshot, out: SafetyOutputs, seg: PlannedSegment | None
    ) -> list[Indicator]:
        wd = self.machine.watchdog
        reasons = set(out.reasons)
        io = snap.io
        rows: list[Indicator] = []

        def add(name: str, label: str, level: Level, text: str) -> None:
            rows.append(Indicator(name=name, label=label, level=level, text=text))

        def latched(reason: Reason) -> bool:
            return reason in reasons and reason in LATCHING

        if io is None:
            unread = "not read" + (" (stale)" if snap.io_age_s > wd.input_read_timeout_s else "")
            add("estop", "E-stop chain", Level.FAULT, f"safety inputs {unread}")
            add("key", "Safety key", Level.FAULT, f"safety inputs {unread}")
            add("rail_left", "Left rail", Level.WARN, "unknown")
            add("rail_right", "Right rail", Level.WARN, "unknown")
        else:
            if not io.estop_chain_ok:
                add("estop", "E-stop chain", Level.FAULT, "OPEN: release the e-stop")
            elif latched(Reason.ESTOP_CHAIN_OPEN):
                add("estop", "E-stop chain", Level.WARN, "closed again: reset to clear")
            else:
                add("estop", "E-stop chain", Level.OK, "closed")
            if not io.key_present:
                add("key", "Safety key", Level.FAULT, "PULLED: clip the key back in")
            elif latched(Reason.SAFETY_KEY_PULLED):
                add("key", "Safety key", Level.WARN, "back in: reset to clear")
            else:
                add("key", "Safety key", Level.OK, "in place")
            policy = seg.rail_policy if seg is not None else None
            # A walker turned round (turn-round machine, walking backward) has the machine's
            # left rail at their right hand: say whose hand it is.
            turned = self.machine.walker_turns and out.direction is Direction.BACKWARD
            for name, label, held, hand in (
                ("rail_left", "Left rail", io.rail_left, "right"),
                ("rail_right", "Right rail", io.rail_right, "left"),
            ):
                side = f" · walker's {hand}" if turned else ""
                if held:
                    add(name, label, Level.OK, "held" + side)
                elif Reason.RAILS_RELEASED in reasons:
                    add(name, label, Level.FAULT, "released: hold-to-run stop" + side)
                elif policy is RailPolicy.HOLD_TO_RUN:
                    add(name, label, Level.WARN, "released (hold-to-run segment)" + side)
                else:
                    add(name, label, Level.OK if policy is None else Level.WARN, "released" + side)
        drive = snap.drive
        if snap.drive_age_s > wd.drive_read_timeout_s:
            add("drive_comm", "Drive comm", Level.FAULT, f"no answer for {snap.drive_age_s:.1f} s")
        elif drive is None:
            add("drive_comm", "Drive comm", Level.WARN, "reading missed")
        elif latched(Reason.DRIVE_COMM_LOST):
            add("drive_comm", "Drive comm", Level.WARN, "answering again: reset to clear")
        else:
            add("drive_comm", "Drive comm", Level.OK, "answering")
        if drive is not None and drive.fault_code != 0:
            add("drive_fault", "Drive fault", Level.FAULT, f"fault code {drive.fault_code}")
        elif drive is not None and not drive.ready:
            add("drive_fault", "Drive fault", Level.WARN, "drive not ready (power cut?)")
        elif latched(Reason.DRIVE_FAULT) or latched(Reason.DRIVE_NOT_READY):
            add("drive_fault", "Drive fault", Level.WARN, "cleared: reset to clear")
        else:
            add("drive_fault", "Drive fault", Level.OK, "none")
        bpm = snap.heart_rate_bpm
        fresh_hr = (
            bpm is not None
            and snap.heart_rate_age_s is not None
            and snap.heart_rate_age_s <= self.machine.limits.hr_timeout_s
        )
        if Reason.HEART_RATE_LOST in reasons:
            add("heart_rate", "Heart rate", Level.FAULT, "signal lost: session ended")
        elif Reason.HEART_RATE_HIGH in reasons:
            add("heart_rate", "Heart rate", Level.FAULT, f"{bpm or 0:.0f} bpm: above the limit")
        elif fresh_hr and bpm is not None:
            add("heart_rate", "Heart rate", Level.OK, f"{bpm:.0f} bpm")
        elif self.hr_required:
            add("heart_rate", "Heart rate", Level.WARN, "no signal: speed capped")
        elif self.hr_fitted:
            add("heart_rate", "Heart rate", Level.WARN, "no signal (not required)")
        else:
            add("heart_rate", "Heart rate", Level.OK, "not fitted, not required")
        age = snap.operator_age_s
        timeout = self.machine.operator.presence_timeout_s
        if age is None:
            add("operator", "Operator", Level.OK, "presence not supervised")
        elif age == float("inf"):
            add("operator", "Operator", Level.FAULT, "no console attached: start refused")
        elif age > timeout:
            add("operator", "Operator", Level.FAULT, "console not answering: belt stopped")
        elif age > timeout / 2:
            add("operator", "Operator", Level.WARN, f"console slow ({age:.1f} s)")
        else:
            add("operator", "Operator", Level.OK, "console answering")
        return rows


def incline_home_refusal(loop: ControlLoop) -> str:
    """Why a return of the incline to 0 % can never apply on this machine ("" if it can)."""
    rng = loop.p.machine.incline
    if loop.incline_rules is None or rng is None:
        return "incline_home: no powered incline on this machine (set the incline by hand)"
    if not rng.return_to_zero:
        return (
            "incline_home: the machine file does not allow a return to 0 % (incline.return_to_zero)"
        )
    return ""


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def is_moving(out: SafetyOutputs) -> bool:
    """The belt may be moving or is commanded to: quitting is refused."""
    return out.mode in (Mode.RUNNING, Mode.STOPPING) or not out.at_standstill


__all__ = ["StatusBuilder", "incline_home_refusal", "is_moving", "segment_info", "session_info"]
