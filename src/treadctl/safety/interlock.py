"""The interlock: a pure step function, modelled on LinuxCNC's estop_latch.

`Interlock.step(state, inputs, now) -> (state, outputs)` is pure: it does no I/O and
never awaits, and time comes in as `now` (seconds on the controller's clock). It starts
faulted, latches every fault, keeps the first trip first and only appends later reasons,
and clears only on a reset command while every input is healthy and the belt has been at
standstill for the dwell time. Nothing here can move the belt without an explicit start
command.

`step` is a fixed sequence of named rules, each a module-level function that a safety
reviewer can read, and a test can call, on its own. In the order they run:

- `standstill`: standstill is seen only on a fresh drive reading and a command at rest;
- `faults` (with `runaway`), then `latch`: every fault, every cycle; the first trip wins;
- `heart_rate`, `operator_presence`, `handrails`: tracked whatever the mode;
- `judge`, once per command: `stop_or_pause`, `reset` (with `health_refusals`), `start`
  (with `start_refusals`), `set_speed`, `set_direction`, `confirm_turn`;
- `controlled_stops`, `heart_rate_end`, `stopped_at_standstill`: the stops nobody asked for;
- `finish`, with `caps`, `target` and `quick_stop`: the new state and the outputs.

The rules share one working record, `StepRecord`: made by `step` from the state and the
inputs, changed by the rules in that order, turned into the new state and outputs by
`finish`, and never kept. The mode changes only through `enter`, which records the
transition.

This file is longer than 600 lines on purpose: every rule of the latch lives here, so a
reviewer reads the whole interlock in one place and mutation testing (`only_mutate`)
covers every rule; each rule still fits on a screen.
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

# The modes as module constants: on Python 3.11 every `Mode.RUNNING` is a slow lookup
# (EnumType's __getattr__ hook, about 70 ns), and `step` runs thousands of times a second
# in virtual time.
FAULTED, STOPPED, RUNNING, STOPPING = Mode.FAULTED, Mode.STOPPED, Mode.RUNNING, Mode.STOPPING
QUICK, NORMAL = Decel.QUICK, Decel.NORMAL
DRIVE_ENABLED = (RUNNING, STOPPING)  # the modes in which the drive is enabled


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


@dataclass(slots=True, init=False)
class StepRecord:
    """One step's working record: the state as the rules change it, and what they say.

    Made afresh by every `step` and never kept, so no step sees another's record.
    """

    # Given, never changed.
    now: float
    state: InterlockState
    inputs: SafetyInputs
    drive: DriveStatus | None  # this cycle's reading, None if missed or implausible
    # The latch and the session, as the rules change them.
    mode: Mode
    reasons: tuple[Reason, ...]
    detail: str
    direction: Direction  # the walking direction
    facing: Direction  # the walking direction the walker is confirmed to face
    run_started_at: float | None
    operator_speed: float | None
    operator_segment: int
    session_ended: bool
    # What the step says, in order.
    transitions: list[Transition]
    decisions: list[Decision]
    warnings: list[str]
    # Facts of this cycle, each set by the rule named before any later rule reads it.
    standstill_since: float | None  # standstill
    at_standstill: bool  # standstill
    io_stale: bool  # faults
    drive_stale: bool  # faults
    runaway_since: float | None  # runaway
    hr_fresh: bool  # heart_rate
    hr_lost_since: float | None  # heart_rate
    operator_absent: bool  # operator_presence
    released: bool  # handrails
    rails_released_since: float | None  # handrails

    def __init__(
        self, cfg: InterlockConfig, state: InterlockState, inputs: SafetyInputs, now: float
    ) -> None:
        """The step starts from the state as given; where the belt reverses, the walker
        faces the way the belt runs."""
        self.now = now
        self.state = state
        self.inputs = inputs
        self.drive = _valid_drive(inputs.drive)
        self.mode = state.mode
        self.reasons = state.reasons
        self.detail = state.detail
        self.direction = state.direction
        self.facing = state.facing if cfg.walker_turns else state.direction
        self.run_started_at = state.run_started_at
        self.operator_speed = state.operator_speed_kmh
        self.operator_segment = state.operator_speed_segment
        self.session_ended = state.session_ended
        self.transitions = []
        self.decisions = []
        self.warnings = []


def enter(s: StepRecord, new_mode: Mode, why: tuple[Reason, ...], text: str = "") -> None:
    """Every change of mode is recorded as a transition, with its reasons and text."""
    s.transitions.append(Transition(s.now, s.mode, new_mode, why, text))
    s.mode, s.reasons, s.detail = new_mode, why, text


def standstill(cfg: InterlockConfig, s: StepRecord) -> None:
    """Standstill is verified only by a fresh drive reading and a command both at or below
    standstill_kmh, held for the dwell time."""
    drive = s.drive
    since = s.state.standstill_since
    if (
        drive is not None
        and drive.actual_speed_kmh <= cfg.standstill_kmh
        and s.inputs.commanded_kmh <= cfg.standstill_kmh
    ):
        if since is None:
            since = s.now
    else:
        since = None
    s.standstill_since = since
    s.at_standstill = since is not None and s.now - since >= cfg.standstill_dwell_s


def faults(cfg: InterlockConfig, s: StepRecord) -> tuple[list[Reason], str]:
    """Every fault present, every cycle, whatever the mode: the reasons and the first
    trip's text."""
    found: list[Reason] = []
    text = ""
    inputs = s.inputs
    io = inputs.io
    if io is None:
        found.append(Reason.SAFETY_INPUTS_UNREADABLE)
    else:
        if not io.estop_chain_ok:
            found.append(Reason.ESTOP_CHAIN_OPEN)
        if not io.key_present:
            found.append(Reason.SAFETY_KEY_PULLED)
    s.io_stale = not inputs.io_age_s <= cfg.io_timeout_s  # a NaN age is expired too
    s.drive_stale = not inputs.drive_age_s <= cfg.drive_timeout_s
    if s.io_stale:
        found.append(Reason.SAFETY_INPUTS_STALE)
    if s.drive_stale:
        found.append(Reason.DRIVE_COMM_LOST)
    drive = s.drive
    if drive is not None:
        if drive.fault_code != 0:
            found.append(Reason.DRIVE_FAULT)
            text = f"drive fault code {drive.fault_code}"
        if s.mode in DRIVE_ENABLED and not drive.ready:
            # while stopping too: a drive that drops out makes the stop uncontrolled
            found.append(Reason.DRIVE_NOT_READY)
        speed = drive.actual_speed_kmh
        if speed > cfg.machine_cap_kmh(s.direction) + cfg.overspeed_margin_kmh:
            found.append(Reason.OVERSPEED)
            text = text or f"belt at {speed:.2f} km/h"
        if speed > cfg.standstill_kmh and drive.direction is not cfg.belt_direction(s.direction):
            found.append(Reason.DIRECTION_MISMATCH)
    runaway_text = runaway(cfg, s)
    if runaway_text is not None:
        found.append(Reason.RUNAWAY)
        text = text or runaway_text
    return found, text


