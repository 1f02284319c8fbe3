"""Delta MS300 (and VFD-E) over Modbus, from the MS300 manual's communication chapter.

0x2000 command (bits 1-0 stop/run, bits 5-4 direction), 0x2001 frequency in 0.01 Hz,
0x2002 EF / fault reset (rising edge) / base block; 0x2100 fault code in the LOW byte and
warning code in the HIGH byte, 0x2101 status, 0x2103 output frequency. Comm loss per
P09-02 after P09-03: 0 warn CE10 and run on, 1 ramp to stop and warn CE10, 2 trip CE10
and coast, 3 nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from treadctl.safety.types import Direction
from treadctl.sim.drives.base import (
    DIAGNOSTICS,
    HOLDING_READ,
    WRITE_MULTIPLE,
    WRITE_SINGLE,
    DriveSim,
)
from treadctl.sim.world import BeltSim, CommLossResponse, StopMode

COMMAND, FREQUENCY, EXTRA = 0x2000, 0x2001, 0x2002
FAULT_WARNING, STATUS, FREQ_COMMAND, OUTPUT_HZ, CURRENT = 0x2100, 0x2101, 0x2102, 0x2103, 0x2104
MONITOR_END = 0x2127  # the rest of the monitor block reads 0
CE10 = 58  # communication time-out
EF = 49  # external fault
P00_20, P00_21 = 0x0014, 0x0015
P09_00, P09_01, P09_02, P09_03, P09_04, P09_09 = 0x0900, 0x0901, 0x0902, 0x0903, 0x0904, 0x0909
FACTORY = {P00_20: 0, P00_21: 0, P09_00: 1, P09_01: 96, P09_02: 3, P09_03: 0, P09_04: 1, P09_09: 20}
RTU_PROTOCOL = {"N": 12, "E": 14, "O": 15}  # P09-04: 8N1, 8E1, 8O1 RTU


class DeltaMs300(DriveSim):
    name = "delta-ms300"
    functions = frozenset({HOLDING_READ, WRITE_SINGLE, DIAGNOSTICS, WRITE_MULTIPLE})

    def __init__(self, belt: BeltSim, kmh_per_hz: float) -> None:
        super().__init__(belt, kmh_per_hz)
        self.params = dict(FACTORY)
        self.word = 0
        self.frequency = 0  # 0.01 Hz
        self.extra = 0
        self.run = False  # the run latch (bits 1-0: 10 run, 01 stop, 00 keep)
        self.reverse = False  # the direction latch (bits 5-4)

    # -- parameters --------------------------------------------------------------------
    def station(self, device_id: int) -> None:
        self.params[P09_00] = device_id

    def serial_link(self, baudrate: int, parity: str) -> None:
        self.params[P09_01] = baudrate // 100
        self.params[P09_04] = RTU_PROTOCOL.get(parity, 12)

    def comm_loss(self) -> CommLossResponse | None:
        treatment = self.params[P09_02]
        if treatment == 0:
            return CommLossResponse(StopMode.NONE, warning_code=CE10)
        if treatment == 1:
            return CommLossResponse(StopMode.RAMP, warning_code=CE10)
        if treatment == 2:
            return CommLossResponse(StopMode.COAST, fault_code=CE10)
        return None

    def fault_register_code(self) -> int:
        return self.belt.fault_code & 0xFF

    # -- registers ---------------------------------------------------------------------
    def _read_one(self, a: int) -> int | None:
        b = self.belt
        if a in self.params:
            return self.params[a]
        if a == COMMAND:
            return self.word
        if a == FREQUENCY:
            return self.frequency
        if a == EXTRA:
            return self.extra
        if a == FAULT_WARNING:
            return (b.fault_code & 0xFF) | (b.warning_code & 0xFF) << 8
        if a == STATUS:
            return self._status()
        if a == FREQ_COMMAND:
            return self.frequency
        if a == OUTPUT_HZ:
            return round(self.hz(b.speed_kmh) * 100) & 0xFFFF
        if a == CURRENT:
            return round((0.5 + 0.04 * self.hz(b.output_kmh)) * 100) if b.output_kmh > 0 else 0
        if FAULT_WARNING < a <= MONITOR_END:
            return 0
        return None

    def _running(self) -> bool:
        b = self.belt
        return self.run and b.powered and b.fault_code == 0 and not b.comm_lost and not b.coast

    def _status(self) -> int:
        b = self.belt
        moving = b.output_kmh > 0 or b.speed_kmh > 0
        running = self._running()
        # bits 1-0: 11 operating, 10 standby (run, output at 0), 01 decelerating, 00 stopped
        state = (0b11 if moving else 0b10) if running else (0b01 if moving else 0b00)
        actual_reverse = b.direction is Direction.BACKWARD
        turning = running and self.reverse != actual_reverse
        # bits 4-3 of the actual rotation: 00 FWD, 10 FWD->REV, 01 REV->FWD, 11 REV
        rotation = (0b01 if turning else 0b11) if actual_reverse else (0b10 if turning else 0b00)
        return state | rotation << 3

    def drive_state(self) -> str:
        self._sync()
        b = self.belt
        if not b.powered:
            return "no power (STO)"
        if b.fault_code:
            return "fault"
        if b.comm_lost and b.comm_loss is not None and b.comm_loss.stop is not StopMode.NONE:
            return "comm-loss stop"
        return {0: "stopped", 1: "decelerating", 2: "standby", 3: "operating"}[self._status() & 3]

    def write_registers(self, address: int, values: Sequence[int], now: float) -> bool:
        self._sync()
        touched = False
        for offset, value in enumerate(values):
            a = address + offset
            if a == COMMAND:
                self._command_word(value)
                touched = True
            elif a == FREQUENCY:
                self.frequency = value
                touched = True
            elif a == EXTRA:
                self._extra(value)
                touched = True
            elif a in self.params:
                self.params[a] = value
                if a == P09_03:
                    self.belt.watchdog_s = value / 10
            else:
                return False
        if touched:
            self._act(now)
        return True

    def _command_word(self, word: int) -> None:
        self.word = word
        run_bits, dir_bits = word & 0b11, word >> 4 & 0b11
        if run_bits == 0b01:
            self.run = False
            if self.belt.comm_lost and self.belt.fault_code == 0:
                self.belt.clear_comm_loss()  # a CE10 warning stop ends with a stop command
        elif run_bits in (0b10, 0b11):
            self.run = True
        if dir_bits == 0b01:
            self.reverse = False
        elif dir_bits == 0b10:
            self.reverse = True
        elif dir_bits == 0b11:
            self.reverse = not self.reverse

    def _extra(self, value: int) -> None:
        rising = value & ~self.extra
        self.extra = value
        b = self.belt
        if rising & 0b001 and b.fault_code == 0:
            b.trip(EF)
        if rising & 0b010 and b.powered:
            b.reset_fault()
        b.coast = bool(value & 0b100)  # base block: output cut

    def tick(self) -> None:
        self._sync()

    def _sync(self) -> None:
        tripped, _ = self._events()
        if tripped:  # a trip drops the run command: a fault reset does not restart the belt
            self.run = False
            b = self.belt
            b.drive(False, b.commanded_direction, b.reference_kmh, False)

    def _act(self, now: float) -> None:
        self._sync()
        self._command(self.run, self.reverse, self.frequency / 100, False, now)
