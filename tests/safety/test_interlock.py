"""Unit tests of the interlock, one test per rule, named after the rule.

Every test drives `Interlock.step` directly with hand-built inputs on a clock
of exact binary fractions, and checks the outputs, the reasons and the texts
the operator sees. The limits come from samples/machines/sim.toml.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from treadctl.config.loader import load_model
from treadctl.config.machine import MachineConfig
from treadctl.config.patient import PatientConfig
from treadctl.config.profile import RailPolicy
from treadctl.safety.interlock import Interlock, InterlockConfig, is_latching
from treadctl.safety.types import (
    LATCHING,
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
    SafetyIO,
    SafetyOutputs,
    SegmentPolicy,
    Transition,
)

ROOT = Path(__file__).resolve().parents[2]
MACHINE = load_model(ROOT / "src/treadctl/samples/machines" / "sim.toml", MachineConfig)
LIMITS = MACHINE.limits
CFG = InterlockConfig.from_config(LIMITS, MACHINE.watchdog)

FWD = Direction.FORWARD
BWD = Direction.BACKWARD

# The numbers the tests rely on, read back from samples/machines/sim.toml.
assert LIMITS.max_forward_kmh == 12.0
assert LIMITS.max_backward_kmh == 5.0
assert LIMITS.reverse_start_cap_kmh == 1.5
assert LIMITS.reverse_start_hold_s == 10.0
assert LIMITS.standstill_kmh == 0.05
assert LIMITS.standstill_dwell_s == 1.0
assert LIMITS.speed_tolerance_kmh == 0.6
assert LIMITS.runaway_time_s == 1.0
assert LIMITS.overspeed_margin_kmh == 0.5
assert LIMITS.rail_grace_s == 2.0
assert LIMITS.rail_release_cap_kmh == 1.0
assert LIMITS.hr_timeout_s == 5.0
assert LIMITS.hr_lost_cap_kmh == 2.0
assert LIMITS.hr_lost_end_s == 60.0
assert MACHINE.watchdog.drive_read_timeout_s == 0.1
assert MACHINE.watchdog.input_read_timeout_s == 0.1


def above(x: float) -> float:
    """The next float above x: the smallest value that crosses a `>` threshold."""
    return math.nextafter(x, math.inf)


def below(x: float) -> float:
    return math.nextafter(x, -math.inf)


# ---------------------------------------------------------------------------
# builders


def io_ok(
    *, estop: bool = True, key: bool = True, left: bool = True, right: bool = True
) -> SafetyIO:
    return SafetyIO(estop_chain_ok=estop, key_present=key, rail_left=left, rail_right=right)


def drive_at(
    speed: float = 0.0, direction: Direction = FWD, *, ready: bool = True, fault: int = 0
) -> DriveStatus:
    return DriveStatus(ready=ready, fault_code=fault, actual_speed_kmh=speed, direction=direction)


def seg(
    index: int = 0,
    direction: Direction = FWD,
    *,
    moving: bool = True,
    target: float = 3.0,
    rail: RailPolicy = RailPolicy.ADVISORY,
    hr_required: bool = False,
    hr_max: float | None = None,
) -> SegmentPolicy:
    return SegmentPolicy(
        index=index,
        moving=moving,
        direction=direction,
        target_kmh=target,
        rail_policy=rail,
        hr_required=hr_required,
        hr_max_bpm=hr_max,
    )


def start() -> Command:
    return Command(CommandKind.START)


def stop() -> Command:
    return Command(CommandKind.STOP)


def pause() -> Command:
    return Command(CommandKind.PAUSE)


def reset() -> Command:
    return Command(CommandKind.RESET)


def set_speed(kmh: float | None) -> Command:
    return Command(CommandKind.SET_SPEED, speed_kmh=kmh)


def set_direction(direction: Direction | None) -> Command:
    return Command(CommandKind.SET_DIRECTION, direction=direction)


class Rig:
    """The interlock with a world around it that the test sets field by field."""

    def __init__(self, config: InterlockConfig = CFG) -> None:
        self.interlock = Interlock(config)
        self.state = self.interlock.initial_state()
        self.io: SafetyIO | None = io_ok()
        self.io_age = 0.0
        self.drive: DriveStatus | None = drive_at(0.0)
        self.drive_age = 0.0
        self.commanded = 0.0
        self.segment: SegmentPolicy | None = seg()
        self.hr: float | None = None
        self.hr_age: float | None = None
        self.operator_age: float | None = None

    def step(self, now: float, *commands: Command) -> SafetyOutputs:
        inputs = SafetyInputs(
            io=self.io,
            io_age_s=self.io_age,
            drive=self.drive,
            drive_age_s=self.drive_age,
            commanded_kmh=self.commanded,
            segment=self.segment,
            heart_rate_bpm=self.hr,
            heart_rate_age_s=self.hr_age,
            commands=commands,
            operator_age_s=self.operator_age,
        )
        self.state, out = self.interlock.step(self.state, inputs, now)
        return out

    def belt(self, kmh: float, direction: Direction | None = None) -> None:
        """Belt and command agree at `kmh` (a healthy drive following its setpoint)."""
        self.commanded = kmh
        self.drive = drive_at(kmh, direction or self.state.direction)

    def stopped(self) -> SafetyOutputs:
        """Power on at t=0 at rest, reset at t=1 (the dwell): STOPPED."""
        self.step(0.0)
        out = self.step(1.0, reset())
        assert out.mode is Mode.STOPPED
        return out

    def running(self, direction: Direction = FWD, target: float = 3.0) -> SafetyOutputs:
        """STOPPED at t=1, direction set at t=1.5, start at t=2, belt at `target`."""
        self.segment = seg(0, direction, target=target)
        self.stopped()
        if direction is not self.state.direction:
            out = self.step(1.5, set_direction(direction))
            assert out.decisions[0].accepted
        out = self.step(2.0, start())
        assert out.mode is Mode.RUNNING
        self.belt(target, direction)
        return out


def decision(out: SafetyOutputs) -> tuple[bool, str]:
    assert len(out.decisions) == 1
    return out.decisions[0].accepted, out.decisions[0].detail


# ---------------------------------------------------------------------------
# configuration


def test_config_from_machine_file_takes_every_limit() -> None:
    wd = MACHINE.watchdog
    expected = InterlockConfig(
        machine_max_forward_kmh=12.0,
        machine_max_backward_kmh=5.0,
        max_forward_kmh=12.0,
        max_backward_kmh=5.0,
        reverse_start_cap_kmh=1.5,
        reverse_start_hold_s=10.0,
        standstill_kmh=0.05,
        standstill_dwell_s=1.0,
        speed_tolerance_kmh=0.6,
        runaway_time_s=1.0,
        overspeed_margin_kmh=0.5,
        rail_grace_s=2.0,
        rail_release_cap_kmh=1.0,
        hr_timeout_s=5.0,
        hr_lost_cap_kmh=2.0,
        hr_lost_end_s=60.0,
        hr_plausible_min_bpm=25.0,
        hr_plausible_max_bpm=250.0,
        drive_timeout_s=wd.drive_read_timeout_s,
        io_timeout_s=wd.input_read_timeout_s,
    )
    assert expected == CFG
    assert CFG.static_cap_kmh(FWD) == 12.0
    assert CFG.static_cap_kmh(BWD) == 5.0
    assert CFG.machine_cap_kmh(FWD) == 12.0
    assert CFG.machine_cap_kmh(BWD) == 5.0


def test_config_patient_caps_lower_the_static_caps_not_the_machine_caps() -> None:
    patient = PatientConfig(
        pseudonym="p1", comfortable_forward_kmh=3.0, max_forward_kmh=6.0, max_backward_kmh=1.2
    )
    cfg = InterlockConfig.from_config(LIMITS, MACHINE.watchdog, patient)
    assert (cfg.max_forward_kmh, cfg.max_backward_kmh) == (6.0, 1.2)
    assert (cfg.machine_max_forward_kmh, cfg.machine_max_backward_kmh) == (12.0, 5.0)
    assert cfg.reverse_start_cap_kmh == 1.2  # never above the backward cap
    assert (cfg.static_cap_kmh(FWD), cfg.static_cap_kmh(BWD)) == (6.0, 1.2)
    assert (cfg.machine_cap_kmh(FWD), cfg.machine_cap_kmh(BWD)) == (12.0, 5.0)


def test_config_patient_caps_above_the_machine_are_ignored() -> None:
    patient = PatientConfig(
        pseudonym="p2", comfortable_forward_kmh=3.0, max_forward_kmh=20.0, max_backward_kmh=9.0
    )
    cfg = InterlockConfig.from_config(LIMITS, MACHINE.watchdog, patient)
    assert (cfg.max_forward_kmh, cfg.max_backward_kmh) == (12.0, 5.0)
    assert cfg.reverse_start_cap_kmh == 1.5


def test_config_patient_without_caps_changes_nothing() -> None:
    patient = PatientConfig(pseudonym="p3", comfortable_forward_kmh=3.0)
    assert InterlockConfig.from_config(LIMITS, MACHINE.watchdog, patient) == CFG


# ---------------------------------------------------------------------------
# power on and reset


def test_starts_faulted_with_power_on() -> None:
    rig = Rig()
    assert rig.state == InterlockState()
    assert rig.state.mode is Mode.FAULTED
    assert rig.state.reasons == (Reason.POWER_ON,)
    assert rig.state.direction is FWD
    assert rig.state.session_ended is False
    out = rig.step(0.0)
    assert out == SafetyOutputs(
        drive_enable=False,
        direction=FWD,
        speed_cap_kmh=0.0,
        static_cap_kmh=12.0,
        target_kmh=0.0,
        decel=Decel.NORMAL,
        mode=Mode.FAULTED,
        reasons=(Reason.POWER_ON,),
        at_standstill=False,  # standstill seen, dwell not yet elapsed
    )
    assert rig.state == InterlockState(standstill_since=0.0)
    assert is_latching(Reason.POWER_ON)
    assert not is_latching(Reason.OPERATOR_STOP)
    assert all(is_latching(r) for r in LATCHING)


def test_reset_clears_only_with_every_input_healthy_and_belt_at_standstill_for_dwell() -> None:
    rig = Rig()
    rig.step(0.0)
    out = rig.step(1.0, reset())
    assert out == SafetyOutputs(
        drive_enable=False,
        direction=FWD,
        speed_cap_kmh=0.0,
        static_cap_kmh=12.0,
        target_kmh=0.0,
        decel=Decel.NORMAL,
        mode=Mode.STOPPED,
        reasons=(),
        at_standstill=True,
        decisions=(Decision(reset(), True, ""),),
        transitions=(Transition(1.0, Mode.FAULTED, Mode.STOPPED, (), "reset"),),
    )
    assert rig.state == InterlockState(
        mode=Mode.STOPPED, reasons=(), detail="reset", standstill_since=0.0
    )


def _estop_open(rig: Rig) -> None:
    rig.io = io_ok(estop=False)


def _key_out(rig: Rig) -> None:
    rig.io = io_ok(key=False)


def _io_none(rig: Rig) -> None:
    rig.io = None


def _io_stale(rig: Rig) -> None:
    rig.io_age = above(0.1)


def _drive_none(rig: Rig) -> None:
    rig.drive = None


def _drive_stale(rig: Rig) -> None:
    rig.drive_age = above(0.1)


def _drive_fault(rig: Rig) -> None:
    rig.drive = drive_at(0.0, fault=7)


def _drive_not_ready(rig: Rig) -> None:
    rig.drive = drive_at(0.0, ready=False)


def _belt_moving(rig: Rig) -> None:
    rig.drive = drive_at(above(0.05))


def _command_not_zero(rig: Rig) -> None:
    rig.commanded = above(0.05)


@pytest.mark.parametrize(
    ("unhealthy", "why_not", "reasons"),
    [
        (_estop_open, "emergency-stop chain open", (Reason.POWER_ON, Reason.ESTOP_CHAIN_OPEN)),
        (_key_out, "safety key pulled", (Reason.POWER_ON, Reason.SAFETY_KEY_PULLED)),
        (
            _io_none,
            "safety inputs could not be read",
            (Reason.POWER_ON, Reason.SAFETY_INPUTS_UNREADABLE),
        ),
        (
            _io_stale,
            "safety inputs watchdog expired",
            (Reason.POWER_ON, Reason.SAFETY_INPUTS_STALE),
        ),
        (
            _drive_none,
            "no fresh drive reading; belt not at verified standstill",
            (Reason.POWER_ON,),
        ),
        (_drive_stale, "no fresh drive reading", (Reason.POWER_ON, Reason.DRIVE_COMM_LOST)),
        (_drive_fault, "drive fault code 7 still present", (Reason.POWER_ON, Reason.DRIVE_FAULT)),
        (_drive_not_ready, "drive not ready", (Reason.POWER_ON,)),
        (_belt_moving, "belt not at verified standstill", (Reason.POWER_ON,)),
        (_command_not_zero, "belt not at verified standstill", (Reason.POWER_ON,)),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else None,
)
def test_reset_refused_while_any_input_is_unhealthy(
    unhealthy: Callable[[Rig], None], why_not: str, reasons: tuple[Reason, ...]
) -> None:
    rig = Rig()
    rig.step(0.0)
    unhealthy(rig)
    out = rig.step(1.0, reset())
    assert out.mode is Mode.FAULTED
    assert out.reasons == reasons
    assert out.decisions == (Decision(reset(), False, why_not),)
    assert all(t.new is Mode.FAULTED for t in out.transitions)
    assert out.drive_enable is False
    assert rig.state.mode is Mode.FAULTED


def test_reset_refused_before_the_standstill_dwell_has_elapsed() -> None:
    rig = Rig()
    rig.step(0.0)
    out = rig.step(below(1.0), reset())
    assert out.mode is Mode.FAULTED
    assert out.at_standstill is False
    assert decision(out) == (False, "belt not at verified standstill")
    out = rig.step(1.0, reset())  # exactly the dwell: `>=`
    assert out.at_standstill is True
    assert out.mode is Mode.STOPPED


def test_reset_refused_lists_every_unhealthy_input_in_order() -> None:
    rig = Rig()
    rig.step(0.0)
    rig.io = io_ok(estop=False, key=False)
    rig.io_age = 0.5
    rig.drive = drive_at(2.0, fault=3, ready=False)
    out = rig.step(1.0, reset())
    assert decision(out) == (
        False,
        "emergency-stop chain open; safety key pulled; safety inputs watchdog expired; "
        "drive fault code 3 still present; drive not ready; belt not at verified standstill",
    )
    rig.io = None
    rig.drive_age = 0.5
    out = rig.step(2.0, reset())
    assert decision(out) == (
        False,
        "safety inputs could not be read; safety inputs watchdog expired; "
        "no fresh drive reading; belt not at verified standstill",
    )


def test_reset_accepted_with_input_ages_exactly_at_the_watchdog_timeouts() -> None:
    rig = Rig()
    rig.io_age, rig.drive_age = 0.1, 0.1  # the timeouts compare with `>`: still fresh
    rig.step(0.0)
    out = rig.step(1.0, reset())
    assert decision(out) == (True, "")
    assert out.mode is Mode.STOPPED


def test_reset_when_not_faulted_changes_nothing() -> None:
    rig = Rig()
    rig.stopped()
    out = rig.step(1.5, reset())
    assert out.mode is Mode.STOPPED
    assert out.decisions == (Decision(reset(), True, "nothing to reset"),)
    assert out.transitions == ()
    rig = Rig()
    rig.running()
    out = rig.step(2.5, reset())
    assert out.mode is Mode.RUNNING
    assert out.decisions == (Decision(reset(), True, "nothing to reset"),)


def test_reset_never_starts_the_belt() -> None:
    rig = Rig()
    rig.stopped()
    for t in (1.5, 2.0, 5.0):
        out = rig.step(t)
        assert (out.mode, out.drive_enable, out.target_kmh, out.speed_cap_kmh) == (
            Mode.STOPPED,
            False,
            0.0,
            0.0,
        )


# ---------------------------------------------------------------------------
# latching


def test_any_fault_latches_and_reasons_accumulate_first_trip_first() -> None:
    rig = Rig()
    rig.running()
    rig.io = io_ok(key=False)
    out = rig.step(3.0)
    assert out.mode is Mode.FAULTED
    assert out.reasons == (Reason.SAFETY_KEY_PULLED,)
    assert out.transitions == (
        Transition(3.0, Mode.RUNNING, Mode.FAULTED, (Reason.SAFETY_KEY_PULLED,), ""),
    )
    # a later fault is appended, never replacing the first
    rig.io = io_ok(key=False, estop=False)
    out = rig.step(3.5)
    assert out.reasons == (Reason.SAFETY_KEY_PULLED, Reason.ESTOP_CHAIN_OPEN)
    assert out.transitions == (
        Transition(3.5, Mode.FAULTED, Mode.FAULTED, (Reason.ESTOP_CHAIN_OPEN,), ""),
    )
    # the same faults again add nothing
    out = rig.step(4.0)
    assert out.reasons == (Reason.SAFETY_KEY_PULLED, Reason.ESTOP_CHAIN_OPEN)
    assert out.transitions == ()
    # a third one, with its text on the transition
    rig.drive = drive_at(3.0, fault=12)
    out = rig.step(4.5)
    assert out.reasons == (
        Reason.SAFETY_KEY_PULLED,
        Reason.ESTOP_CHAIN_OPEN,
        Reason.DRIVE_FAULT,
    )
    assert out.transitions == (
        Transition(4.5, Mode.FAULTED, Mode.FAULTED, (Reason.DRIVE_FAULT,), "drive fault code 12"),
    )
    assert rig.state.detail == ""  # the first trip's text stays
    # everything healthy again: still latched
    rig.io = io_ok()
    rig.belt(0.0)
    for t in (5.0, 6.0, 7.0):
        out = rig.step(t)
        assert out.mode is Mode.FAULTED
        assert out.drive_enable is False
        assert out.reasons == (
            Reason.SAFETY_KEY_PULLED,
            Reason.ESTOP_CHAIN_OPEN,
            Reason.DRIVE_FAULT,
        )
    out = rig.step(7.5, reset())
    assert out.mode is Mode.STOPPED
    assert out.reasons == ()


def test_faults_after_power_on_are_appended_behind_power_on() -> None:
    rig = Rig()
    rig.io = io_ok(estop=False)
    out = rig.step(0.0)
    assert out.reasons == (Reason.POWER_ON, Reason.ESTOP_CHAIN_OPEN)
    assert out.transitions == (
        Transition(0.0, Mode.FAULTED, Mode.FAULTED, (Reason.ESTOP_CHAIN_OPEN,), ""),
    )
    assert out.decel is Decel.QUICK


def test_faults_of_one_cycle_trip_together_in_a_fixed_order() -> None:
    rig = Rig()
    rig.running()
    rig.io = None
    rig.io_age = 0.5
    rig.drive_age = 0.5
    rig.drive = drive_at(3.0, BWD, fault=5, ready=False)
    out = rig.step(3.0)
    assert out.mode is Mode.FAULTED
    assert out.reasons == (
        Reason.SAFETY_INPUTS_UNREADABLE,
        Reason.SAFETY_INPUTS_STALE,
        Reason.DRIVE_COMM_LOST,
        Reason.DRIVE_FAULT,
        Reason.DRIVE_NOT_READY,
        Reason.DIRECTION_MISMATCH,
    )
    assert rig.state.detail == "drive fault code 5"
    assert out.transitions == (
        Transition(3.0, Mode.RUNNING, Mode.FAULTED, out.reasons, "drive fault code 5"),
    )


def test_fault_while_stopping_latches() -> None:
    rig = Rig()
    rig.running()
    rig.step(3.0, stop())
    rig.io = io_ok(estop=False)
    out = rig.step(3.5)
    assert out.mode is Mode.FAULTED
    assert out.reasons == (Reason.ESTOP_CHAIN_OPEN,)
    assert out.drive_enable is False


def test_fault_while_stopped_latches() -> None:
    rig = Rig()
    rig.stopped()
    rig.drive = drive_at(0.0, fault=2)
    out = rig.step(1.5)
    assert out.mode is Mode.FAULTED
    assert out.reasons == (Reason.DRIVE_FAULT,)
    assert out.transitions == (
        Transition(1.5, Mode.STOPPED, Mode.FAULTED, (Reason.DRIVE_FAULT,), "drive fault code 2"),
    )


# ---------------------------------------------------------------------------
# the safety chain: quick stop


@pytest.mark.parametrize(
    ("io", "reason"),
    [
        (io_ok(estop=False), Reason.ESTOP_CHAIN_OPEN),
        (io_ok(key=False), Reason.SAFETY_KEY_PULLED),
        (None, Reason.SAFETY_INPUTS_UNREADABLE),
    ],
    ids=["estop", "key", "unreadable"],
)
def test_estop_or_key_loss_gives_quick_decel_and_faulted(
    io: SafetyIO | None, reason: Reason
) -> None:
    rig = Rig()
    rig.running()
    rig.io = io
    out = rig.step(3.0)
    assert out == SafetyOutputs(
        drive_enable=False,
        direction=FWD,
        speed_cap_kmh=0.0,
        static_cap_kmh=12.0,
        target_kmh=0.0,
        decel=Decel.QUICK,
        mode=Mode.FAULTED,
        reasons=(reason,),
        at_standstill=False,
        transitions=(Transition(3.0, Mode.RUNNING, Mode.FAULTED, (reason,), ""),),
    )
    assert rig.state.run_started_at == 2.0  # kept while faulted; cleared on reset


def test_stale_safety_inputs_give_quick_decel_and_faulted() -> None:
    rig = Rig()
    rig.running()
    rig.io_age = 0.1  # exactly the timeout: `>`, still fine
    assert rig.step(3.0).mode is Mode.RUNNING
    rig.io_age = above(0.1)
    out = rig.step(3.02)
    assert (out.mode, out.reasons, out.decel) == (
        Mode.FAULTED,
        (Reason.SAFETY_INPUTS_STALE,),
        Decel.QUICK,
    )


def test_quick_decel_stays_while_a_quick_reason_is_latched() -> None:
    rig = Rig()
    rig.running()
    rig.drive = drive_at(3.0, fault=9)
    out = rig.step(3.0)
    assert (out.reasons, out.decel) == ((Reason.DRIVE_FAULT,), Decel.NORMAL)
    rig.io = io_ok(key=False)
    out = rig.step(3.5)
    assert (out.reasons, out.decel) == (
        (Reason.DRIVE_FAULT, Reason.SAFETY_KEY_PULLED),
        Decel.QUICK,
    )


def test_quick_decel_ends_at_verified_standstill_so_the_drive_hears_its_stop_word() -> None:
    rig = Rig()
    rig.running()
    rig.io = io_ok(estop=False)
    assert rig.step(3.0).decel is Decel.QUICK
    rig.drive = drive_at(0.0)
    rig.commanded = 0.0
    out = rig.step(3.2)
    assert (out.mode, out.at_standstill, out.decel) == (Mode.FAULTED, False, Decel.QUICK)
    out = rig.step(3.2 + CFG.standstill_dwell_s)
    assert (out.mode, out.at_standstill, out.decel) == (Mode.FAULTED, True, Decel.NORMAL)
    rig.drive = drive_at(0.5)  # the belt moves again (coasting, pushed): quick again
    assert rig.step(4.5).decel is Decel.QUICK


# ---------------------------------------------------------------------------
# drive faults


def test_drive_fault_latches() -> None:
    rig = Rig()
    rig.running()
    rig.drive = drive_at(3.0, fault=42)
    out = rig.step(3.0)
    assert (out.mode, out.reasons, out.decel, out.drive_enable) == (
        Mode.FAULTED,
        (Reason.DRIVE_FAULT,),
        Decel.NORMAL,
        False,
    )
    assert rig.state.detail == "drive fault code 42"
    assert out.transitions == (
        Transition(3.0, Mode.RUNNING, Mode.FAULTED, (Reason.DRIVE_FAULT,), "drive fault code 42"),
    )


def test_drive_not_ready_while_running_latches() -> None:
    rig = Rig()
    rig.running()
    rig.drive = drive_at(3.0, ready=False)
    out = rig.step(3.0)
    assert (out.mode, out.reasons) == (Mode.FAULTED, (Reason.DRIVE_NOT_READY,))


def test_drive_not_ready_while_stopped_is_no_fault_but_blocks_start() -> None:
    rig = Rig()
    rig.stopped()
    rig.drive = drive_at(0.0, ready=False)
    out = rig.step(1.5, start())
    assert out.mode is Mode.STOPPED
    assert out.reasons == ()
    assert decision(out) == (False, "drive not ready")


def test_comm_watchdog_expiry_latches() -> None:
    rig = Rig()
    rig.running()
    rig.drive_age = 0.1  # exactly the timeout: `>`, still fine
    assert rig.step(3.0).mode is Mode.RUNNING
    rig.drive_age = above(0.1)
    out = rig.step(3.02)
    assert (out.mode, out.reasons, out.decel) == (
        Mode.FAULTED,
        (Reason.DRIVE_COMM_LOST,),
        Decel.NORMAL,
    )


# ---------------------------------------------------------------------------
# runaway, overspeed, direction


def test_runaway_latches_after_runaway_time_and_not_before() -> None:
    rig = Rig()
    rig.running()
    rig.drive = drive_at(4.0)  # command 3.0: off by 1.0 > 0.6
    out = rig.step(3.0)
    assert out.mode is Mode.RUNNING
    assert rig.state.runaway_since == 3.0
    out = rig.step(below(4.0))
    assert out.mode is Mode.RUNNING
    assert rig.state.runaway_since == 3.0
    out = rig.step(4.0)  # exactly runaway_time_s: `>=`
    assert (out.mode, out.reasons, out.decel) == (Mode.FAULTED, (Reason.RUNAWAY,), Decel.NORMAL)
    assert rig.state.detail == "commanded 3.00 km/h, belt 4.00 km/h"
    assert out.transitions == (
        Transition(
            4.0,
            Mode.RUNNING,
            Mode.FAULTED,
            (Reason.RUNAWAY,),
            "commanded 3.00 km/h, belt 4.00 km/h",
        ),
    )


def test_runaway_also_when_the_belt_lags_the_command() -> None:
    rig = Rig()
    rig.running()
    rig.drive = drive_at(1.0)  # command 3.0: belt 2.0 slow
    rig.step(3.0)
    out = rig.step(4.0)
    assert out.reasons == (Reason.RUNAWAY,)
    assert rig.state.detail == "commanded 3.00 km/h, belt 1.00 km/h"


def test_runaway_timer_restarts_when_the_belt_follows_again() -> None:
    rig = Rig()
    rig.running()
    rig.drive = drive_at(4.0)
    rig.step(3.0)
    rig.belt(3.0)
    rig.step(3.5)
    assert rig.state.runaway_since is None
    rig.drive = drive_at(4.0)
    out = rig.step(4.0)
    assert rig.state.runaway_since == 4.0
    out = rig.step(4.5)
    assert out.mode is Mode.RUNNING
    out = rig.step(5.0)
    assert out.reasons == (Reason.RUNAWAY,)


def test_runaway_tolerance_boundary_is_exclusive() -> None:
    rig = Rig()
    rig.running(target=1.0)
    rig.commanded = 0.0  # 0.6 - 0.0 is exactly the tolerance
    rig.drive = drive_at(0.6)
    for t in (3.0, 4.0, 5.0):
        assert rig.step(t).mode is Mode.RUNNING
        assert rig.state.runaway_since is None
    rig.drive = drive_at(above(0.6))
    rig.step(6.0)
    assert rig.state.runaway_since == 6.0
    assert rig.step(7.0).reasons == (Reason.RUNAWAY,)


def test_runaway_while_stopping_latches() -> None:
    rig = Rig()
    rig.running()
    rig.step(3.0, stop())
    rig.drive = drive_at(3.0)
    rig.commanded = 2.0
    rig.step(3.5)
    out = rig.step(4.5)
    assert (out.mode, out.reasons) == (Mode.FAULTED, (Reason.RUNAWAY,))
    assert out.transitions == (
        Transition(
            4.5,
            Mode.STOPPING,
            Mode.FAULTED,
            (Reason.RUNAWAY,),
            "commanded 2.00 km/h, belt 3.00 km/h",
        ),
    )


def test_runaway_timer_survives_missed_drive_readings_while_running() -> None:
    rig = Rig()
    rig.running()
    rig.drive = drive_at(4.0)
    rig.step(3.0)
    rig.drive = None
    rig.step(3.5)
    assert rig.state.runaway_since == 3.0
    rig.drive = drive_at(4.0)
    out = rig.step(4.0)
    assert out.reasons == (Reason.RUNAWAY,)


def test_runaway_timer_survives_missed_drive_readings_while_stopping() -> None:
    """A runaway during a controlled stop must latch even with readings missed in between."""
    rig = Rig()
    rig.running()
    rig.step(3.0, stop())
    rig.commanded = 1.0
    rig.drive = drive_at(3.0)
    rig.step(3.25)
    rig.drive = None  # every other reading missed, well within the watchdog
    rig.step(3.5)
    assert rig.state.runaway_since == 3.25
    rig.drive = drive_at(3.0)
    rig.step(3.75)
    rig.drive = None
    rig.step(4.0)
    rig.drive = drive_at(3.0)
    out = rig.step(4.25)
    assert (out.mode, out.reasons) == (Mode.FAULTED, (Reason.RUNAWAY,))


def test_runaway_is_not_watched_while_stopped_or_faulted() -> None:
    rig = Rig()
    rig.step(0.0)
    rig.commanded = 2.0  # whatever was last written: the drive is disabled
    for t in (1.0, 2.0, 3.0):
        out = rig.step(t)
        assert out.reasons == (Reason.POWER_ON,)
        assert rig.state.runaway_since is None
    rig.drive = None
    rig.step(3.5)
    assert rig.state.runaway_since is None


def test_runaway_timer_dropped_when_the_reading_is_missed_while_faulted() -> None:
    rig = Rig()
    rig.running()
    rig.drive = drive_at(4.0)
    rig.step(3.0)
    rig.io = io_ok(estop=False)
    rig.step(3.5)  # FAULTED; the runaway timer is evaluated with the old mode
    assert rig.state.runaway_since == 3.0
    rig.drive = None
    rig.step(3.75)
    assert rig.state.runaway_since is None


def test_overspeed_latches_above_machine_cap_plus_margin() -> None:
    rig = Rig()
    rig.running(target=12.0)
    rig.drive = drive_at(12.5)  # exactly the cap plus margin: `>`, still fine
    out = rig.step(3.0)
    assert out.mode is Mode.RUNNING
    rig.drive = drive_at(12.75)
    out = rig.step(3.5)
    assert (out.mode, out.reasons, out.decel) == (Mode.FAULTED, (Reason.OVERSPEED,), Decel.NORMAL)
    assert rig.state.detail == "belt at 12.75 km/h"


def test_overspeed_backward_uses_the_backward_machine_cap() -> None:
    rig = Rig()
    rig.running(BWD, target=5.0)
    rig.drive = drive_at(5.5, BWD)
    assert rig.step(13.0).mode is Mode.RUNNING
    rig.drive = drive_at(above(5.5), BWD)
    out = rig.step(13.5)
    assert out.reasons == (Reason.OVERSPEED,)
    assert rig.state.detail == "belt at 5.50 km/h"


def test_overspeed_is_judged_against_the_machine_cap_not_the_patient_cap() -> None:
    patient = PatientConfig(pseudonym="p", comfortable_forward_kmh=3.0, max_forward_kmh=4.0)
    rig = Rig(InterlockConfig.from_config(LIMITS, MACHINE.watchdog, patient))
    rig.running(target=4.0)
    rig.belt(12.5)
    assert rig.step(3.0).mode is Mode.RUNNING
    rig.belt(12.75)
    assert rig.step(3.5).reasons == (Reason.OVERSPEED,)


def test_overspeed_is_watched_while_faulted() -> None:
    rig = Rig()
    rig.drive = drive_at(13.0)
    out = rig.step(0.0)
    assert out.reasons == (Reason.POWER_ON, Reason.OVERSPEED)
    assert out.transitions == (
        Transition(0.0, Mode.FAULTED, Mode.FAULTED, (Reason.OVERSPEED,), "belt at 13.00 km/h"),
    )


def test_drive_fault_text_wins_over_overspeed_and_runaway_text() -> None:
    rig = Rig()
    rig.running()
    rig.drive = drive_at(13.0, fault=4)
    rig.step(3.0)
    assert rig.state.reasons == (Reason.DRIVE_FAULT, Reason.OVERSPEED)
    assert rig.state.detail == "drive fault code 4"


def test_overspeed_text_wins_over_runaway_text() -> None:
    rig = Rig()
    rig.running(target=12.0)
    rig.drive = drive_at(12.75)
    rig.commanded = 10.0
    rig.step(3.0)
    assert rig.state.mode is Mode.FAULTED
    assert rig.state.detail == "belt at 12.75 km/h"
    rig2 = Rig()
    rig2.running(target=12.0)
    rig2.commanded = 10.0
    rig2.drive = drive_at(12.0)
    rig2.step(3.0)
    rig2.drive = drive_at(12.75)
    out = rig2.step(4.0)
    assert out.reasons == (Reason.OVERSPEED, Reason.RUNAWAY)
    assert rig2.state.detail == "belt at 12.75 km/h"


def test_direction_mismatch_latches_with_quick_decel() -> None:
    rig = Rig()
    rig.running()
    rig.drive = drive_at(3.0, BWD)
    out = rig.step(3.0)
    assert (out.mode, out.reasons, out.decel) == (
        Mode.FAULTED,
        (Reason.DIRECTION_MISMATCH,),
        Decel.QUICK,
    )


def test_direction_mismatch_needs_a_moving_belt() -> None:
    rig = Rig()
    rig.stopped()
    rig.drive = drive_at(0.05, BWD)  # at the standstill threshold: not moving
    out = rig.step(1.5)
    assert out.mode is Mode.STOPPED
    rig.drive = drive_at(above(0.05), BWD)
    out = rig.step(2.0)
    assert out.reasons == (Reason.DIRECTION_MISMATCH,)


# ---------------------------------------------------------------------------
# start


def test_no_start_without_explicit_start() -> None:
    rig = Rig()
    rig.stopped()
    for t in (1.5, 2.0, 10.0, 100.0):
        out = rig.step(t, set_speed(4.0))
        assert out.mode is Mode.STOPPED
        assert out.drive_enable is False
        assert (out.target_kmh, out.speed_cap_kmh) == (0.0, 0.0)
    out = rig.step(101.0, start())
    assert out == SafetyOutputs(
        drive_enable=True,
        direction=FWD,
        speed_cap_kmh=12.0,
        static_cap_kmh=12.0,
        target_kmh=4.0,
        decel=Decel.NORMAL,
        mode=Mode.RUNNING,
        reasons=(),
        at_standstill=True,
        decisions=(Decision(start(), True, ""),),
        transitions=(Transition(101.0, Mode.STOPPED, Mode.RUNNING, (), "from operator"),),
    )
    assert rig.state.run_started_at == 101.0
    assert rig.state.detail == "from operator"


def test_start_from_another_source_names_it() -> None:
    rig = Rig()
    rig.stopped()
    out = rig.step(1.5, Command(CommandKind.START, source="console"))
    assert out.transitions[0].detail == "from console"


def _hr_segment_without_signal(rig: Rig) -> None:
    rig.segment = seg(hr_required=True)


def _stale_hr(rig: Rig) -> None:
    rig.segment = seg(hr_required=True)
    rig.hr, rig.hr_age = 90.0, above(5.0)


def _hr_without_age(rig: Rig) -> None:
    rig.segment = seg(hr_required=True)
    rig.hr = 90.0


def _hr_too_high(rig: Rig) -> None:
    rig.segment = seg(hr_max=140.0)
    rig.hr, rig.hr_age = above(140.0), 0.0


def _hold_to_run_released(rig: Rig) -> None:
    rig.segment = seg(rail=RailPolicy.HOLD_TO_RUN)
    rig.io = io_ok(left=False, right=False)


def _no_segment(rig: Rig) -> None:
    rig.segment = None


def _rest_segment(rig: Rig) -> None:
    rig.segment = seg(moving=False)


def _wrong_direction(rig: Rig) -> None:
    rig.segment = seg(direction=BWD)


def _drive_missed(rig: Rig) -> None:
    rig.drive = None


def _not_ready(rig: Rig) -> None:
    rig.drive = drive_at(0.0, ready=False)


def _moving(rig: Rig) -> None:
    rig.drive = drive_at(0.5)


@pytest.mark.parametrize(
    ("refuse", "why_not"),
    [
        (_no_segment, "no moving segment to start"),
        (_rest_segment, "no moving segment to start"),
        (_wrong_direction, "belt set to forward, segment needs backward: change direction first"),
        (_hr_segment_without_signal, "no heart-rate signal"),
        (_stale_hr, "no heart-rate signal"),
        (_hr_without_age, "no heart-rate signal"),
        (_hr_too_high, "heart rate above the profile's limit"),
        (_hold_to_run_released, "hold-to-run segment: hold the handrails"),
        (_drive_missed, "no fresh drive reading; belt not at verified standstill"),
        (_not_ready, "drive not ready"),
        (_moving, "belt not at verified standstill"),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else None,
)
def test_start_refused_with_the_reason(refuse: Callable[[Rig], None], why_not: str) -> None:
    rig = Rig()
    rig.stopped()
    refuse(rig)
    out = rig.step(1.5, start())
    assert out.mode is Mode.STOPPED
    assert out.drive_enable is False
    assert out.decisions == (Decision(start(), False, why_not),)
    assert out.transitions == ()
    assert rig.state.run_started_at is None


def test_start_allowed_with_a_fresh_heart_rate_at_the_limits() -> None:
    rig = Rig()
    rig.stopped()
    rig.segment = seg(hr_required=True, hr_max=140.0)
    rig.hr, rig.hr_age = 140.0, 5.0  # at the limit and at the timeout: both fine
    out = rig.step(1.5, start())
    assert decision(out) == (True, "")
    assert out.mode is Mode.RUNNING


def test_start_allowed_hold_to_run_with_one_rail_held() -> None:
    for left, right in ((True, False), (False, True)):
        rig = Rig()
        rig.stopped()
        rig.segment = seg(rail=RailPolicy.HOLD_TO_RUN)
        rig.io = io_ok(left=left, right=right)
        out = rig.step(1.5, start())
        assert out.mode is Mode.RUNNING


def test_start_allowed_with_rails_released_when_not_hold_to_run() -> None:
    for policy in (RailPolicy.UNTIL_CONFIDENT, RailPolicy.ADVISORY):
        rig = Rig()
        rig.stopped()
        rig.segment = seg(rail=policy)
        rig.io = io_ok(left=False, right=False)
        assert rig.step(1.5, start()).mode is Mode.RUNNING


def test_start_refused_while_faulted_running_or_stopping() -> None:
    rig = Rig()
    out = rig.step(0.0, start())
    assert decision(out) == (False, "latched fault: reset first")
    assert out.mode is Mode.FAULTED
    rig.running()
    out = rig.step(3.0, start())
    assert decision(out) == (False, "belt running")
    assert out.transitions == ()
    assert rig.state.run_started_at == 2.0
    rig.step(3.5, stop())
    out = rig.step(4.0, start())
    assert decision(out) == (False, "belt stopping")
    assert out.mode is Mode.STOPPING


def test_start_refused_lists_every_reason() -> None:
    rig = Rig()
    rig.segment = seg(direction=BWD, hr_required=True, hr_max=100.0, rail=RailPolicy.HOLD_TO_RUN)
    rig.io = io_ok(left=False, right=False)
    out = rig.step(0.0, start())
    assert decision(out) == (
        False,
        "latched fault: reset first; belt set to forward, segment needs backward: "
        "change direction first; no heart-rate signal; hold-to-run segment: hold the handrails",
    )
    rig.segment = seg(hr_max=100.0)
    rig.hr, rig.hr_age = 120.0, 1.0
    out = rig.step(0.5, start())
    assert decision(out) == (
        False,
        "latched fault: reset first; heart rate above the profile's limit",
    )


def test_start_refused_after_the_session_has_ended() -> None:
    rig = Rig()
    rig.stopped()
    rig.state = replace(rig.state, session_ended=True)
    out = rig.step(1.5, start())
    assert decision(out) == (False, "session has ended")
    rig.segment = None
    out = rig.step(2.0, start())
    assert decision(out) == (False, "session has ended; no moving segment to start")


# ---------------------------------------------------------------------------
# direction


def test_direction_change_only_at_verified_standstill() -> None:
    rig = Rig()
    rig.stopped()
    rig.state = replace(rig.state, operator_speed_kmh=2.0, operator_speed_segment=0)
    out = rig.step(1.5, set_direction(BWD))
    assert out.decisions == (Decision(set_direction(BWD), True, "direction now backward"),)
    assert (out.direction, out.static_cap_kmh, out.mode) == (BWD, 5.0, Mode.STOPPED)
    assert out.transitions == ()
    assert rig.state.direction is BWD
    assert (rig.state.operator_speed_kmh, rig.state.operator_speed_segment) == (None, -1)
    out = rig.step(2.0, set_direction(FWD))
    assert decision(out) == (True, "direction now forward")
    assert rig.state.direction is FWD


def test_direction_change_at_standstill_allowed_while_faulted() -> None:
    rig = Rig()
    rig.step(0.0)
    out = rig.step(1.0, set_direction(BWD))
    assert decision(out) == (True, "direction now backward")
    assert (out.mode, out.direction) == (Mode.FAULTED, BWD)


def test_direction_change_while_faulted_forgets_the_last_start() -> None:
    rig = Rig()
    rig.running()
    rig.io = io_ok(key=False)
    rig.step(3.0)
    assert rig.state.run_started_at == 2.0
    rig.io = io_ok()
    rig.belt(0.0)
    rig.step(4.0)
    out = rig.step(5.0, set_direction(BWD))
    assert decision(out) == (True, "direction now backward")
    assert out.mode is Mode.FAULTED
    assert rig.state.run_started_at is None


def test_direction_change_refused_while_running_or_stopping() -> None:
    rig = Rig()
    rig.running()
    out = rig.step(3.0, set_direction(BWD))
    assert decision(out) == (False, "belt running: stop first")
    assert rig.state.direction is FWD
    rig.step(3.5, stop())
    rig.belt(0.0)
    rig.step(4.0)
    out = rig.step(4.5, set_direction(BWD))  # at rest, dwell not yet over
    assert decision(out) == (False, "belt stopping: stop first")
    assert out.direction is FWD


def test_direction_change_refused_while_the_belt_moves() -> None:
    rig = Rig()
    rig.stopped()
    rig.drive = drive_at(0.5)
    out = rig.step(1.5, set_direction(BWD))
    assert decision(out) == (False, "belt not at verified standstill")
    assert out.direction is FWD
    rig.belt(0.0)
    out = rig.step(2.0, set_direction(BWD))
    assert decision(out) == (False, "belt not at verified standstill")
    out = rig.step(3.0, set_direction(BWD))
    assert decision(out) == (True, "direction now backward")


def test_direction_change_refused_without_a_drive_reading() -> None:
    rig = Rig()
    rig.stopped()
    rig.drive = None
    out = rig.step(1.5, set_direction(BWD))
    assert decision(out) == (False, "belt not at verified standstill")


def test_direction_change_to_the_same_direction_or_none() -> None:
    rig = Rig()
    rig.running()
    out = rig.step(3.0, set_direction(FWD))
    assert decision(out) == (True, "already forward")
    out = rig.step(3.5, set_direction(None))
    assert decision(out) == (False, "no direction given")
    assert out.mode is Mode.RUNNING


# ---------------------------------------------------------------------------
# backward start cap


def test_backward_start_capped_at_reverse_start_cap_then_full_backward_cap() -> None:
    rig = Rig()
    rig.segment = seg(direction=BWD, target=4.0)
    rig.stopped()
    rig.step(1.5, set_direction(BWD))
    out = rig.step(2.0, start())
    assert (out.speed_cap_kmh, out.target_kmh, out.static_cap_kmh) == (1.5, 1.5, 5.0)
    assert out.direction is BWD
    rig.belt(1.5)
    out = rig.step(below(12.0))
    assert (out.speed_cap_kmh, out.target_kmh) == (1.5, 1.5)
    out = rig.step(12.0)  # exactly reverse_start_hold_s after the start
    assert (out.speed_cap_kmh, out.target_kmh) == (5.0, 4.0)


def test_backward_start_cap_applies_again_at_every_start() -> None:
    rig = Rig()
    rig.running(BWD, target=4.0)
    rig.belt(4.0)
    assert rig.step(13.0).speed_cap_kmh == 5.0
    rig.step(13.5, stop())
    rig.belt(0.0)
    rig.step(14.0)
    out = rig.step(15.0)
    assert out.mode is Mode.STOPPED
    assert rig.state.run_started_at is None
    out = rig.step(15.5, start())
    assert (out.speed_cap_kmh, out.target_kmh) == (1.5, 1.5)
    assert rig.state.run_started_at == 15.5


def test_forward_start_is_not_capped() -> None:
    rig = Rig()
    out = rig.running(target=3.0)
    assert (out.speed_cap_kmh, out.target_kmh) == (12.0, 3.0)


def test_reverse_start_cap_uses_the_patient_backward_cap_when_lower() -> None:
    patient = PatientConfig(pseudonym="p", comfortable_forward_kmh=3.0, max_backward_kmh=1.0)
    rig = Rig(InterlockConfig.from_config(LIMITS, MACHINE.watchdog, patient))
    out = rig.running(BWD, target=4.0)
    assert (out.speed_cap_kmh, out.target_kmh, out.static_cap_kmh) == (1.0, 1.0, 1.0)


# ---------------------------------------------------------------------------
# heart rate


def test_heart_rate_above_profile_limit_gives_controlled_stop() -> None:
    rig = Rig()
    rig.segment = seg(hr_max=140.0)
    rig.hr, rig.hr_age = 120.0, 0.0
    rig.stopped()
    rig.step(2.0, start())
    rig.belt(3.0)
    rig.hr = 140.0  # at the limit: `>`, still fine
    assert rig.step(3.0).mode is Mode.RUNNING
    rig.hr = 150.4
    out = rig.step(3.5)
    assert out == SafetyOutputs(
        drive_enable=True,
        direction=FWD,
        speed_cap_kmh=0.0,
        static_cap_kmh=12.0,
        target_kmh=0.0,
        decel=Decel.NORMAL,
        mode=Mode.STOPPING,
        reasons=(Reason.HEART_RATE_HIGH,),
        at_standstill=False,
        transitions=(
            Transition(
                3.5, Mode.RUNNING, Mode.STOPPING, (Reason.HEART_RATE_HIGH,), "150 bpm > 140 bpm"
            ),
        ),
    )
    assert rig.state.session_ended is False


def test_stale_heart_rate_above_limit_does_not_stop() -> None:
    rig = Rig()
    rig.segment = seg(hr_max=140.0)
    rig.running()
    rig.segment = seg(hr_max=140.0)
    rig.hr, rig.hr_age = 180.0, above(5.0)
    assert rig.step(3.0).mode is Mode.RUNNING
    rig.hr_age = None
    assert rig.step(3.5).mode is Mode.RUNNING


def test_heart_rate_lost_while_required_caps_speed_then_ends_session() -> None:
    rig = Rig()
    rig.segment = seg(hr_required=True, target=3.0)
    rig.hr, rig.hr_age = 90.0, 0.0
    rig.stopped()
    assert rig.state.hr_lost_since is None
    rig.step(2.0, start())
    rig.belt(3.0)
    rig.hr_age = 5.0  # exactly the timeout: still fresh
    out = rig.step(3.0)
    assert (out.speed_cap_kmh, out.target_kmh, out.warnings) == (12.0, 3.0, ())
    rig.hr_age = above(5.0)
    out = rig.step(4.0)
    assert rig.state.hr_lost_since == 4.0
    assert (out.mode, out.speed_cap_kmh, out.target_kmh) == (Mode.RUNNING, 2.0, 2.0)
    assert out.warnings == ("heart-rate signal lost: speed capped",)
    rig.belt(2.0)
    rig.hr = None
    out = rig.step(below(64.0))
    assert (out.mode, out.speed_cap_kmh) == (Mode.RUNNING, 2.0)
    assert rig.state.session_ended is False
    out = rig.step(64.0)  # exactly hr_lost_end_s: `>=`
    assert out == SafetyOutputs(
        drive_enable=True,
        direction=FWD,
        speed_cap_kmh=0.0,
        static_cap_kmh=12.0,
        target_kmh=0.0,
        decel=Decel.NORMAL,
        mode=Mode.STOPPING,
        reasons=(Reason.HEART_RATE_LOST,),
        at_standstill=False,
        transitions=(Transition(64.0, Mode.RUNNING, Mode.STOPPING, (Reason.HEART_RATE_LOST,), ""),),
    )
    assert rig.state.session_ended is True
    rig.belt(0.0)
    rig.step(65.0)
    out = rig.step(66.0)
    assert (out.mode, out.reasons) == (Mode.STOPPED, (Reason.HEART_RATE_LOST,))
    rig.hr, rig.hr_age = 90.0, 0.0
    out = rig.step(67.0, start())
    assert decision(out) == (False, "session has ended")


def test_heart_rate_cap_never_raises_a_lower_cap() -> None:
    rig = Rig()
    rig.segment = seg(direction=BWD, hr_required=True, target=4.0)
    rig.hr, rig.hr_age = 90.0, 0.0
    rig.stopped()
    rig.step(1.5, set_direction(BWD))
    rig.step(2.0, start())
    rig.belt(1.5)
    rig.hr = None
    out = rig.step(3.0)
    assert (out.speed_cap_kmh, out.target_kmh) == (1.5, 1.5)  # reverse start cap is lower


def test_heart_rate_back_in_time_restarts_the_loss_timer() -> None:
    rig = Rig()
    rig.segment = seg(hr_required=True)
    rig.hr, rig.hr_age = 90.0, 0.0
    rig.running()
    rig.segment = seg(hr_required=True)
    rig.hr = None
    rig.step(3.0)
    assert rig.state.hr_lost_since == 3.0
    rig.hr, rig.hr_age = 90.0, 0.0
    out = rig.step(50.0)
    assert rig.state.hr_lost_since is None
    assert out.warnings == ()
    assert out.speed_cap_kmh == 12.0
    rig.hr = None
    rig.step(60.0)
    out = rig.step(100.0)
    assert out.mode is Mode.RUNNING
    assert rig.state.session_ended is False
    assert rig.step(120.0).reasons == (Reason.HEART_RATE_LOST,)


def test_heart_rate_lost_when_not_required_changes_nothing() -> None:
    rig = Rig()
    rig.running()
    for t in (3.0, 70.0, 200.0):
        out = rig.step(t)
        assert (out.mode, out.speed_cap_kmh, out.warnings) == (Mode.RUNNING, 12.0, ())
        assert rig.state.hr_lost_since is None


def test_heart_rate_nan_is_no_heart_rate() -> None:
    rig = Rig()
    rig.segment = seg(hr_required=True)
    rig.hr, rig.hr_age = math.nan, 0.0
    rig.stopped()
    out = rig.step(1.5, start())
    assert decision(out) == (False, "no heart-rate signal")
    rig.hr = 90.0
    rig.step(2.0, start())
    rig.belt(3.0)
    rig.hr = math.nan
    out = rig.step(3.0)
    assert (out.speed_cap_kmh, out.target_kmh) == (2.0, 2.0)
    assert rig.state.hr_lost_since == 3.0


# ---------------------------------------------------------------------------
# handrails


def test_rails_hold_to_run_released_longer_than_grace_gives_controlled_stop() -> None:
    rig = Rig()
    rig.segment = seg(rail=RailPolicy.HOLD_TO_RUN)
    rig.stopped()
    rig.step(2.0, start())
    rig.belt(3.0)
    rig.io = io_ok(left=False, right=False)
    out = rig.step(3.0)
    assert rig.state.rails_released_since == 3.0
    assert (out.mode, out.speed_cap_kmh, out.warnings) == (Mode.RUNNING, 12.0, ())
    out = rig.step(below(5.0))
    assert out.mode is Mode.RUNNING
    out = rig.step(5.0)  # exactly rail_grace_s: `>=`
    assert (out.mode, out.reasons, out.drive_enable) == (
        Mode.STOPPING,
        (Reason.RAILS_RELEASED,),
        True,
    )
    assert out.transitions == (
        Transition(5.0, Mode.RUNNING, Mode.STOPPING, (Reason.RAILS_RELEASED,), ""),
    )


def test_rails_regrasped_restart_the_grace_timer() -> None:
    rig = Rig()
    rig.segment = seg(rail=RailPolicy.HOLD_TO_RUN)
    rig.stopped()
    rig.step(2.0, start())
    rig.belt(3.0)
    rig.io = io_ok(left=False, right=False)
    rig.step(3.0)
    rig.io = io_ok(left=True, right=False)
    rig.step(4.0)
    assert rig.state.rails_released_since is None
    rig.io = io_ok(left=False, right=False)
    rig.step(4.5)
    assert rig.step(6.0).mode is Mode.RUNNING
    assert rig.step(6.5).reasons == (Reason.RAILS_RELEASED,)


def test_rails_release_timer_dropped_when_io_unreadable() -> None:
    rig = Rig()
    rig.stopped()
    rig.io = io_ok(left=False, right=False)
    rig.step(1.5)
    assert rig.state.rails_released_since == 1.5
    rig.io = None
    rig.step(1.55)
    assert rig.state.rails_released_since is None


def test_rails_until_confident_released_caps_speed() -> None:
    rig = Rig()
    rig.segment = seg(rail=RailPolicy.UNTIL_CONFIDENT, target=3.0)
    rig.stopped()
    rig.step(2.0, start())
    rig.belt(3.0)
    rig.io = io_ok(left=False, right=False)
    for t in (3.0, 10.0):
        out = rig.step(t)
        assert (out.mode, out.speed_cap_kmh, out.target_kmh) == (Mode.RUNNING, 1.0, 1.0)
        assert out.warnings == ("handrails released: speed capped",)
    rig.io = io_ok(right=False)
    out = rig.step(11.0)
    assert (out.speed_cap_kmh, out.target_kmh, out.warnings) == (12.0, 3.0, ())


def test_rails_advisory_released_warns_without_cap() -> None:
    rig = Rig()
    rig.segment = seg(rail=RailPolicy.ADVISORY, target=3.0)
    rig.stopped()
    rig.step(2.0, start())
    rig.belt(3.0)
    rig.io = io_ok(left=False, right=False)
    for t in (3.0, 10.0):
        out = rig.step(t)
        assert (out.mode, out.speed_cap_kmh, out.target_kmh) == (Mode.RUNNING, 12.0, 3.0)
        assert out.warnings == ("handrails released",)


def test_rails_released_is_no_warning_when_not_running() -> None:
    rig = Rig()
    rig.segment = seg(rail=RailPolicy.UNTIL_CONFIDENT)
    rig.stopped()
    rig.io = io_ok(left=False, right=False)
    out = rig.step(1.5)
    assert out.warnings == ()


def test_warnings_accumulate_in_a_fixed_order() -> None:
    rig = Rig()
    rig.segment = seg(rail=RailPolicy.UNTIL_CONFIDENT, hr_required=True, target=3.0)
    rig.hr, rig.hr_age = 90.0, 0.0
    rig.stopped()
    rig.step(2.0, start())
    rig.belt(0.5)
    rig.io = io_ok(left=False, right=False)
    rig.hr = None
    rig.drive = None
    out = rig.step(2.02)
    assert out.warnings == (
        "handrails released: speed capped",
        "heart-rate signal lost: speed capped",
        "drive reading missed this cycle: holding speed",
    )
    assert (out.speed_cap_kmh, out.target_kmh) == (0.5, 0.5)


# ---------------------------------------------------------------------------
# set_speed


def test_set_speed_accepted_and_applied_only_to_its_segment() -> None:
    rig = Rig()
    rig.running(target=3.0)
    out = rig.step(3.0, set_speed(4.25))
    assert out.decisions == (Decision(set_speed(4.25), True, "target 4.25 km/h"),)
    assert out.target_kmh == 4.25
    assert (rig.state.operator_speed_kmh, rig.state.operator_speed_segment) == (4.25, 0)
    rig.segment = seg(1, target=2.0)
    out = rig.step(4.0)
    assert out.target_kmh == 2.0  # the next segment runs at its own speed
    rig.segment = seg(0, target=3.0)
    assert rig.step(4.5).target_kmh == 4.25


def test_set_speed_at_the_cap_is_accepted() -> None:
    rig = Rig()
    rig.running(target=3.0)
    out = rig.step(3.0, set_speed(12.0))
    assert decision(out) == (True, "target 12.00 km/h")
    assert out.target_kmh == 12.0


def test_set_speed_accepts_slow_speeds() -> None:
    rig = Rig()
    rig.running(BWD, target=1.5)
    out = rig.step(3.0, set_speed(0.5))
    assert decision(out) == (True, "target 0.50 km/h")
    assert out.target_kmh == 0.5
    out = rig.step(3.5, set_speed(1.0))
    assert decision(out) == (True, "target 1.00 km/h")
    assert out.target_kmh == 1.0


@pytest.mark.parametrize("kmh", [0.0, -1.0, math.nan, math.inf, -math.inf, None])
def test_set_speed_refused_when_not_a_positive_number(kmh: float | None) -> None:
    rig = Rig()
    rig.running(target=3.0)
    out = rig.step(3.0, set_speed(kmh))
    assert decision(out) == (False, "speed must be a positive number of km/h")
    assert out.target_kmh == 3.0
    assert rig.state.operator_speed_kmh is None


def test_set_speed_refused_above_the_cap() -> None:
    rig = Rig()
    rig.running(target=3.0)
    out = rig.step(3.0, set_speed(above(12.0)))
    assert decision(out) == (False, "12.00 km/h is above the forward cap 12.00 km/h")
    out = rig.step(3.5, set_speed(13.0))
    assert decision(out) == (False, "13.00 km/h is above the forward cap 12.00 km/h")
    assert out.target_kmh == 3.0
    assert rig.state.operator_speed_kmh is None


def test_set_speed_refused_above_the_backward_cap() -> None:
    rig = Rig()
    rig.running(BWD, target=2.0)
    out = rig.step(3.0, set_speed(6.0))
    assert decision(out) == (False, "6.00 km/h is above the backward cap 5.00 km/h")


def test_set_speed_refused_without_a_moving_segment() -> None:
    rig = Rig()
    rig.stopped()
    rig.segment = seg(moving=False)
    out = rig.step(1.5, set_speed(2.0))
    assert decision(out) == (False, "no moving segment")
    rig.segment = None
    out = rig.step(2.0, set_speed(2.0))
    assert decision(out) == (False, "no moving segment")
    assert rig.state.operator_speed_kmh is None


def test_set_speed_is_still_capped_at_the_output() -> None:
    rig = Rig()
    rig.running(BWD, target=2.0)
    out = rig.step(3.0, set_speed(4.0))
    assert decision(out) == (True, "target 4.00 km/h")
    assert (out.speed_cap_kmh, out.target_kmh) == (1.5, 1.5)


def test_target_is_never_negative() -> None:
    rig = Rig()
    rig.running(target=3.0)
    rig.drive = None
    rig.commanded = -1.0  # a nonsense last command: the cap follows it, the target does not
    out = rig.step(3.0)
    assert (out.speed_cap_kmh, out.target_kmh) == (-1.0, 0.0)


# ---------------------------------------------------------------------------
# stopping


def test_stopping_ends_in_stopped_only_at_verified_standstill() -> None:
    rig = Rig()
    rig.running()
    out = rig.step(3.0, stop())
    assert out == SafetyOutputs(
        drive_enable=True,
        direction=FWD,
        speed_cap_kmh=0.0,
        static_cap_kmh=12.0,
        target_kmh=0.0,
        decel=Decel.NORMAL,
        mode=Mode.STOPPING,
        reasons=(Reason.OPERATOR_STOP,),
        at_standstill=False,
        decisions=(Decision(stop(), True, "belt stopping"),),
        transitions=(
            Transition(3.0, Mode.RUNNING, Mode.STOPPING, (Reason.OPERATOR_STOP,), "from operator"),
        ),
    )
    rig.belt(1.0)
    assert rig.step(3.5).mode is Mode.STOPPING
    rig.belt(0.0)
    assert rig.step(4.0).mode is Mode.STOPPING  # at rest, dwell starts
    rig.drive = None
    assert rig.step(4.5).mode is Mode.STOPPING  # no reading: not verified
    rig.belt(0.0)
    assert rig.step(5.0).mode is Mode.STOPPING  # dwell starts again
    assert rig.step(below(6.0)).mode is Mode.STOPPING
    out = rig.step(6.0)
    assert (out.mode, out.reasons, out.drive_enable, out.at_standstill) == (
        Mode.STOPPED,
        (Reason.OPERATOR_STOP,),
        False,
        True,
    )
    assert out.transitions == (
        Transition(6.0, Mode.STOPPING, Mode.STOPPED, (Reason.OPERATOR_STOP,), "standstill"),
    )
    assert rig.state.run_started_at is None


def test_pause_gives_controlled_stop_and_reasons_add_up() -> None:
    rig = Rig()
    rig.running()
    out = rig.step(3.0, pause())
    assert (out.mode, out.reasons) == (Mode.STOPPING, (Reason.OPERATOR_PAUSE,))
    assert decision(out) == (True, "belt stopping")
    out = rig.step(3.5, stop(), pause())
    assert out.reasons == (Reason.OPERATOR_PAUSE, Reason.OPERATOR_STOP)
    assert out.decisions == (
        Decision(stop(), True, "belt stopping"),
        Decision(pause(), True, "belt stopping"),
    )
    assert out.transitions == ()


def test_stop_when_not_running_changes_nothing() -> None:
    rig = Rig()
    out = rig.step(0.0, stop())
    assert decision(out) == (True, "belt faulted")
    assert out.reasons == (Reason.POWER_ON,)
    rig.step(1.0, reset())
    out = rig.step(1.5, pause())
    assert decision(out) == (True, "belt stopped")
    assert (out.mode, out.reasons, out.transitions) == (Mode.STOPPED, (), ())


def test_stop_from_another_source_names_it() -> None:
    rig = Rig()
    rig.running()
    out = rig.step(3.0, Command(CommandKind.STOP, source="pendant"))
    assert out.transitions[0].detail == "from pendant"


@pytest.mark.parametrize(
    ("segment", "detail"),
    [
        (None, "end of profile"),
        (seg(1, moving=False), "rest segment"),
        (seg(1, BWD), "turnaround: next segment walks backward"),
    ],
    ids=["end", "rest", "turnaround"],
)
def test_profile_asks_for_a_controlled_stop(segment: SegmentPolicy | None, detail: str) -> None:
    rig = Rig()
    rig.running()
    rig.segment = segment
    out = rig.step(3.0)
    assert (out.mode, out.reasons, out.drive_enable, out.decel) == (
        Mode.STOPPING,
        (Reason.SEQUENCE_STOP,),
        True,
        Decel.NORMAL,
    )
    assert out.transitions == (
        Transition(3.0, Mode.RUNNING, Mode.STOPPING, (Reason.SEQUENCE_STOP,), detail),
    )
    assert (out.speed_cap_kmh, out.target_kmh) == (0.0, 0.0)


def test_turnaround_backward_to_forward_names_the_direction() -> None:
    rig = Rig()
    rig.running(BWD, target=2.0)
    rig.segment = seg(1, FWD)
    out = rig.step(3.0)
    assert out.transitions[0].detail == "turnaround: next segment walks forward"


# ---------------------------------------------------------------------------
# missed and nonsense drive readings


def test_drive_reading_missed_holds_speed_and_does_not_latch_before_timeout() -> None:
    rig = Rig()
    rig.running(target=3.0)
    rig.belt(2.0)
    out = rig.step(3.0, set_speed(4.0))
    assert out.target_kmh == 4.0
    rig.drive = None
    rig.drive_age = 0.05
    out = rig.step(3.1)
    assert out == SafetyOutputs(
        drive_enable=True,
        direction=FWD,
        speed_cap_kmh=2.0,
        static_cap_kmh=12.0,
        target_kmh=2.0,
        decel=Decel.NORMAL,
        mode=Mode.RUNNING,
        reasons=(),
        at_standstill=False,
        warnings=("drive reading missed this cycle: holding speed",),
    )
    rig.drive_age = 0.1
    assert rig.step(3.2).mode is Mode.RUNNING
    rig.drive_age = above(0.1)
    out = rig.step(3.22)
    assert (out.mode, out.reasons) == (Mode.FAULTED, (Reason.DRIVE_COMM_LOST,))


@pytest.mark.parametrize("speed", [math.nan, math.inf, -math.inf, -0.5, -1e-9])
def test_nan_or_negative_speed_reading_is_no_reading(speed: float) -> None:
    rig = Rig()
    rig.running(target=3.0)
    rig.belt(2.0)
    rig.drive = drive_at(speed)
    out = rig.step(3.0)
    assert (out.mode, out.speed_cap_kmh, out.target_kmh, out.at_standstill) == (
        Mode.RUNNING,
        2.0,
        2.0,
        False,
    )
    assert out.warnings == ("drive reading missed this cycle: holding speed",)
    assert rig.state.standstill_since is None
    # and at rest it cannot verify standstill for a reset
    rig2 = Rig()
    rig2.step(0.0)
    rig2.drive = drive_at(speed, fault=3)  # the fault code of a discarded reading is unseen
    out = rig2.step(1.0, reset())
    assert out.reasons == (Reason.POWER_ON,)
    assert decision(out) == (False, "no fresh drive reading; belt not at verified standstill")


def test_zero_speed_reading_is_a_reading() -> None:
    rig = Rig()
    rig.step(0.0)
    rig.drive = drive_at(0.0)
    assert rig.step(1.0, reset()).mode is Mode.STOPPED
    rig2 = Rig()
    rig2.drive = drive_at(-0.0)
    rig2.step(0.0)
    assert rig2.step(1.0, reset()).mode is Mode.STOPPED


# ---------------------------------------------------------------------------
# boundaries of standstill


def test_standstill_threshold_is_inclusive_for_belt_and_command() -> None:
    rig = Rig()
    rig.drive = drive_at(0.05)
    rig.commanded = 0.05
    rig.step(0.0)
    out = rig.step(1.0, reset())
    assert out.at_standstill is True
    assert out.mode is Mode.STOPPED
    rig.commanded = above(0.05)
    out = rig.step(1.5)
    assert out.at_standstill is False
    assert rig.state.standstill_since is None


def test_standstill_with_zero_dwell_is_immediate() -> None:
    rig = Rig(replace(CFG, standstill_dwell_s=0.0))
    out = rig.step(0.0, reset())
    assert out.at_standstill is True
    assert out.mode is Mode.STOPPED


# ---------------------------------------------------------------------------
# review follow-ups: ages, implausible heart rates, drive dropping out while stopping


@pytest.mark.parametrize("which", ["io", "drive"])
def test_a_nan_read_age_counts_as_an_expired_watchdog(which: str) -> None:
    rig = Rig()
    rig.running()
    if which == "io":
        rig.io_age = math.nan
        expected = Reason.SAFETY_INPUTS_STALE
    else:
        rig.drive_age = math.nan
        expected = Reason.DRIVE_COMM_LOST
    out = rig.step(3.0)
    assert out.mode is Mode.FAULTED
    assert out.reasons == (expected,)


def test_a_nan_read_age_blocks_reset() -> None:
    rig = Rig()
    rig.step(0.0)
    rig.drive_age = math.nan
    out = rig.step(1.0, reset())
    accepted, text = decision(out)
    assert not accepted
    assert "no fresh drive reading" in text


@pytest.mark.parametrize("bpm", [0.0, 24.9, 250.1, math.inf])
def test_an_implausible_heart_rate_is_no_heart_rate(bpm: float) -> None:
    rig = Rig()
    rig.segment = seg(hr_required=True, hr_max=160.0)
    rig.hr, rig.hr_age = bpm, 0.0
    rig.stopped()
    accepted, text = decision(rig.step(2.0, start()))
    assert not accepted
    assert "no heart-rate signal" in text


@pytest.mark.parametrize("bpm", [LIMITS.hr_plausible_min_bpm, LIMITS.hr_plausible_max_bpm])
def test_heart_rate_at_the_plausible_limits_is_a_reading(bpm: float) -> None:
    rig = Rig()
    rig.segment = seg(hr_required=True)
    rig.hr, rig.hr_age = bpm, 0.0
    rig.stopped()
    accepted, _ = decision(rig.step(2.0, start()))
    assert accepted


def test_a_strap_losing_contact_mid_session_caps_speed_like_a_lost_signal() -> None:
    rig = Rig()
    rig.segment = seg(target=3.0, hr_required=True)
    rig.hr, rig.hr_age = 100.0, 0.0
    rig.stopped()
    assert rig.step(2.0, start()).mode is Mode.RUNNING
    rig.belt(3.0)
    rig.hr = 0.0  # fresh, but 0 bpm
    out = rig.step(3.0)
    assert out.speed_cap_kmh == LIMITS.hr_lost_cap_kmh
    assert "heart-rate signal lost: speed capped" in out.warnings


def test_drive_not_ready_during_a_controlled_stop_latches() -> None:
    rig = Rig()
    rig.running()
    out = rig.step(3.0, stop())
    assert out.mode is Mode.STOPPING
    rig.drive = drive_at(2.5, ready=False)
    rig.commanded = 2.5
    out = rig.step(3.02)
    assert out.mode is Mode.FAULTED
    assert out.reasons == (Reason.DRIVE_NOT_READY,)
    assert not out.drive_enable


def test_direction_change_refused_until_the_speed_command_is_exactly_zero() -> None:
    """Standstill tolerates a command up to standstill_kmh; a turn must not (BUG-1)."""
    rig = Rig()
    rig.stopped()
    rig.commanded = LIMITS.standstill_kmh  # at the threshold: still "standstill"
    out = rig.step(2.0, set_direction(BWD))
    assert out.at_standstill
    assert decision(out) == (False, "speed command not yet zero")
    assert out.direction is FWD
    rig.commanded = 0.0
    out = rig.step(2.02, set_direction(BWD))
    assert decision(out) == (True, "direction now backward")
    assert out.direction is BWD


def test_a_patient_forward_cap_also_caps_backward() -> None:
    patient = PatientConfig(pseudonym="p1", comfortable_forward_kmh=2.5, max_forward_kmh=3.0)
    cfg = InterlockConfig.from_config(LIMITS, MACHINE.watchdog, patient)
    assert cfg.max_forward_kmh == 3.0
    assert cfg.max_backward_kmh == 3.0  # not the machine's 5.0
    assert cfg.machine_max_backward_kmh == 5.0


# heart rate missing or lost for hr_lost_end_s ends the session in ANY mode


def test_heart_rate_missing_while_stopped_ends_the_session_after_the_limit() -> None:
    rig = Rig()
    rig.segment = seg(hr_required=True)  # and no heart rate at all, from t = 0
    rig.stopped()
    end = LIMITS.hr_lost_end_s
    out = rig.step(below(end))
    assert out.transitions == ()
    assert not rig.state.session_ended
    out = rig.step(end)
    assert out.mode is Mode.STOPPED
    assert out.reasons == (Reason.HEART_RATE_LOST,)
    assert out.transitions == (
        Transition(
            end, Mode.STOPPED, Mode.STOPPED, (Reason.HEART_RATE_LOST,), "no heart-rate signal"
        ),
    )
    assert rig.state.session_ended
    accepted, text = decision(rig.step(end + 1.0, start()))
    assert not accepted
    assert "session has ended" in text


def test_heart_rate_missing_while_faulted_adds_the_reason_and_ends_the_session() -> None:
    rig = Rig()
    rig.segment = seg(hr_required=True)
    rig.step(0.0)
    out = rig.step(LIMITS.hr_lost_end_s)
    assert out.mode is Mode.FAULTED
    assert out.reasons == (Reason.POWER_ON, Reason.HEART_RATE_LOST)
    assert out.transitions == (
        Transition(LIMITS.hr_lost_end_s, Mode.FAULTED, Mode.FAULTED, (Reason.HEART_RATE_LOST,)),
    )
    assert rig.state.session_ended


def test_heart_rate_lost_while_stopping_adds_the_reason_behind_the_stop() -> None:
    rig = Rig()
    rig.segment = seg(target=3.0, hr_required=True)
    rig.hr, rig.hr_age = 100.0, 0.0
    rig.stopped()
    assert rig.step(2.0, start()).mode is Mode.RUNNING
    rig.belt(3.0)
    rig.hr = None  # lost at t = 3
    rig.step(3.0)
    lost_end = 3.0 + LIMITS.hr_lost_end_s
    out = rig.step(below(lost_end), stop())
    assert out.mode is Mode.STOPPING
    rig.belt(2.5)  # still slowing down
    out = rig.step(lost_end)
    assert out.mode is Mode.STOPPING
    assert out.reasons == (Reason.OPERATOR_STOP, Reason.HEART_RATE_LOST)
    assert out.transitions == (
        Transition(lost_end, Mode.STOPPING, Mode.STOPPING, (Reason.HEART_RATE_LOST,)),
    )
    assert rig.state.session_ended


def test_heart_rate_loss_ends_the_session_only_once() -> None:
    rig = Rig()
    rig.segment = seg(hr_required=True)
    rig.stopped()
    rig.step(LIMITS.hr_lost_end_s)
    assert rig.state.session_ended
    out = rig.step(LIMITS.hr_lost_end_s + 5.0)
    assert out.transitions == ()
    assert out.reasons == (Reason.HEART_RATE_LOST,)


# ---------------------------------------------------------------------------
# operator presence (a supervising dashboard that stops answering)

PRESENCE_S = CFG.operator_presence_timeout_s
assert PRESENCE_S == 2.0


def test_presence_timeout_comes_from_the_machine_file() -> None:
    machine = MACHINE.model_copy(
        update={"operator": MACHINE.operator.model_copy(update={"presence_timeout_s": 3.5})}
    )
    cfg = InterlockConfig.from_config(machine.limits, machine.watchdog, None, machine.operator)
    assert cfg.operator_presence_timeout_s == 3.5


def test_presence_unsupervised_run_ignores_presence() -> None:
    rig = Rig()
    rig.running()
    rig.operator_age = None
    out = rig.step(10.0)
    assert out.mode is Mode.RUNNING
    assert "operator console not answering" not in out.warnings


def test_presence_at_the_timeout_keeps_running() -> None:
    rig = Rig()
    rig.running()
    rig.operator_age = PRESENCE_S
    out = rig.step(3.0)
    assert out.mode is Mode.RUNNING
    assert out.warnings == ()


def test_presence_lost_gives_controlled_stop_not_a_latch() -> None:
    rig = Rig()
    rig.running()
    rig.operator_age = above(PRESENCE_S)
    out = rig.step(3.0)
    assert out.mode is Mode.STOPPING
    assert out.reasons == (Reason.OPERATOR_ABSENT,)
    assert out.decel is Decel.NORMAL
    assert out.target_kmh == 0.0
    assert out.drive_enable
    assert out.transitions[0].detail == "no sign of life for over 2 s"
    assert "operator console not answering" in out.warnings
    assert not is_latching(Reason.OPERATOR_ABSENT)


def test_presence_nan_age_counts_as_absent() -> None:
    rig = Rig()
    rig.running()
    rig.operator_age = math.nan
    assert rig.step(3.0).mode is Mode.STOPPING


def test_presence_lost_then_back_needs_a_new_start() -> None:
    rig = Rig()
    rig.running()
    rig.operator_age = math.inf
    rig.step(3.0)
    rig.belt(0.0)
    rig.step(3.5)
    out = rig.step(4.5)
    assert out.mode is Mode.STOPPED
    rig.operator_age = 0.1
    out = rig.step(5.0)
    assert out.mode is Mode.STOPPED  # no automatic restart when the console returns
    assert rig.step(5.5, start()).mode is Mode.RUNNING


def test_presence_start_refused_while_absent() -> None:
    rig = Rig()
    rig.stopped()
    rig.operator_age = math.inf  # never attached
    out = rig.step(2.0, start())
    assert out.mode is Mode.STOPPED
    assert decision(out) == (False, "no operator console answering: open the dashboard")


def test_presence_stop_and_reset_still_work_while_absent() -> None:
    rig = Rig()
    rig.operator_age = math.inf
    rig.step(0.0)
    out = rig.step(1.0, reset())
    assert out.mode is Mode.STOPPED
    assert decision(out)[0]


# ---------------------------------------------------------------------------
# turn-round machines: the walker turns, the belt never reverses

TURN = replace(CFG, walker_turns=True)


def confirm_turn(direction: Direction | None = None) -> Command:
    return Command(CommandKind.CONFIRM_TURN, direction=direction)


def turned_to_backward(rig: Rig) -> SafetyOutputs:
    """STOPPED at t=1, the profile turns to backward at t=1.5: the turn is pending."""
    rig.segment = seg(0, BWD, target=2.0)
    rig.stopped()
    out = rig.step(1.5, set_direction(BWD))
    assert decision(out)[0]
    return out


def test_turn_round_a_backward_walk_runs_the_belt_forward() -> None:
    rig = Rig(TURN)
    out = turned_to_backward(rig)
    assert (out.direction, out.belt_direction, out.turn_pending) == (BWD, FWD, True)
    assert "the walker turns to face away from the console" in decision(out)[1]
    out = rig.step(1.6, confirm_turn())
    assert decision(out) == (True, "walker faces away from the console, walks backward")
    assert not out.turn_pending
    out = rig.step(2.0, start())
    assert (out.mode, out.direction, out.belt_direction) == (Mode.RUNNING, BWD, FWD)
    # the person walks backward: the reverse start cap and the backward caps still hold
    assert out.speed_cap_kmh == TURN.reverse_start_cap_kmh
    assert out.static_cap_kmh == TURN.max_backward_kmh
    rig.commanded, rig.drive = 1.5, drive_at(1.5, FWD)  # the belt runs forward: all fine
    assert rig.step(2.5).mode is Mode.RUNNING
    rig.drive = drive_at(1.5, BWD)  # a belt running backward here is the wrong way
    out = rig.step(2.6)
    assert (out.mode, out.reasons) == (Mode.FAULTED, (Reason.DIRECTION_MISMATCH,))
    assert out.belt_direction is FWD


def test_turn_round_no_start_before_the_turn_is_confirmed() -> None:
    rig = Rig(TURN)
    turned_to_backward(rig)
    accepted, why = decision(rig.step(2.0, start()))
    assert not accepted
    assert "walker not confirmed facing away from the console" in why
    assert rig.state.mode is Mode.STOPPED
    # the confirmation must name the way the session now walks
    accepted, why = decision(rig.step(2.1, confirm_turn(FWD)))
    assert not accepted
    assert why == "the session walks backward now: confirm facing away from the console"
    assert decision(rig.step(2.2, confirm_turn(BWD)))[0]
    assert rig.step(2.3, start()).mode is Mode.RUNNING


def test_turn_round_confirmation_needs_verified_standstill() -> None:
    rig = Rig(TURN)
    turned_to_backward(rig)
    rig.drive = drive_at(0.3, FWD)  # someone pushes the belt
    accepted, why = decision(rig.step(2.0, confirm_turn()))
    assert (accepted, why) == (False, "belt not at verified standstill")
    assert rig.step(2.1).turn_pending


def test_turn_round_back_to_forward_needs_a_turn_too() -> None:
    rig = Rig(TURN)
    turned_to_backward(rig)
    rig.step(1.6, confirm_turn())
    rig.segment = seg(1, FWD)
    out = rig.step(2.0, set_direction(FWD))
    assert decision(out)[0]
    assert out.turn_pending
    assert "walker not confirmed facing the console" in decision(rig.step(2.1, start()))[1]
    rig.step(2.2, confirm_turn())
    assert rig.step(2.3, start()).mode is Mode.RUNNING


def test_turn_round_a_pause_keeps_the_walkers_orientation() -> None:
    rig = Rig(TURN)
    turned_to_backward(rig)
    rig.step(1.6, confirm_turn())
    rig.step(2.0, start())
    rig.commanded, rig.drive = 1.0, drive_at(1.0, FWD)
    rig.step(2.5, pause())
    rig.commanded, rig.drive = 0.0, drive_at(0.0, FWD)
    rig.step(2.6)
    out = rig.step(2.6 + TURN.standstill_dwell_s)
    assert (out.mode, out.turn_pending) == (Mode.STOPPED, False)
    assert rig.step(4.0, start()).mode is Mode.RUNNING  # no turn, so nothing to confirm


@pytest.mark.parametrize("mode", ["running", "faulted"])
def test_turn_round_the_belt_direction_is_forward_in_every_mode(mode: str) -> None:
    rig = Rig(TURN)
    turned_to_backward(rig)
    rig.step(1.6, confirm_turn())
    rig.step(2.0, start())
    if mode == "faulted":
        rig.io = io_ok(estop=False)
    out = rig.step(2.5)
    assert out.belt_direction is FWD


def test_a_reversing_belt_has_no_turn_to_confirm() -> None:
    rig = Rig()
    out = turned_to_backward(rig)
    assert (out.belt_direction, out.turn_pending) == (BWD, False)
    accepted, why = decision(rig.step(1.6, confirm_turn()))
    assert (accepted, why) == (
        False,
        "nothing to confirm: the belt reverses, the walker does not turn",
    )
    assert rig.step(2.0, start()).mode is Mode.RUNNING


def test_turn_round_machine_file_gives_an_interlock_that_waits_for_the_turn() -> None:
    machine = load_model(ROOT / "src/treadctl/samples/machines" / "sim-turn.toml", MachineConfig)
    assert machine.backward_walking == "walker_turns"
    cfg = InterlockConfig.from_config(
        machine.limits,
        machine.watchdog,
        None,
        machine.operator,
        walker_turns=machine.walker_turns,
    )
    assert cfg.walker_turns
    assert cfg == TURN  # sim-turn.toml has sim.toml's limits
    rig = Rig(cfg)
    out = turned_to_backward(rig)
    assert (out.direction, out.belt_direction, out.turn_pending) == (BWD, FWD, True)
    out = rig.step(2.0, start())
    assert not decision(out)[0]
    assert out.mode is Mode.STOPPED
    assert decision(rig.step(2.1, confirm_turn()))[0]
    assert rig.step(2.2, start()).mode is Mode.RUNNING


def test_turn_round_start_refusal_tells_the_operator_to_turn_the_walker_and_confirm() -> None:
    rig = Rig(TURN)
    turned_to_backward(rig)
    assert decision(rig.step(2.0, start())) == (
        False,
        "walker not confirmed facing away from the console: "
        "turn the walker round, then confirm the turn",
    )
    rig.step(2.1, confirm_turn())
    rig.segment = seg(1, FWD)
    rig.step(2.2, set_direction(FWD))
    assert decision(rig.step(2.3, start())) == (
        False,
        "walker not confirmed facing the console: turn the walker round, then confirm the turn",
    )


def test_turn_round_direction_change_answer_names_the_direction_and_the_turn() -> None:
    rig = Rig(TURN)
    out = turned_to_backward(rig)
    assert decision(out) == (
        True,
        "direction now backward; the belt keeps running forward: the walker turns to face "
        "away from the console, then the operator confirms the turn",
    )
    rig.step(1.6, confirm_turn())
    rig.segment = seg(1, FWD)
    assert decision(rig.step(2.0, set_direction(FWD))) == (
        True,
        "direction now forward; the belt keeps running forward: the walker turns to face "
        "the console, then the operator confirms the turn",
    )


def test_a_reversing_belt_takes_the_walkers_facing_from_the_direction() -> None:
    # A machine whose belt reverses never turns the walker: whatever facing the state
    # holds (here the dataclass default, FORWARD, beside a backward direction), no turn
    # is pending and nothing waits for one.
    rig = Rig()
    rig.segment = seg(0, BWD, target=2.0)
    rig.stopped()
    rig.state = replace(rig.state, direction=BWD, facing=FWD)
    out = rig.step(1.5)
    assert (out.direction, out.belt_direction, out.turn_pending) == (BWD, BWD, False)
    assert rig.state.facing is BWD
    out = rig.step(2.0, start())
    assert decision(out) == (True, "")
    assert out.mode is Mode.RUNNING