def runaway(cfg: InterlockConfig, s: StepRecord) -> str | None:
    """An enabled belt off its command by more than the tolerance for runaway_time_s is a
    runaway (its text returned); a missed reading keeps the timer while the drive is
    enabled."""
    since = s.state.runaway_since
    enabled = s.mode in DRIVE_ENABLED
    drive = s.drive
    if drive is None:
        s.runaway_since = since if enabled else None
        return None
    commanded, actual = s.inputs.commanded_kmh, drive.actual_speed_kmh
    if not (enabled and abs(actual - commanded) > cfg.speed_tolerance_kmh):
        s.runaway_since = None
        return None
    if since is None:
        since = s.now
    s.runaway_since = since
    if s.now - since >= cfg.runaway_time_s:
        return f"commanded {commanded:.2f} km/h, belt {actual:.2f} km/h"
    return None


def latch(s: StepRecord, found: list[Reason], text: str) -> None:
    """The first trip wins: a fault latches FAULTED; while faulted, later faults only add
    their reasons."""
    if not found:
        return
    if s.mode is FAULTED:
        added = tuple(r for r in found if r not in s.reasons)
        if added:
            s.reasons = s.reasons + added
            s.transitions.append(Transition(s.now, s.mode, s.mode, added, text))
    else:
        enter(s, FAULTED, tuple(dict.fromkeys(found)), text)


