"""Yaskawa A1000 over MEMOBUS (Modbus RTU), from the A1000 technical manual.

Function codes 03, 08 and 0x10 only (06 is refused), at most 16 registers a write.
0x0001 operation command (bit 0 forward, bit 1 reverse, bit 2 external fault, bit 3
fault reset on the rising edge), 0x0002 frequency reference in 0.01 Hz; 0x0020 status,
0x0021 fault contents as a BIT FIELD (bit 14 CE: MEMOBUS comm error), 0x0024 output
frequency. Parameters written read back at once but take effect only after an Enter
command (a write to 0x0900 or 0x0910) while H5-11 = 0.
"""

from __future__ import annotations

from collections.abc import Sequence

from treadctl.safety.types import Direction
from treadctl.sim.drives.base import DIAGNOSTICS, HOLDING_READ, WRITE_MULTIPLE, DriveSim
from treadctl.sim.world import BeltSim, CommLossResponse, StopMode

OPERATION, REFERENCE = 0x0001, 0x0002
COMMAND_END = 0x000F  # other command registers (gains, torque reference): stored
STATUS, FAULTS, LINK, REF_MONITOR, OUTPUT_HZ = 0x0020, 0x0021, 0x0022, 0x0023, 0x0024
MONITOR_END = 0x004F
ENTER_EEPROM, ENTER_RAM = 0x0900, 0x0910
CE_BIT, EF_BIT = 1 << 14, 1 << 6
B1_01, B1_02 = 0x0180, 0x0181
H5_01, H5_02, H5_03, H5_04, H5_05, H5_06 = 0x0425, 0x0426, 0x0427, 0x0428, 0x0429, 0x042A
H5_09, H5_11, O1_03 = 0x0435, 0x043C, 0x0502
FACTORY = {
    B1_01: 1, B1_02: 1, H5_01: 0x1F, H5_02: 3, H5_03: 0, H5_04: 3, H5_05: 1, H5_06: 5,
    H5_09: 20, H5_11: 0, O1_03: 0,
}  # fmt: skip
BAUD_CODES = {1200: 0, 2400: 1, 4800: 2, 9600: 3, 19200: 4, 38400: 5, 57600: 6, 76800: 7,
              115200: 8}  # fmt: skip
PARITY_CODES = {"N": 0, "E": 1, "O": 2}
CE_STOP = {0: StopMode.RAMP, 1: StopMode.COAST, 2: StopMode.FAST}


class YaskawaA1000(DriveSim):
    name = "yaskawa-a1000"
    functions = frozenset({HOLDING_READ, DIAGNOSTICS, WRITE_MULTIPLE})
    max_write = 16

    def __init__(self, belt: BeltSim, kmh_per_hz: float) -> None:
        super().__init__(belt, kmh_per_hz)
        self.params = dict(FACTORY)  # as they read back
        self.effective = dict(FACTORY)  # as the drive acts on them
        self.commands: dict[int, int] = dict.fromkeys(range(OPERATION, COMMAND_END + 1), 0)
        self.enters = 0
        self._apply()

    @property
    def operation(self) -> int:
        return self.commands[OPERATION]

    # -- parameters --------------------------------------------------------------------
    def _apply(self) -> None:
        e = self.effective
        self.belt.watchdog_s = e[H5_09] / 10 if e[H5_05] == 1 else 0.0

    def station(self, device_id: int) -> None:
        self.params[H5_01] = self.effective[H5_01] = device_id

    def serial_link(self, baudrate: int, parity: str) -> None:
        for a, value in ((H5_02, BAUD_CODES.get(baudrate, 3)), (H5_03, PARITY_CODES[parity])):
            self.params[a] = self.effective[a] = value

    def comm_loss(self) -> CommLossResponse | None:
        stop = CE_STOP.get(self.effective[H5_04])
        if stop is None:  # 3: alarm only, keeps running (shown as a warning, no fault bit)
            return CommLossResponse(StopMode.NONE, warning_code=CE_BIT)
        return CommLossResponse(stop, fault_code=CE_BIT)

    # -- registers ---------------------------------------------------------------------
    def _read_one(self, a: int) -> int | None:
        b = self.belt
        if a in self.params:
            return self.params[a]
        if a in self.commands:
            return self.commands[a]
        if a == STATUS:
            return self._status()
        if a == FAULTS:
            return b.fault_code & 0xFFFF
        if a == REF_MONITOR:
            return self.commands[REFERENCE]
        if a == OUTPUT_HZ:
            return round(self.hz(b.speed_kmh) * 100) & 0xFFFF
        if STATUS < a <= MONITOR_END:
            return 0  # data link status and the other monitors
        return None

    def _run_bits(self) -> tuple[bool, bool]:
        """(run, reverse) as the operation command asks (both run bits: stop)."""
        fwd, rev = bool(self.operation & 1), bool(self.operation & 2)
        return fwd != rev, rev and not fwd

    def _status(self) -> int:
        b = self.belt
        run, _ = self._run_bits()
        during_run = b.output_kmh > 0 or (run and b.powered and b.fault_code == 0)
        word = 1 if during_run else 0
        if b.direction is Direction.BACKWARD:
            word |= 1 << 1
        if b.ready:
            word |= 1 << 2
        if b.fault_code:
            word |= 1 << 3
        return word

    def drive_state(self) -> str:
        b = self.belt
        if not b.powered:
            return "no power (STO)"
        if b.fault_code:
            return "fault"
        if b.comm_lost:
            return "CE alarm, running on"
        return "during run" if self._status() & 1 else "ready"

    def write_registers(self, address: int, values: Sequence[int], now: float) -> bool:
        addresses = range(address, address + len(values))
        known = (ENTER_EEPROM, ENTER_RAM, *self.params, *self.commands)
        if any(a not in known for a in addresses):
            return False  # nothing of a bad write is taken
        touched = False
        for a, value in zip(addresses, values, strict=True):
            if a in (ENTER_EEPROM, ENTER_RAM):
                self.enter()
            elif a in self.params:
                self.params[a] = value
                if self.effective[H5_11] == 1:  # no Enter needed
                    self.effective[a] = value
                    self._apply()
            else:
                if a == OPERATION:
                    self._operation(value)
                self.commands[a] = value
                touched = True
        if touched:
            self._act(now)
        return True

    def enter(self) -> None:
        """The Enter command: the parameters written take effect."""
        self.enters += 1
        self.effective = dict(self.params)
        self._apply()

    def _operation(self, value: int) -> None:
        rising = value & ~self.operation
        b = self.belt
        if rising & 1 << 2 and b.fault_code == 0:
            b.trip(EF_BIT)
        if rising & 1 << 3 and not value & 0b11 and b.powered:
            b.reset_fault()  # only with no run bit set

    def _act(self, now: float) -> None:
        run, reverse = self._run_bits()
        self._command(run, reverse, self.commands[REFERENCE] / 100, False, now)
