"""Siemens SINAMICS V20 over Modbus RTU, from the V20 operating instructions' Modbus
register mapping.

40100 STW (control word, PROFIdrive; bit 11 inverts the setpoint), 40101 HSW (signed,
16384 = P2000 = 50 Hz), 40110 ZSW (status word; bit 14 = 1 while the motor runs right,
i.e. forward, and at standstill after forward), 40111 HIW (actual frequency, signed,
negative in reverse), 40400 fault number r0947[0]. 40001 watchdog time in ms (0: off),
40002 watchdog action: 0 none, 1 OFF1 ramp with fault F72, others F72 and OFF2 coast.
"""

from __future__ import annotations

from collections.abc import Sequence

from treadctl.safety.types import Direction
from treadctl.sim.drives.base import HOLDING_READ, WRITE_MULTIPLE, WRITE_SINGLE, signed16, word16
from treadctl.sim.drives.profidrive import Profidrive
from treadctl.sim.world import BeltSim, CommLossResponse, StopMode

WATCHDOG_MS, WATCHDOG_ACTION = 0, 1
STW, HSW, ZSW, HIW = 99, 100, 109, 110
PROCESS_END = 110  # 40100..40111: the other process data words read 0
FAULTS, FAULTS_END = 399, 406  # r0947[0..7]
F72 = 72  # telegram off: comm loss
P2000_HZ = 50.0  # reference frequency, factory
FULL_SCALE = 16384
INVERT = 1 << 11
RIGHT = 1 << 14


class SiemensV20(Profidrive):
    name = "siemens-v20"
    functions = frozenset({HOLDING_READ, WRITE_SINGLE, WRITE_MULTIPLE})

    def __init__(self, belt: BeltSim, kmh_per_hz: float) -> None:
        super().__init__(belt, kmh_per_hz)
        self.belt.fault_stop = StopMode.COAST  # a trip cuts the output
        self.params = {WATCHDOG_MS: 0, WATCHDOG_ACTION: 0}
        self.hsw = 0
        self._apply()

    def _apply(self) -> None:
        self.belt.watchdog_s = self.params[WATCHDOG_MS] / 1000

    def comm_loss(self) -> CommLossResponse | None:
        action = self.params[WATCHDOG_ACTION]
        if action == 0:
            return None
        stop = StopMode.RAMP if action == 1 else StopMode.COAST
        return CommLossResponse(stop, fault_code=F72)

    def setpoint(self) -> tuple[float, bool]:
        ref = signed16(self.hsw)
        # bit 11 inverts the setpoint: with a zero setpoint it still says "reverse"
        reverse = (ref < 0) != bool(self.word & INVERT)
        return abs(ref) * P2000_HZ / FULL_SCALE, reverse

    def _read_one(self, a: int) -> int | None:
        b = self.belt
        if a in self.params:
            return self.params[a]
        if a == STW:
            return self.word
        if a == HSW:
            return self.hsw
        if a == ZSW:
            right = RIGHT if b.direction is Direction.FORWARD else 0
            return self.status_bits() | right
        if a == HIW:
            sign = -1 if b.direction is Direction.BACKWARD else 1
            return word16(sign * self.hz(b.speed_kmh) * FULL_SCALE / P2000_HZ)
        if STW < a <= PROCESS_END:
            return 0
        if a == FAULTS:
            return b.fault_code & 0xFFFF
        if FAULTS < a <= FAULTS_END:
            return 0
        return None

    def write_registers(self, address: int, values: Sequence[int], now: float) -> bool:
        if any(a not in (*self.params, STW, HSW) for a in range(address, address + len(values))):
            return False
        # One telegram acts as one: the new HSW is in place before the control word acts.
        control: int | None = None
        for a, value in enumerate(values, address):
            if a == STW:
                control = value
            elif a == HSW:
                self.hsw = value
            else:
                self.params[a] = value
                self._apply()
        if control is not None:
            self.control(control, now)
        elif address <= HSW < address + len(values):
            self.reference_changed(now)
        return True