def heart_rate(cfg: InterlockConfig, s: StepRecord) -> None:
    """A heart rate counts only if plausible and fresh; a segment that needs one times its
    absence."""
    inputs = s.inputs
    bpm = inputs.heart_rate_bpm
    s.hr_fresh = (
        bpm is not None
        # implausible is no reading: 0 bpm from a strap that lost contact; NaN fails too
        and cfg.hr_plausible_min_bpm <= bpm <= cfg.hr_plausible_max_bpm
        and inputs.heart_rate_age_s is not None
        and inputs.heart_rate_age_s <= cfg.hr_timeout_s
    )
    since = s.state.hr_lost_since
    segment = inputs.segment
    if segment is not None and segment.hr_required and not s.hr_fresh:
        if since is None:
            since = s.now
    else:
        since = None
    s.hr_lost_since = since


def operator_presence(cfg: InterlockConfig, s: StepRecord) -> None:
    """A supervising console that stopped answering (a NaN age too) is absent, and the
    operator is told."""
    age = s.inputs.operator_age_s
    s.operator_absent = age is not None and not (age <= cfg.operator_presence_timeout_s)
    if s.operator_absent:
        s.warnings.append("operator console not answering")


def handrails(s: StepRecord) -> None:
    """Both handrails released is timed from the first cycle a good read shows it."""
    io = s.inputs.io
    s.released = io is not None and not (io.rail_left or io.rail_right)
    since = s.state.rails_released_since
    if s.released:
        if since is None:
            since = s.now
    else:
        since = None
    s.rails_released_since = since


def heart_rate_high(s: StepRecord, segment: SegmentPolicy) -> bool:
    """A fresh heart rate above the segment's limit (a segment without one has none)."""
    bpm = s.inputs.heart_rate_bpm
    return (
        segment.hr_max_bpm is not None
        and s.hr_fresh
        and bpm is not None
        and bpm > segment.hr_max_bpm
    )


def judge(cfg: InterlockConfig, s: StepRecord, cmd: Command) -> Decision:
    """Every command gets one decision, accepted or refused, with the operator's words."""
    kind = cmd.kind
    if kind in (CommandKind.STOP, CommandKind.PAUSE):
        accepted, text = stop_or_pause(s, cmd)
    elif kind is CommandKind.RESET:
        accepted, text = reset(s)
    elif kind is CommandKind.START:
        accepted, text = start(s, cmd)
    elif kind is CommandKind.SET_SPEED:
        accepted, text = set_speed(cfg, s, cmd)
    elif kind is CommandKind.SET_DIRECTION:
        accepted, text = set_direction(cfg, s, cmd)
    else:
        accepted, text = confirm_turn(cfg, s, cmd)
    return Decision(cmd, accepted, text)


def stop_or_pause(s: StepRecord, cmd: Command) -> tuple[bool, str]:
    """A stop or pause is always accepted: a running belt stops under control, and a
    stopping belt adds the reason."""
    why = Reason.OPERATOR_STOP if cmd.kind is CommandKind.STOP else Reason.OPERATOR_PAUSE
    if s.mode is RUNNING:
        enter(s, STOPPING, (why,), f"from {cmd.source}")
    elif s.mode is STOPPING and why not in s.reasons:
        s.reasons = (*s.reasons, why)
    return True, f"belt {s.mode.value}"


def health_refusals(s: StepRecord) -> list[str]:
    """A reset or a start needs every input healthy, a fresh ready drive without a fault
    and the belt at verified standstill: what is missing, in the operator's words."""
    why: list[str] = []
    io = s.inputs.io
    if io is None:
        why.append(Reason.SAFETY_INPUTS_UNREADABLE.value)
    else:
        if not io.estop_chain_ok:
            why.append(Reason.ESTOP_CHAIN_OPEN.value)
        if not io.key_present:
            why.append(Reason.SAFETY_KEY_PULLED.value)
    if s.io_stale:
        why.append(Reason.SAFETY_INPUTS_STALE.value)
    drive = s.drive
    if drive is None or s.drive_stale:
        why.append("no fresh drive reading")
    else:
        if drive.fault_code != 0:
            why.append(f"drive fault code {drive.fault_code} still present")
        if not drive.ready:
            why.append("drive not ready")
    if not s.at_standstill:
        why.append("belt not at verified standstill")
    return why


