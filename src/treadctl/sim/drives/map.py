"""The map-driven drive: whatever a register map says (the generic map, user map files)."""

from __future__ import annotations

from collections.abc import Sequence

from treadctl.drives.regmap import RegisterMap
from treadctl.safety.types import Direction
from treadctl.sim.drives.base import HOLDING_READ, WRITE_MULTIPLE, WRITE_SINGLE, DriveSim
from treadctl.sim.world import COMM_LOSS_FAULT_CODE, BeltSim, CommLossResponse, StopMode


class DriveModel(DriveSim):
    """A drive that follows any register map, so it cannot find the map's mistakes."""

    name = "map"
    functions = frozenset({HOLDING_READ, 4, WRITE_SINGLE, WRITE_MULTIPLE})

    def __init__(self, regmap: RegisterMap, belt: BeltSim, kmh_per_hz: float) -> None:
        super().__init__(belt, kmh_per_hz)
        self.map = regmap
        self.name = f"map:{regmap.name}"
        wd = regmap.watchdog
        # Factory state: the comm-loss watchdog is off until the controller arms it.
        self.params = {wd.timeout_address: 0, wd.action_address: 0}
        if wd.enable_address is not None:
            self.params[wd.enable_address] = 0
        c = regmap.control
        self.word = c.stop
        self.reference = 0
        self.reset_register = c.fault_reset_address
        self.reset_value = 0
        monitor = (regmap.status.address, regmap.output.address, regmap.fault.address)
        self._status_block = (min(monitor), max(monitor))
        # The code the map says the drive trips with on comm loss (0 or absent: 54).
        code = int(getattr(wd, "comm_loss_code", COMM_LOSS_FAULT_CODE))
        self._comm_loss = CommLossResponse(StopMode.RAMP, fault_code=code or COMM_LOSS_FAULT_CODE)

    def comm_loss(self) -> CommLossResponse:
        return self._comm_loss

    def watchdog_stop_s(self) -> float:
        return self.belt.watchdog_s  # armed only with the stop action (_apply_watchdog)

    def drive_state(self) -> str:
        b = self.belt
        if not b.powered:
            return "no power"
        if b.fault_code:
            return "fault"
        return "running" if b.run else "stopped"

    def _apply_watchdog(self) -> None:
        wd = self.map.watchdog
        enabled = wd.enable_address is None or self.params[wd.enable_address] == wd.enable_value
        stops = self.params[wd.action_address] == wd.action_stop_value
        counts = self.params[wd.timeout_address]
        self.belt.watchdog_s = counts / wd.timeout_counts_per_s if enabled and stops else 0.0

    def _read_one(self, a: int) -> int | None:
        m, b = self.map, self.belt
        if a == m.status.address:
            return m.encode_status(
                running=b.run and b.output_kmh > 0 and b.fault_code == 0,
                reverse=b.direction is Direction.BACKWARD,
                fault=b.fault_code != 0,
                ready=b.ready,
            )
        if a == m.output.address:
            return m.encode_output(b.speed_kmh / self.kmh_per_hz, b.direction is Direction.BACKWARD)
        if a == m.fault.address:
            return b.fault_code & 0xFFFF
        if a == m.control.address:
            return self.word
        if a == m.reference.address:
            return self.reference
        if self.reset_register is not None and a == self.reset_register:
            return self.reset_value
        if a in self.params:
            return self.params[a]
        if self._status_block[0] <= a <= self._status_block[1]:
            return 0  # other monitor registers a real drive serves in the same block
        return None

    def write_registers(self, address: int, values: Sequence[int], now: float) -> bool:
        m = self.map
        touched_command = False
        for offset, value in enumerate(values):
            a = address + offset
            if a == m.control.address:
                self.word = value
                touched_command = True
                if value == m.control.fault_reset and self.reset_register is None:
                    self._fault_reset()
            elif a == m.reference.address:
                self.reference = value
                touched_command = True
            elif self.reset_register is not None and a == self.reset_register:
                if value == m.control.fault_reset:
                    self._fault_reset()
                self.reset_value = value
            elif a in self.params:
                self.params[a] = value
                self._apply_watchdog()
            else:
                return False
        if touched_command:
            self._map_command(now)
        return True

    def _fault_reset(self) -> None:
        if self.belt.powered:
            self.belt.reset_fault()

    def _map_command(self, now: float) -> None:
        run, reverse, quick = self.map.decode_command(self.word)
        counts = self.reference
        signed = counts - 0x10000 if counts & 0x8000 else counts
        if reverse is None:
            reverse = self.map.reference.signed_reverse and signed < 0
        hz = abs(signed if self.map.reference.signed_reverse else counts)
        self._command(run, reverse, hz / self.map.reference.counts_per_hz, quick, now)
