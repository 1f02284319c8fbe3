"""The simulated world outside the controller: the hardware safety chain, the person, the belt.

The e-stop chain and the safety key cut drive power here as they do in
hardware (STO): the simulated belt coasts to rest whatever the software says.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from treadctl.config.machine import SimBelt
from treadctl.safety.types import Direction

COMM_LOSS_FAULT_CODE = 54  # the built-in simulated drive's "communication time-out" trip
SUBSTEP_S = 0.02


class StopMode(StrEnum):
    """How a drive takes the belt to rest."""

    RAMP = "ramp"  # the normal deceleration ramp
    FAST = "fast stop"  # the quick (emergency) ramp
    COAST = "coast"  # output cut: the belt coasts as when unpowered
    NONE = "none"  # keeps running


# The members as module constants: on Python 3.11 each `StopMode.COAST` in a function is a
# slow lookup (EnumType's __getattr__ hook), and the world advances every cycle.
_RAMP, _FAST, _COAST, _NONE = StopMode.RAMP, StopMode.FAST, StopMode.COAST, StopMode.NONE
_TWO_PI = 2 * math.pi


@dataclass(frozen=True)
class CommLossResponse:
    """What a drive does when its comm-loss timer expires, and how it reports it."""

    stop: StopMode = StopMode.RAMP
    fault_code: int = 0  # in the drive's fault register (0: not a fault)
    warning_code: int = 0  # shown as a warning; cleared when telegrams arrive again


def default_comm_loss(code: int = COMM_LOSS_FAULT_CODE) -> Callable[[], CommLossResponse]:
    """Ramp to stop and trip with `code`: the built-in simulated drive."""
    response = CommLossResponse(StopMode.RAMP, fault_code=code)
    return lambda: response


@dataclass
class Panel:
    """Hardware inputs: what the safety I/O module sees."""

    estop_chain_ok: bool = True
    key_present: bool = True
    rail_left: bool = True
    rail_right: bool = True
    io_fails: bool = False  # the input module stops answering
    heart_rate_bpm: float | None = None


@dataclass
class BeltSim:
    """A drive with its own ramp and comm-loss watchdog, and a belt with inertia and a walker."""

    belt: SimBelt
    panel: Panel = field(default_factory=Panel)
    now_s: float = 0.0
    speed_kmh: float = 0.0  # belt, magnitude
    direction: Direction = Direction.FORWARD
    output_kmh: float = 0.0  # drive's ramped output, magnitude
    run: bool = False
    quick_stop: bool = False
    reference_kmh: float = 0.0
    commanded_direction: Direction = Direction.FORWARD
    fault_code: int = 0
    watchdog_s: float = 0.0  # 0: off
    last_command_s: float | None = None
    silent: bool = False  # stops answering on the bus
    ignore_commands: bool = False  # accepts writes but does not act on them
    runaway_kmh_per_s: float = 0.0  # belt driven faster than asked (a broken encoder, a slope)
    runaway_extra_kmh: float = 0.0
    commands_seen: int = 0
    # Comm loss: the drive decides at the moment its timer expires (None: nothing happens).
    comm_loss_action: Callable[[], CommLossResponse | None] = field(
        default_factory=default_comm_loss
    )
    comm_loss: CommLossResponse | None = None  # the action that fired, until cleared
    warning_code: int = 0
    fault_stop: StopMode = StopMode.RAMP  # how a trip stops the belt
    coast: bool = False  # the drive has cut its output (OFF2, pulses inhibited, base block)
    fault_events: int = 0  # trips so far (a drive's state machine notices each)
    power_losses: int = 0  # times power was cut (STO) so far
    _was_powered: bool = field(default=True, init=False, repr=False)

    @property
    def comm_lost(self) -> bool:
        """The drive's comm-loss action fired and has not been cleared."""
        return self.comm_loss is not None

    @property
    def powered(self) -> bool:
        return self.panel.estop_chain_ok and self.panel.key_present

    @property
    def ready(self) -> bool:
        return self.powered and self.fault_code == 0

    def command(self, run: bool, direction: Direction, speed_kmh: float, quick: bool) -> None:
        """A command telegram: heard (feeds the watchdog), then acted on."""
        self.commands_seen += 1
        self.heard()
        self.drive(run, direction, speed_kmh, quick)

    def drive(self, run: bool, direction: Direction, speed_kmh: float, quick: bool) -> None:
        """What the drive's output is to do (no telegram: a drive's own state change)."""
        if self.ignore_commands:
            return
        self.run, self.commanded_direction = run, direction
        self.reference_kmh, self.quick_stop = max(0.0, speed_kmh), quick

    def heard(self) -> None:
        """A good telegram arrived: it feeds the comm-loss timer and ends a comm-loss
        warning; a comm-loss action that only warned ends with it."""
        self.last_command_s = self.now_s
        lost = self.comm_loss
        if lost is not None and lost.fault_code == 0:
            if lost.warning_code and self.warning_code == lost.warning_code:
                self.warning_code = 0
            if lost.stop is StopMode.NONE:
                self.comm_loss = None

    def clear_comm_loss(self) -> None:
        lost = self.comm_loss
        if lost is not None and lost.warning_code and self.warning_code == lost.warning_code:
            self.warning_code = 0
        self.comm_loss = None

    def trip(self, code: int) -> None:
        self.fault_code = code
        self.fault_events += 1

    def reset_fault(self) -> None:
        self.fault_code = 0
        if self.comm_loss is not None and self.comm_loss.fault_code:
            self.clear_comm_loss()

    def _comm_loss_expired(self) -> bool:
        return (
            self.watchdog_s > 0
            and self.last_command_s is not None
            and self.now_s - self.last_command_s > self.watchdog_s
            and self.fault_code == 0
            and self.comm_loss is None
        )

    def _fire_comm_loss(self) -> None:
        response = self.comm_loss_action()
        if response is None:
            return
        self.comm_loss = response
        if response.fault_code:
            self.trip(response.fault_code)
        if response.warning_code:
            self.warning_code = response.warning_code

    def _stop_mode(self) -> StopMode | None:
        """How the output is to come to rest now, or None to follow the command."""
        if self.coast:
            return _COAST
        lost = self.comm_loss
        if lost is not None and lost.stop is not _NONE:
            return lost.stop
        if self.fault_code:
            return self.fault_stop
        if not self.run:
            return _FAST if self.quick_stop else _RAMP
        return None

    def advance(self, now_s: float) -> None:
        while self.now_s < now_s:
            gap = now_s - self.now_s
            dt = gap if gap < SUBSTEP_S else SUBSTEP_S  # min(SUBSTEP_S, gap)
            self._substep(dt)
            self.now_s += dt

    def _substep(self, dt: float) -> None:
        # Each `a if a > b else b` is max(b, a) (and `<` min) exactly, without the call's
        # cost: the world advances every cycle, tens of thousands of times a second in
        # virtual time.
        cfg = self.belt
        if self._comm_loss_expired():
            self._fire_comm_loss()
        powered = self.powered
        if self._was_powered and not powered:
            self.power_losses += 1
        self._was_powered = powered
        stop = self._stop_mode()
        if not powered or stop is _COAST:
            self.output_kmh = 0.0
            self.speed_kmh = max(0.0, self.speed_kmh - cfg.coast_decel_kmh_per_s * dt)
            return
        ramp = cfg.drive_ramp_kmh_per_s * dt
        if stop is not None and stop is not _NONE:
            goal = 0.0
            if stop is _FAST or self.quick_stop:
                ramp *= 2
        elif self.commanded_direction is not self.direction:
            goal = 0.0  # a real VFD ramps through zero to reverse
        else:
            goal = self.reference_kmh
        if self.output_kmh < goal:
            up = self.output_kmh + ramp
            self.output_kmh = up if up < goal else goal
        else:
            down = self.output_kmh - ramp
            self.output_kmh = down if down > goal else goal
        if self.output_kmh == 0.0 and self.speed_kmh < 0.01 and self.run:
            self.direction = self.commanded_direction
        if self.output_kmh > 0:
            self.runaway_extra_kmh += self.runaway_kmh_per_s * dt
        load = 0.0
        if self.output_kmh > 0.05:
            step_hz = cfg.cadence_steps_per_min / 60.0
            load = cfg.person_load_kmh * math.sin(_TWO_PI * step_hz * self.now_s)
        lag = dt / cfg.belt_time_constant_s
        lag = lag if lag < 1.0 else 1.0
        self.speed_kmh += (self.output_kmh + self.runaway_extra_kmh + load - self.speed_kmh) * lag
        speed = self.speed_kmh
        if self.output_kmh == 0.0 and speed < 0.005:
            speed = 0.0
        self.speed_kmh = speed if speed > 0.0 else 0.0