def reset(s: StepRecord) -> tuple[bool, str]:
    """A latched fault clears only on a reset with every input healthy and the belt at
    verified standstill."""
    if s.mode is not FAULTED:
        return True, "nothing to reset"
    why_not = health_refusals(s)
    if why_not:
        return False, "; ".join(why_not)
    enter(s, STOPPED, (), "reset")
    return True, ""


def start(s: StepRecord, cmd: Command) -> tuple[bool, str]:
    """The belt moves only on an accepted start; a refusal names everything in the way."""
    why_not = start_refusals(s)
    if why_not:
        return False, "; ".join(why_not)
    enter(s, RUNNING, (), f"from {cmd.source}")
    s.run_started_at = s.now
    return True, ""


def start_refusals(s: StepRecord) -> list[str]:
    """A start needs a healthy STOPPED belt, a session not ended, an answering console and
    a moving segment the belt and the walker are set for, with its heart-rate and
    handrail rules met."""
    if s.mode is not STOPPED:
        why = ["latched fault: reset first" if s.mode is FAULTED else f"belt {s.mode}"]
    else:
        why = health_refusals(s)
    if s.session_ended:
        why.append("session has ended")
    if s.operator_absent:
        why.append("no operator console answering: open the dashboard")
    segment = s.inputs.segment
    if segment is None or not segment.moving:
        why.append("no moving segment to start")
        return why
    direction = s.direction
    if segment.direction is not direction:
        why.append(
            f"belt set to {direction.value}, segment needs "
            f"{segment.direction.value}: change direction first"
        )
    elif s.facing is not direction:
        why.append(
            f"walker not confirmed facing {facing_words(direction)}: "
            "turn the walker round, then confirm the turn"
        )
    if segment.hr_required and not s.hr_fresh:
        why.append("no heart-rate signal")
    if heart_rate_high(s, segment):
        why.append("heart rate above the profile's limit")
    if segment.rail_policy is RailPolicy.HOLD_TO_RUN and s.released:
        why.append("hold-to-run segment: hold the handrails")
    return why


def set_speed(cfg: InterlockConfig, s: StepRecord, cmd: Command) -> tuple[bool, str]:
    """An operator's speed is a positive number within the direction's static cap, and
    holds for the current moving segment only."""
    speed = cmd.speed_kmh
    cap = cfg.static_cap_kmh(s.direction)
    if speed is None or not math.isfinite(speed) or speed <= 0:
        return False, "speed must be a positive number of km/h"
    if speed > cap:
        return False, f"{speed:.2f} km/h is above the {s.direction.value} cap {cap:.2f} km/h"
    segment = s.inputs.segment
    if segment is None or not segment.moving:
        return False, "no moving segment"
    s.operator_speed, s.operator_segment = speed, segment.index
    return True, f"target {speed:.2f} km/h"


def set_direction(cfg: InterlockConfig, s: StepRecord, cmd: Command) -> tuple[bool, str]:
    """The walking direction changes only with the belt disabled, at verified standstill
    and with a zero command; it forgets the operator's speed and the last start, and a
    turn-round walker must then turn and be confirmed."""
    wanted = cmd.direction
    if wanted is None:
        return False, "no direction given"
    if wanted is s.direction:
        return True, f"already {s.direction.value}"
    if s.mode in DRIVE_ENABLED:
        return False, f"belt {s.mode.value}: stop first"
    if not s.at_standstill:
        return False, "belt not at verified standstill"
    if s.inputs.commanded_kmh != 0.0:
        # standstill tolerates a command up to standstill_kmh; a turn does not
        return False, "speed command not yet zero"
    s.direction = wanted
    s.operator_speed, s.operator_segment = None, -1
    s.run_started_at = None
    text = f"direction now {wanted.value}"
    if cfg.walker_turns:
        text += (
            f"; the belt keeps running forward: the walker turns to face "
            f"{facing_words(wanted)}, then the operator confirms the turn"
        )
    else:
        s.facing = wanted
    return True, text


