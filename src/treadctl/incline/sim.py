"""The simulator's own lift behind the actuator ABC, no wire (treadctl simulate, tests)."""

from __future__ import annotations

from treadctl.clock import Clock
from treadctl.incline.base import InclineActuator, InclineCommand, InclineError
from treadctl.sim.incline import InclineSim


class SimIncline(InclineActuator):
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
