"""The simulated drive backend: the belt simulator behind the Drive ABC, no wire."""

from __future__ import annotations

from treadctl.clock import Clock
from treadctl.drives.base import Drive, DriveCommand, DriveError, WatchdogSetting
from treadctl.safety.types import DriveStatus
from treadctl.sim.world import BeltSim


class SimDrive(Drive):
    name = "sim-drive"

    def __init__(self, belt: BeltSim, clock: Clock) -> None:
        self.belt = belt
        self.clock = clock
        # The world starts on this clock: otherwise its first advance integrates the
        # whole gap from 0 (the machine's uptime on the monotonic clock) in 20 ms steps.
        belt.now_s = max(belt.now_s, clock.now())

    def _answer(self) -> None:
        self.belt.advance(self.clock.now())
        if self.belt.silent:
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