def confirm_turn(cfg: InterlockConfig, s: StepRecord, cmd: Command) -> tuple[bool, str]:
    """On a turn-round machine the operator confirms, at verified standstill, that the
    walker faces the session's walking direction; nothing else turns the walker."""
    direction = s.direction
    wanted = direction if cmd.direction is None else cmd.direction  # None: the current one
    if not cfg.walker_turns:
        return False, "nothing to confirm: the belt reverses, the walker does not turn"
    if wanted is not direction:
        return (
            False,
            f"the session walks {direction.value} now: confirm facing {facing_words(direction)}",
        )
    if s.mode in DRIVE_ENABLED or not s.at_standstill:
        return False, "belt not at verified standstill"
    s.facing = direction
    return True, f"walker faces {facing_words(direction)}, walks {direction.value}"


def controlled_stops(cfg: InterlockConfig, s: StepRecord) -> None:
    """A running belt stops under control when the console falls silent, the profile ends,
    rests or turns round, the heart rate is too high, or hold-to-run rails stay released
    past the grace time: the first of these is the reason."""
    if s.mode is not RUNNING:
        return
    segment = s.inputs.segment
    if s.operator_absent:
        enter(
            s,
            STOPPING,
            (Reason.OPERATOR_ABSENT,),
            f"no sign of life for over {cfg.operator_presence_timeout_s:g} s",
        )
    elif segment is None:
        enter(s, STOPPING, (Reason.SEQUENCE_STOP,), "end of profile")
    elif not segment.moving:
        enter(s, STOPPING, (Reason.SEQUENCE_STOP,), "rest segment")
    elif segment.direction is not s.direction:
        enter(
            s,
            STOPPING,
            (Reason.SEQUENCE_STOP,),
            f"turnaround: next segment walks {segment.direction.value}",
        )
    elif heart_rate_high(s, segment):
        enter(
            s,
            STOPPING,
            (Reason.HEART_RATE_HIGH,),
            f"{s.inputs.heart_rate_bpm:.0f} bpm > {segment.hr_max_bpm:.0f} bpm",
        )
    elif (
        segment.rail_policy is RailPolicy.HOLD_TO_RUN
        and s.rails_released_since is not None
        and s.now - s.rails_released_since >= cfg.rail_grace_s
    ):
        enter(s, STOPPING, (Reason.RAILS_RELEASED,))


def heart_rate_end(cfg: InterlockConfig, s: StepRecord) -> None:
    """No heart-rate signal for hr_lost_end_s ends the session whatever the belt does: lost
    mid-session (capped meanwhile), missing at the start, or lost while stopped."""
    since = s.hr_lost_since
    if not s.session_ended and since is not None and s.now - since >= cfg.hr_lost_end_s:
        s.session_ended = True
        if s.mode is RUNNING:
            enter(s, STOPPING, (Reason.HEART_RATE_LOST,))
        elif s.mode is STOPPED:
            enter(s, STOPPED, (Reason.HEART_RATE_LOST,), "no heart-rate signal")
        elif Reason.HEART_RATE_LOST not in s.reasons:
            s.reasons = (*s.reasons, Reason.HEART_RATE_LOST)
            s.transitions.append(Transition(s.now, s.mode, s.mode, (Reason.HEART_RATE_LOST,)))


def stopped_at_standstill(s: StepRecord) -> None:
    """A controlled stop ends, keeping its reasons, only at verified standstill."""
    if s.mode is STOPPING and s.at_standstill:
        enter(s, STOPPED, s.reasons, "standstill")


def caps(cfg: InterlockConfig, s: StepRecord, segment: SegmentPolicy, static_cap: float) -> float:
    """While running, every dynamic cap that applies lowers the static cap: the reverse
    start, released handrails, a lost heart rate, a missed drive reading (hold the speed)."""
    cap = static_cap
    if (
        s.direction is Direction.BACKWARD
        and s.run_started_at is not None
        and s.now - s.run_started_at < cfg.reverse_start_hold_s
    ):
        cap = min(cap, cfg.reverse_start_cap_kmh)
    if s.released and segment.rail_policy is RailPolicy.UNTIL_CONFIDENT:
        cap = min(cap, cfg.rail_release_cap_kmh)
        s.warnings.append("handrails released: speed capped")
    elif s.released and segment.rail_policy is RailPolicy.ADVISORY:
        s.warnings.append("handrails released")
    if s.hr_lost_since is not None:
        cap = min(cap, cfg.hr_lost_cap_kmh)
        s.warnings.append("heart-rate signal lost: speed capped")
    if s.drive is None:
        cap = min(cap, s.inputs.commanded_kmh)
        s.warnings.append("drive reading missed this cycle: holding speed")
    return cap


