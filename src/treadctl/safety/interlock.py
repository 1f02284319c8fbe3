"""The interlock: a pure step function, modelled on LinuxCNC's estop_latch.

`Interlock.step(state, inputs, now)` does no I/O and never awaits; time comes in
as `now` (seconds on the controller's clock). It starts faulted, latches every
fault, keeps the first trip first and only appends later reasons, and clears
only on a reset command while every input is healthy and the belt has been at
standstill for the dwell time. Nothing here can move the belt without an
explicit start command.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from treadctl.config.machine import Limits, OperatorConfig, Watchdog
from treadctl.config.patient import PatientConfig
from treadctl.config.profile import RailPolicy
from treadctl.safety.types import (
    LATCHING,
    QUICK_STOP,
    Command,
    CommandKind,
    Decel,
    Decision,
    Direction,
    DriveStatus,
    InterlockState,
    Mode,
    Reason,
    SafetyInputs,
    SafetyOutputs,
    SegmentPolicy,
    Transition,
)


@dataclass(frozen=True, slots=True)
class InterlockConfig:
    machine_max_forward_kmh: float
    machine_max_backward_kmh: float
    max_forward_kmh: float  # machine and patient caps combined
    max_backward_kmh: float
    reverse_start_cap_kmh: float
    reverse_start_hold_s: float
    standstill_kmh: float
    standstill_dwell_s: float
    speed_tolerance_kmh: float
    runaway_time_s: float
    overspeed_margin_kmh: float
    rail_grace_s: float
    rail_release_cap_kmh: float
    hr_timeout_s: float
    hr_lost_cap_kmh: float
    hr_lost_end_s: float
    hr_plausible_min_bpm: float
    hr_plausible_max_bpm: float
    drive_timeout_s: float
    io_timeout_s: float
    operator_presence_timeout_s: float = 2.0
    # True: the belt never reverses; backward walking is the walker turned round.
    walker_turns: bool = False

    def belt_direction(self, walking: Direction) -> Direction:
        return Direction.FORWARD if self.walker_turns else walking

    @classmethod
    def from_config(
        cls,
        limits: Limits,
        watchdog: Watchdog,
        patient: PatientConfig | None = None,
        operator: OperatorConfig | None = None,
        walker_turns: bool = False,
    ) -> InterlockConfig:
        fwd, bwd = limits.max_forward_kmh, limits.max_backward_kmh
        if patient is not None:
            if patient.max_forward_kmh is not None:
                fwd = min(fwd, patient.max_forward_kmh)
            if patient.max_backward_kmh is not None:
                bwd = min(bwd, patient.max_backward_kmh)
            bwd = min(bwd, fwd)  # a patient's backward cap never exceeds their forward cap
        return cls(
            machine_max_forward_kmh=limits.max_forward_kmh,
            machine_max_backward_kmh=limits.max_backward_kmh,
            max_forward_kmh=fwd,
            max_backward_kmh=bwd,
            reverse_start_cap_kmh=min(limits.reverse_start_cap_kmh, bwd),
            reverse_start_hold_s=limits.reverse_start_hold_s,
            standstill_kmh=limits.standstill_kmh,
            standstill_dwell_s=limits.standstill_dwell_s,
            speed_tolerance_kmh=limits.speed_tolerance_kmh,
            runaway_time_s=limits.runaway_time_s,
            overspeed_margin_kmh=limits.overspeed_margin_kmh,
            rail_grace_s=limits.rail_grace_s,
            rail_release_cap_kmh=limits.rail_release_cap_kmh,
            hr_timeout_s=limits.hr_timeout_s,
            hr_lost_cap_kmh=limits.hr_lost_cap_kmh,
            hr_lost_end_s=limits.hr_lost_end_s,
            hr_plausible_min_bpm=limits.hr_plausible_min_bpm,
            hr_plausible_max_bpm=limits.hr_plausible_max_bpm,
            drive_timeout_s=watchdog.drive_read_timeout_s,
            io_timeout_s=watchdog.input_read_timeout_s,
            operator_presence_timeout_s=(operator or OperatorConfig()).presence_timeout_s,
            walker_turns=walker_turns,
        )

    def static_cap_kmh(self, direction: Direction) -> float:
        if direction is Direction.BACKWARD:
            return self.max_backward_kmh
        return self.max_forward_kmh

    def machine_cap_kmh(self, direction: Direction) -> float:
        if direction is Direction.BACKWARD:
            return self.machine_max_backward_kmh
        return self.machine_max_forward_kmh


def facing_words(walking: Direction) -> str:
    """Where a walker faces to walk this way on a turn-round machine."""
    if walking is Direction.BACKWARD:
        return "away from the console"
    return "the console"


def _valid_drive(drive: DriveStatus | None) -> DriveStatus | None:
    """A reading with a non-finite or negative speed is no reading at all."""
    if drive is None:
        return None
    speed = drive.actual_speed_kmh
    if not math.isfinite(speed) or speed < 0:
        return None
    return drive


class Interlock:
    """Holds the constant limits; `step` is pure."""

    def __init__(self, config: InterlockConfig) -> None:
        self.config = config

    def initial_state(self) -> InterlockState:
        return InterlockState()

    def step(
        self, state: InterlockState, inputs: SafetyInputs, now: float
    ) -> tuple[InterlockState, SafetyOutputs]:
        cfg = self.config
        mode = state.mode
        reasons = state.reasons
        detail = state.detail
        direction = state.direction
        facing = state.facing if cfg.walker_turns else state.direction
        run_started_at = state.run_started_at
        operator_speed = state.operator_speed_kmh
        operator_segment = state.operator_speed_segment
        session_ended = state.session_ended
        transitions: list[Transition] = []
        decisions: list[Decision] = []
        warnings: list[str] = []
        drive = _valid_drive(inputs.drive)
        io = inputs.io
        segment = inputs.segment

        def enter(new_mode: Mode, why: tuple[Reason, ...], text: str = "") -> None:
            nonlocal mode, reasons, detail
            transitions.append(Transition(now, mode, new_mode, why, text))
            mode, reasons, detail = new_mode, why, text

        # Standstill is verified only by a fresh drive reading and a zero command.
        standstill_since = state.standstill_since
        if (
            drive is not None
            and drive.actual_speed_kmh <= cfg.standstill_kmh
            and inputs.commanded_kmh <= cfg.standstill_kmh
        ):
            if standstill_since is None:
                standstill_since = now
        else:
            standstill_since = None
        at_standstill = (
            standstill_since is not None and now - standstill_since >= cfg.standstill_dwell_s
        )

        # Faults, all of them, every cycle.
        faults: list[Reason] = []
        fault_text = ""
        if io is None:
            faults.append(Reason.SAFETY_INPUTS_UNREADABLE)
        else:
            if not io.estop_chain_ok:
                faults.append(Reason.ESTOP_CHAIN_OPEN)
            if not io.key_present:
                faults.append(Reason.SAFETY_KEY_PULLED)
        io_stale = not inputs.io_age_s <= cfg.io_timeout_s  # a NaN age is expired too
        drive_stale = not inputs.drive_age_s <= cfg.drive_timeout_s
        if io_stale:
            faults.append(Reason.SAFETY_INPUTS_STALE)
        if drive_stale:
            faults.append(Reason.DRIVE_COMM_LOST)
        runaway_since = state.runaway_since
        if drive is not None:
            if drive.fault_code != 0:
                faults.append(Reason.DRIVE_FAULT)
                fault_text = f"drive fault code {drive.fault_code}"
            if mode in (Mode.RUNNING, Mode.STOPPING) and not drive.ready:
                # while stopping too: a drive that drops out makes the stop uncontrolled
                faults.append(Reason.DRIVE_NOT_READY)
            moving = drive.actual_speed_kmh > cfg.standstill_kmh
            if drive.actual_speed_kmh > cfg.machine_cap_kmh(direction) + cfg.overspeed_margin_kmh:
                faults.append(Reason.OVERSPEED)
                fault_text = fault_text or f"belt at {drive.actual_speed_kmh:.2f} km/h"
            if moving and drive.direction is not cfg.belt_direction(direction):
                faults.append(Reason.DIRECTION_MISMATCH)
            if mode in (Mode.RUNNING, Mode.STOPPING) and (
                abs(drive.actual_speed_kmh - inputs.commanded_kmh) > cfg.speed_tolerance_kmh
            ):
                if runaway_since is None:
                    runaway_since = now
                if now - runaway_since >= cfg.runaway_time_s:
                    faults.append(Reason.RUNAWAY)
                    fault_text = fault_text or (
                        f"commanded {inputs.commanded_kmh:.2f} km/h, "
                        f"belt {drive.actual_speed_kmh:.2f} km/h"
                    )
            else:
                runaway_since = None
        elif mode not in (Mode.RUNNING, Mode.STOPPING):
            # a missed reading keeps the timer while the drive is enabled
            runaway_since = None

        if faults:
            if mode is Mode.FAULTED:
                added = tuple(r for r in faults if r not in reasons)
                if added:
                    reasons = reasons + added
                    transitions.append(Transition(now, mode, mode, added, fault_text))
            else:
                enter(Mode.FAULTED, tuple(dict.fromkeys(faults)), fault_text)

        # Heart rate and handrails, tracked whatever the mode.
        hr_lost_since = state.hr_lost_since
        hr_fresh = (
            inputs.heart_rate_bpm is not None
            # implausible is no reading: 0 bpm from a strap that lost contact; NaN fails too
            and cfg.hr_plausible_min_bpm <= inputs.heart_rate_bpm <= cfg.hr_plausible_max_bpm
            and inputs.heart_rate_age_s is not None
            and inputs.heart_rate_age_s <= cfg.hr_timeout_s
        )
        hr_needed = segment is not None and segment.hr_required
        if hr_needed and not hr_fresh:
            if hr_lost_since is None:
                hr_lost_since = now
        else:
            hr_lost_since = None
        # A supervising console that stopped answering (NaN age too) is absent.
        operator_absent = inputs.operator_age_s is not None and not (
            inputs.operator_age_s <= cfg.operator_presence_timeout_s
        )
        rails_released_since = state.rails_released_since
        released = io is not None and not (io.rail_left or io.rail_right)
        if released:
            if rails_released_since is None:
                rails_released_since = now
        else:
            rails_released_since = None

        def unhealthy() -> list[str]:
            why: list[str] = []
            if io is None:
                why.append(Reason.SAFETY_INPUTS_UNREADABLE.value)
            else:
                if not io.estop_chain_ok:
                    why.append(Reason.ESTOP_CHAIN_OPEN.value)
                if not io.key_present:
                    why.append(Reason.SAFETY_KEY_PULLED.value)
            if io_stale:
                why.append(Reason.SAFETY_INPUTS_STALE.value)
            if drive is None or drive_stale:
                why.append("no fresh drive reading")
            else:
                if drive.fault_code != 0:
                    why.append(f"drive fault code {drive.fault_code} still present")
                if not drive.ready:
                    why.append("drive not ready")
            if not at_standstill:
                why.append("belt not at verified standstill")
            return why

        for cmd in inputs.commands:
            accepted, text = True, ""
            kind = cmd.kind
            if kind in (CommandKind.STOP, CommandKind.PAUSE):
                why = Reason.OPERATOR_STOP if kind is CommandKind.STOP else Reason.OPERATOR_PAUSE
                if mode is Mode.RUNNING:
                    enter(Mode.STOPPING, (why,), f"from {cmd.source}")
                elif mode is Mode.STOPPING and why not in reasons:
                    reasons = (*reasons, why)
                text = f"belt {mode.value}"
            elif kind is CommandKind.RESET:
                if mode is not Mode.FAULTED:
                    text = "nothing to reset"
                else:
                    why_not = unhealthy()
                    if why_not:
                        accepted, text = False, "; ".join(why_not)
                    else:
                        enter(Mode.STOPPED, (), "reset")
            elif kind is CommandKind.START:
                why_not = []
                if mode is not Mode.STOPPED:
                    why_not.append(
                        "latched fault: reset first" if mode is Mode.FAULTED else f"belt {mode}"
                    )
                else:
                    why_not = unhealthy()
                if session_ended:
                    why_not.append("session has ended")
                if operator_absent:
                    why_not.append("no operator console answering: open the dashboard")
                if segment is None or not segment.moving:
                    why_not.append("no moving segment to start")
                else:
                    if segment.direction is not direction:
                        why_not.append(
                            f"belt set to {direction.value}, segment needs "
                            f"{segment.direction.value}: change direction first"
                        )
                    elif facing is not direction:
                        why_not.append(
                            f"walker not confirmed facing {facing_words(direction)}: "
                            "turn the walker round, then confirm the turn"
                        )
                    if segment.hr_required and not hr_fresh:
                        why_not.append("no heart-rate signal")
                    if (
                        segment.hr_max_bpm is not None
                        and hr_fresh
                        and inputs.heart_rate_bpm is not None
                        and inputs.heart_rate_bpm > segment.hr_max_bpm
                    ):
                        why_not.append("heart rate above the profile's limit")
                    if segment.rail_policy is RailPolicy.HOLD_TO_RUN and released:
                        why_not.append("hold-to-run segment: hold the handrails")
                if why_not:
                    accepted, text = False, "; ".join(why_not)
                else:
                    enter(Mode.RUNNING, (), f"from {cmd.source}")
                    run_started_at = now
            elif kind is CommandKind.SET_SPEED:
                speed = cmd.speed_kmh
                cap = cfg.static_cap_kmh(direction)
                if speed is None or not math.isfinite(speed) or speed <= 0:
                    accepted, text = False, "speed must be a positive number of km/h"
                elif speed > cap:
                    accepted, text = (
                        False,
                        f"{speed:.2f} km/h is above the {direction.value} cap {cap:.2f} km/h",
                    )
                elif segment is None or not segment.moving:
                    accepted, text = False, "no moving segment"
                else:
                    operator_speed, operator_segment = speed, segment.index
                    text = f"target {speed:.2f} km/h"
            elif kind is CommandKind.SET_DIRECTION:
                wanted = cmd.direction
                if wanted is None:
                    accepted, text = False, "no direction given"
                elif wanted is direction:
                    text = f"already {direction.value}"
                elif mode in (Mode.RUNNING, Mode.STOPPING):
                    accepted, text = False, f"belt {mode.value}: stop first"
                elif not at_standstill:
                    accepted, text = False, "belt not at verified standstill"
                elif inputs.commanded_kmh != 0.0:
                    # standstill tolerates a command up to standstill_kmh; a turn does not
                    accepted, text = False, "speed command not yet zero"
                else:
                    direction = wanted
                    operator_speed, operator_segment = None, -1
                    run_started_at = None
                    text = f"direction now {direction.value}"
                    if cfg.walker_turns:
                        text += (
                            f"; the belt keeps running forward: the walker turns to face "
                            f"{facing_words(direction)}, then the operator confirms the turn"
                        )
                    else:
                        facing = direction
            elif kind is CommandKind.CONFIRM_TURN:
                wanted = direction if cmd.direction is None else cmd.direction  # None: now
                if not cfg.walker_turns:
                    accepted, text = (
                        False,
                        "nothing to confirm: the belt reverses, the walker does not turn",
                    )
                elif wanted is not direction:
                    accepted, text = (
                        False,
                        f"the session walks {direction.value} now: confirm facing "
                        f"{facing_words(direction)}",
                    )
                elif mode in (Mode.RUNNING, Mode.STOPPING) or not at_standstill:
                    accepted, text = False, "belt not at verified standstill"
                else:
                    facing = direction
                    text = f"walker faces {facing_words(direction)}, walks {direction.value}"
            decisions.append(Decision(cmd, accepted, text))

        # Controlled stops asked for by the session, heart rate or handrails.
        if mode is Mode.RUNNING:
            if operator_absent:
                enter(
                    Mode.STOPPING,
                    (Reason.OPERATOR_ABSENT,),
                    f"no sign of life for over {cfg.operator_presence_timeout_s:g} s",
                )
            elif segment is None:
                enter(Mode.STOPPING, (Reason.SEQUENCE_STOP,), "end of profile")
            elif not segment.moving:
                enter(Mode.STOPPING, (Reason.SEQUENCE_STOP,), "rest segment")
            elif segment.direction is not direction:
                enter(
                    Mode.STOPPING,
                    (Reason.SEQUENCE_STOP,),
                    f"turnaround: next segment walks {segment.direction.value}",
                )
            elif (
                segment.hr_max_bpm is not None
                and hr_fresh
                and inputs.heart_rate_bpm is not None
                and inputs.heart_rate_bpm > segment.hr_max_bpm
            ):
                enter(
                    Mode.STOPPING,
                    (Reason.HEART_RATE_HIGH,),
                    f"{inputs.heart_rate_bpm:.0f} bpm > {segment.hr_max_bpm:.0f} bpm",
                )
            elif (
                segment.rail_policy is RailPolicy.HOLD_TO_RUN
                and rails_released_since is not None
                and now - rails_released_since >= cfg.rail_grace_s
            ):
                enter(Mode.STOPPING, (Reason.RAILS_RELEASED,))
        # No heart-rate signal for hr_lost_end_s ends the session whatever the belt does:
        # lost mid-session (capped meanwhile), missing at the start, or lost while stopped.
        if (
            not session_ended
            and hr_lost_since is not None
            and now - hr_lost_since >= cfg.hr_lost_end_s
        ):
            session_ended = True
            if mode is Mode.RUNNING:
                enter(Mode.STOPPING, (Reason.HEART_RATE_LOST,))
            elif mode is Mode.STOPPED:
                enter(Mode.STOPPED, (Reason.HEART_RATE_LOST,), "no heart-rate signal")
            elif Reason.HEART_RATE_LOST not in reasons:
                reasons = (*reasons, Reason.HEART_RATE_LOST)
                transitions.append(Transition(now, mode, mode, (Reason.HEART_RATE_LOST,)))
        if mode is Mode.STOPPING and at_standstill:
            enter(Mode.STOPPED, reasons, "standstill")

        if operator_absent:
            warnings.append("operator console not answering")

        # Outputs.
        static_cap = cfg.static_cap_kmh(direction)
        cap = static_cap
        if mode is Mode.RUNNING and segment is not None:
            if (
                direction is Direction.BACKWARD
                and run_started_at is not None
                and now - run_started_at < cfg.reverse_start_hold_s
            ):
                cap = min(cap, cfg.reverse_start_cap_kmh)
            if released and segment.rail_policy is RailPolicy.UNTIL_CONFIDENT:
                cap = min(cap, cfg.rail_release_cap_kmh)
                warnings.append("handrails released: speed capped")
            elif released and segment.rail_policy is RailPolicy.ADVISORY:
                warnings.append("handrails released")
            if hr_lost_since is not None:
                cap = min(cap, cfg.hr_lost_cap_kmh)
                warnings.append("heart-rate signal lost: speed capped")
            if drive is None:
                cap = min(cap, inputs.commanded_kmh)
                warnings.append("drive reading missed this cycle: holding speed")
            wanted_kmh = (
                operator_speed
                if operator_speed is not None and operator_segment == segment.index
                else segment.target_kmh
            )
            target = max(0.0, min(wanted_kmh, cap))
        else:
            cap = 0.0
            target = 0.0

        new_state = InterlockState(
            mode=mode,
            reasons=reasons,
            detail=detail,
            direction=direction,
            standstill_since=standstill_since,
            runaway_since=runaway_since,
            rails_released_since=rails_released_since,
            hr_lost_since=hr_lost_since,
            run_started_at=run_started_at if mode is not Mode.STOPPED else None,
            operator_speed_kmh=operator_speed,
            operator_speed_segment=operator_segment,
            session_ended=session_ended,
            facing=facing,
        )
        # Quick stop only while there is something to stop: at verified standstill the drive
        # hears its plain stop word again. Drives on the PROFIdrive state machine (ABB, V20)
        # stay "switch-on inhibited", so never ready for a reset, while OFF3 is held.
        quick = mode is Mode.FAULTED and any(r in QUICK_STOP for r in reasons) and not at_standstill
        outputs = SafetyOutputs(
            drive_enable=mode in (Mode.RUNNING, Mode.STOPPING),
            direction=direction,
            speed_cap_kmh=cap,
            static_cap_kmh=static_cap,
            target_kmh=target,
            decel=Decel.QUICK if quick else Decel.NORMAL,
            mode=mode,
            reasons=reasons,
            at_standstill=at_standstill,
            warnings=tuple(warnings),
            decisions=tuple(decisions),
            transitions=tuple(transitions),
            belt_direction=cfg.belt_direction(direction),
            turn_pending=facing is not direction,
        )
        return new_state, outputs


def is_latching(reason: Reason) -> bool:
    return reason in LATCHING


__all__ = ["Command", "Interlock", "InterlockConfig", "SegmentPolicy", "is_latching"]
