"""The simulated world behind the hardware ABCs, no wire: the belt behind the Drive, the
panel behind the safety inputs and the heart rate, the lift behind the incline actuator.

They live here, above drives/, inputs/ and incline/, so that no hardware package imports
the simulator (issue 23): the session's assembly (treadctl.app) picks them.
"""

from __future__ import annotations

from treadctl.clock import Clock
from treadctl.config.machine import MachineConfig, SimInclineConfig
from treadctl.drives.base import Drive, DriveCommand, DriveError, WatchdogSetting
from treadctl.incline.base import InclineActuator, InclineCommand, InclineError
from treadctl.inputs.base import HeartRateSource, InputError, SafetyInputSource
from treadctl.safety.types import DriveStatus, SafetyIO
from treadctl.sim.incline import InclineSim
from treadctl.sim.world import BeltSim, Panel


class SimDrive(Drive):
    name = "sim-drive"

    def __init__(self, belt: BeltSim, clock: Clock) -> None:
        self.belt = belt
        self.clock = clock
        # The world starts on this clock: otherwise its first advance integrates the
        # whole gap from 0 (the machine's uptime on the monotonic clock) in 20 ms steps.
        belt.now_s = max(belt.now_s, clock.now())

    def _answer(self) -> None:
        belt = self.belt
        now = self.clock.now()
        if belt.now_s < now:  # the cycle's write finds the world already there
            belt.advance(now)
        if belt.silent:
            raise DriveError(self.name, "no answer (simulated bus silence)")

    async def connect(self, comm_loss_timeout_s: float) -> WatchdogSetting:
        self._answer()
        self.belt.watchdog_s = comm_loss_timeout_s
        return WatchdogSetting(self.belt.watchdog_s, "ramp to stop")

    async def read_status(self) -> DriveStatus:
        self._answer()
        b = self.belt
        return DriveStatus(b.ready, b.fault_code, b.speed_kmh, b.direction)

    async def write_command(self, command: DriveCommand) -> None:
        self._answer()
        command, refused = self.forward_only(command)
        self.belt.command(command.run, command.direction, command.speed_kmh, command.quick_stop)
        if refused:
            raise self.reverse_refused()

    async def reset_fault(self) -> None:
        self._answer()
        if self.belt.powered:
            self.belt.reset_fault()

    async def close(self) -> None:
        return None


class SimSafetyInputs(SafetyInputSource):
    """Simulated safety inputs, read from the simulated panel."""

    name = "sim-inputs"

    def __init__(self, panel: Panel) -> None:
        self.panel = panel
        self._last = SafetyIO(True, True, True, True)  # the last reading (equal: the same)

    async def read(self) -> SafetyIO:
        p = self.panel
        if p.io_fails:
            raise InputError(self.name, "no answer (simulated input module silence)")
        last = self._last
        if (
            last.estop_chain_ok is not p.estop_chain_ok
            or last.key_present is not p.key_present
            or last.rail_left is not p.rail_left
            or last.rail_right is not p.rail_right
        ):
            last = self._last = SafetyIO(p.estop_chain_ok, p.key_present, p.rail_left, p.rail_right)
        return last


class SimHeartRate(HeartRateSource):
    """The simulated panel's heart rate (scenarios set it)."""

    def __init__(self, panel: Panel) -> None:
        self.panel = panel

    async def read_bpm(self) -> float | None:
        return self.panel.heart_rate_bpm


class SimIncline(InclineActuator):
    """The simulator's own lift behind the actuator ABC (treadctl simulate, tests)."""

    name = "sim-incline"

    def __init__(self, lift: InclineSim, clock: Clock) -> None:
        self.lift = lift
        self.clock = clock
        lift.now_s = max(lift.now_s, clock.now())  # as SimDrive: no integration from 0

    async def read_position_pct(self) -> float:
        self.lift.advance(self.clock.now())
        pct = self.lift.read_pct()
        if pct is None:
            raise InclineError(self.name, "no answer (simulated sensor silence)")
        return pct

    async def write(self, command: InclineCommand) -> None:
        self.lift.advance(self.clock.now())
        if command.up and command.down:
            raise InclineError(self.name, "refused: up and down together")
        self.lift.set_relays(command.up, command.down)


def sim_lift(machine: MachineConfig) -> InclineSim | None:
    """The in-process simulated lift of a machine whose actuator is the simulator's."""
    rng = machine.incline
    if rng is None or not isinstance(rng.actuator, SimInclineConfig):
        return None
    return InclineSim(rng.min_pct, rng.max_pct, rng.actuator.travel_pct_per_s)


def sim_incline(
    machine: MachineConfig, clock: Clock, lift: InclineSim | None = None
) -> SimIncline | None:
    """The simulator's actuator when the machine file names it (`kind = "sim"`), on
    `lift` (made here when not given); None for any other machine."""
    rng = machine.incline
    act = rng.actuator if rng is not None else None
    if rng is None or not isinstance(act, SimInclineConfig):
        return None
    return SimIncline(lift or InclineSim(rng.min_pct, rng.max_pct, act.travel_pct_per_s), clock)
