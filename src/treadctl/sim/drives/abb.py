"""ABB ACS355 with the ABB drives profile on its embedded fieldbus (Modbus), from the
ACS355 user manual's embedded fieldbus chapter.

40001 control word, 40002 REF1 (signed, 20000 = 1105 REF1 MAX), 40003 REF2, 40004 status
word, 40005 ACT1 and 40006 ACT2: the parameters 5310 and 5311 select, in their own units.
Parameter NNNN is register 4NNNN (PDU NNNN - 1). Comm loss per 3018 after 3019: 1 trips
28 (SERIAL 1 ERR) and coasts; 0, 2 and 3 keep running.
"""

from __future__ import annotations

from collections.abc import Sequence

from treadctl.safety.types import Direction
from treadctl.sim.drives.base import (
    HOLDING_READ,
    READ_WRITE,
    WRITE_MULTIPLE,
    WRITE_SINGLE,
    signed16,
    word16,
)
from treadctl.sim.drives.profidrive import Profidrive
from treadctl.sim.world import BeltSim, CommLossResponse, StopMode

CW, REF1, REF2, SW, ACT1, ACT2 = 0, 1, 2, 3, 4, 5
SERIAL_1_ERR = 28
LAST_FAULT = 401
RPM_PER_HZ = 30.0  # a 4-pole motor
FACTORY = {
    401: 0,  # 0401 LAST FAULT (the sim shows the active fault)
    1001: 2,  # EXT1 COMMANDS (10 = COMM)
    1003: 3,  # DIRECTION (1 FORWARD, 2 REVERSE, 3 REQUEST)
    1103: 1,  # REF1 SELECT (8 = COMM)
    1105: 500,  # REF1 MAX, 0.1 Hz
    3018: 0,  # COMM FAULT FUNC
    3019: 30,  # COMM FAULT TIME, 0.1 s
    5302: 1,  # EFB STATION ID
    5303: 96,  # EFB BAUD RATE, 0.1 kbit/s
    5304: 0,  # EFB PARITY (0 8N1, 1 8N2, 2 8E1, 3 8O1)
    5305: 0,  # EFB CTRL PROFILE
    5310: 103,  # EFB PAR 10: ACT1 source
    5311: 0,  # EFB PAR 11: ACT2 source
    5318: 0,  # EFB PAR 18: answer delay, ms
    9802: 1,  # COMM PROT SEL: it answers, so Modbus is selected
}
PARITY = {"N": 0, "E": 2, "O": 3}
SIGNALS = range(101, 200)  # group 01 OPERATING DATA: read-only


class AbbAcs355(Profidrive):
    name = "abb-acs355"
    functions = frozenset({HOLDING_READ, WRITE_SINGLE, WRITE_MULTIPLE, READ_WRITE})

    def __init__(self, belt: BeltSim, kmh_per_hz: float) -> None:
        super().__init__(belt, kmh_per_hz)
        self.belt.fault_stop = StopMode.COAST  # a trip cuts the output
        self.params = {n - 1: v for n, v in FACTORY.items()}  # by PDU address
        self.ref1 = self.ref2 = 0
        self._apply()

    def par(self, number: int) -> int:
        """Parameter NNNN (register 4NNNN, PDU NNNN - 1)."""
        return self.params[number - 1]

    def _apply(self) -> None:
        self.belt.watchdog_s = self.par(3019) / 10

    def station(self, device_id: int) -> None:
        self.params[5302 - 1] = device_id  # EFB STATION ID

    def serial_link(self, baudrate: int, parity: str) -> None:
        self.params[5303 - 1] = baudrate // 100
        self.params[5304 - 1] = PARITY.get(parity, 0)

    def comm_loss(self) -> CommLossResponse | None:
        if self.par(3018) == 1:
            return CommLossResponse(StopMode.COAST, fault_code=SERIAL_1_ERR)
        return None  # NOT SEL, CONST SP 7, LAST SPEED: the belt runs on

    def setpoint(self) -> tuple[float, bool]:
        ref = signed16(self.ref1)
        hz = abs(ref) / 20000 * self.par(1105) / 10
        direction = self.par(1003)
        if direction == 3 and ref == 0:
            # a zero reference has no sign: the drive keeps the direction it had
            return hz, self.belt.commanded_direction is Direction.BACKWARD
        reverse = direction == 2 or (direction == 3 and ref < 0)
        return hz, reverse

    def _signal(self, number: int) -> int:
        """A parameter's value (signed ones as 16-bit two's complement)."""
        b = self.belt
        hz = self.hz(b.speed_kmh)
        sign = -1 if b.direction is Direction.BACKWARD else 1
        if number == 101:
            return word16(sign * hz * RPM_PER_HZ)  # SPEED & DIR
        if number == 102:
            return word16(hz * RPM_PER_HZ)  # SPEED
        if number == 103:
            return word16(sign * hz * 10)  # OUTPUT FREQ, 0.1 Hz
        if number == LAST_FAULT:
            return b.fault_code & 0xFFFF
        return self.params.get(number - 1, 0)

    def _read_one(self, a: int) -> int | None:
        if a == CW:
            return self.word
        if a == REF1:
            return self.ref1
        if a == REF2:
            return self.ref2
        if a == SW:
            return self.status_bits()
        if a in (ACT1, ACT2):
            return self._signal(self.par(5310 if a == ACT1 else 5311))
        if a in self.params or a + 1 in SIGNALS:
            return self._signal(a + 1)
        return None

    def write_registers(self, address: int, values: Sequence[int], now: float) -> bool:
        for a in range(address, address + len(values)):
            if a > REF2 and (a not in self.params or a + 1 == LAST_FAULT):
                return False  # status, actual values and signals are read-only
        # One telegram acts as one: the new REF1 is in place before the control word acts.
        control: int | None = None
        for a, value in enumerate(values, address):
            if a == CW:
                control = value
            elif a == REF1:
                self.ref1 = value
            elif a == REF2:
                self.ref2 = value
            else:
                self.params[a] = value
                self._apply()
        if control is not None:
            self.control(control, now)
        elif address <= REF1 < address + len(values):
            self.reference_changed(now)
        return True