def target(s: StepRecord, segment: SegmentPolicy, cap: float) -> float:
    """The operator's speed for this segment, else the segment's, never above the cap nor
    below zero."""
    wanted = (
        s.operator_speed
        if s.operator_speed is not None and s.operator_segment == segment.index
        else segment.target_kmh
    )
    return max(0.0, min(wanted, cap))


def quick_stop(s: StepRecord) -> bool:
    """Quick stop only while faulted for a quick-stop reason and there is something to stop."""
    # At verified standstill the drive hears its plain stop word again. Drives on the
    # PROFIdrive state machine (ABB, V20) stay "switch-on inhibited", so never ready for a
    # reset, while OFF3 is held.
    return s.mode is FAULTED and any(r in QUICK_STOP for r in s.reasons) and not s.at_standstill


def finish(cfg: InterlockConfig, s: StepRecord) -> tuple[InterlockState, SafetyOutputs]:
    """The drive is enabled only RUNNING or STOPPING, and only RUNNING has a cap or a
    target above zero; a STOPPED state forgets the last start."""
    mode = s.mode
    direction = s.direction
    static_cap = cfg.static_cap_kmh(direction)
    segment = s.inputs.segment
    if mode is RUNNING and segment is not None:
        cap = caps(cfg, s, segment, static_cap)
        target_kmh = target(s, segment, cap)
    else:
        cap = 0.0
        target_kmh = 0.0
    # Both built with every field given in the field's order, by position: keywords cost a
    # dictionary per call, and this runs every cycle.
    new_state = InterlockState(
        mode,
        s.reasons,
        s.detail,
        direction,
        s.standstill_since,
        s.runaway_since,
        s.rails_released_since,
        s.hr_lost_since,
        s.run_started_at if mode is not STOPPED else None,  # run_started_at
        s.operator_speed,  # operator_speed_kmh
        s.operator_segment,  # operator_speed_segment
        s.session_ended,
        s.facing,
    )
    outputs = SafetyOutputs(
        mode in DRIVE_ENABLED,  # drive_enable
        direction,
        cap,  # speed_cap_kmh
        static_cap,  # static_cap_kmh
        target_kmh,
        QUICK if quick_stop(s) else NORMAL,  # decel
        mode,
        s.reasons,
        s.at_standstill,
        tuple(s.warnings),  # warnings
        tuple(s.decisions),  # decisions
        tuple(s.transitions),  # transitions
        cfg.belt_direction(direction),  # belt_direction
        s.facing is not direction,  # turn_pending
    )
    return new_state, outputs


class Interlock:
    """Holds the constant limits; `step` is pure."""

    def __init__(self, config: InterlockConfig) -> None:
        self.config = config

    def initial_state(self) -> InterlockState:
        return InterlockState()

    def step(
        self, state: InterlockState, inputs: SafetyInputs, now: float
    ) -> tuple[InterlockState, SafetyOutputs]:
        """One cycle: the rules in a fixed order (the order is part of the truth table)."""
        cfg = self.config
        s = StepRecord(cfg, state, inputs, now)
        standstill(cfg, s)
        found, text = faults(cfg, s)
        latch(s, found, text)
        heart_rate(cfg, s)
        operator_presence(cfg, s)
        handrails(s)
        for cmd in inputs.commands:
            s.decisions.append(judge(cfg, s, cmd))
        controlled_stops(cfg, s)
        heart_rate_end(cfg, s)
        stopped_at_standstill(s)
        return finish(cfg, s)


def is_latching(reason: Reason) -> bool:
    return reason in LATCHING


__all__ = ["Command", "Interlock", "InterlockConfig", "SegmentPolicy", "is_latching"]
