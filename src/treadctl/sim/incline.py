"""The simulated incline lift: a motor with up/down relays (or its own position controller),
a position sensor, limit switches, and the faults a real lift shows.

The limit switches cut travel at the machine's range whatever the relays say, as the
hardware ones do. Faults: `stalled` (relays on, nothing moves: a jammed screw, a blown
motor fuse), `sensor_stuck` (the reading freezes while the lift moves), `noise_pct`
(the reading jumps by up to that much), `runaway_pct_per_s` (the lift travels by itself:
a welded relay contact), `silent` (the sensor module stops answering).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

SUBSTEP_S = 0.01
NOISE_SEED = 23


@dataclass
class InclineSim:
    min_pct: float = 0.0
    max_pct: float = 25.0
    travel_pct_per_s: float = 1.0
    now_s: float = 0.0
    position_pct: float = 0.0  # true position
    up: bool = False  # relay outputs (the coils)
    down: bool = False
    target_pct: float | None = None  # a position controller's target (None: relays drive it)
    stalled: bool = False
    sensor_stuck: bool = False
    noise_pct: float = 0.0
    runaway_pct_per_s: float = 0.0
    silent: bool = False
    # A relay module's communication watchdog: no command for this long drops both relays
    # (and a position controller holds where it stands). 0: none, the relays stay as set.
    watchdog_s: float = 0.0
    last_command_s: float | None = None
    watchdog_trips: int = 0
    both_on_seen: int = 0  # substeps with both relays energised (must stay 0)
    relay_writes: int = 0
    _stuck_at: float | None = field(default=None, repr=False)
    _rng: random.Random = field(default_factory=lambda: random.Random(NOISE_SEED), repr=False)

    @property
    def at_lower_limit(self) -> bool:
        return self.position_pct <= self.min_pct

    @property
    def at_upper_limit(self) -> bool:
        return self.position_pct >= self.max_pct

    def set_relays(self, up: bool, down: bool) -> None:
        self.relay_writes += 1
        self.last_command_s = self.now_s
        self.up, self.down = up, down
        self.target_pct = None

    def set_target(self, target_pct: float) -> None:
        self.last_command_s = self.now_s
        self.target_pct = target_pct
        self.up = self.down = False

    def advance(self, now_s: float) -> None:
        while self.now_s < now_s:
            dt = min(SUBSTEP_S, now_s - self.now_s)
            self._substep(dt)
            self.now_s += dt

    def _substep(self, dt: float) -> None:
        if (
            self.watchdog_s > 0
            and self.last_command_s is not None
            and self.now_s - self.last_command_s > self.watchdog_s
            and (self.up or self.down or self.target_pct is not None)
        ):
            self.watchdog_trips += 1
            self.up = self.down = False
            self.target_pct = None
        if self.up and self.down:
            self.both_on_seen += 1  # a real motor would short its supply: no travel
        step = self.travel_pct_per_s * dt
        move = 0.0
        if self.target_pct is not None:
            err = self.target_pct - self.position_pct
            move = max(-step, min(step, err))
        elif self.up != self.down:
            move = step if self.up else -step
        if self.stalled:
            move = 0.0
        move += self.runaway_pct_per_s * dt
        self.position_pct = max(self.min_pct, min(self.max_pct, self.position_pct + move))

    def read_pct(self) -> float | None:
        """What the sensor reads now; None: it does not answer."""
        if self.silent:
            return None
        if self.sensor_stuck:
            if self._stuck_at is None:
                self._stuck_at = self.position_pct
            return self._stuck_at
        self._stuck_at = None
        if self.noise_pct > 0:
            return self.position_pct + self._rng.uniform(-self.noise_pct, self.noise_pct)
        return self.position_pct

    def apply(self, action: str, value: float) -> bool:
        """A fault injection by name; False for a name this lift does not know."""
        if action == "incline_stall":
            self.stalled = True
        elif action == "incline_unstall":
            self.stalled = False
        elif action == "incline_sensor_stuck":
            self.sensor_stuck = True
        elif action == "incline_sensor_free":
            self.sensor_stuck = False
        elif action == "incline_noise":
            self.noise_pct = max(0.0, value)
        elif action == "incline_runaway":
            self.runaway_pct_per_s = value
        elif action == "incline_silent":
            self.silent = True
        elif action == "incline_answer":
            self.silent = False
        elif action == "incline_set":
            self.position_pct = max(self.min_pct, min(self.max_pct, value))
        else:
            return False
        return True

    def status(self) -> dict[str, Any]:
        return {
            "incline_pct": round(self.position_pct, 4),
            "incline_up": self.up,
            "incline_down": self.down,
            "incline_target_pct": self.target_pct,
            "incline_both_on_seen": self.both_on_seen,
            "incline_at_limit": self.at_lower_limit or self.at_upper_limit,
        }


@dataclass(frozen=True)
class InclineSimMap:
    """Where the simulated lift sits on the bus: its own unit id, relays on coils, the
    potentiometer's counts in an input register, and a position controller's target and
    actual % (signed, `pct_per_count`) in holding registers. One device answers both
    styles; the machine file's actuator decides which the controller uses."""

    device_id: int = 3
    up_coil: int = 0
    down_coil: int = 1
    position_register: int = 0
    counts_at_min: int = 0
    counts_at_max: int = 10000
    target_register: int = 0
    actual_register: int = 1
    pct_per_count: float = 0.1


class InclineDevice:
    """The lift's Modbus face: what the simulator's server routes to its unit id. Every
    method returns None for an address the device does not have (illegal address)."""

    def __init__(self, lift: InclineSim, regs: InclineSimMap) -> None:
        self.lift = lift
        self.regs = regs
        self._written_coils: list[bool] = []

    def _counts(self, pct: float) -> int:
        r, lift = self.regs, self.lift
        frac = (pct - lift.min_pct) / (lift.max_pct - lift.min_pct)
        counts = round(r.counts_at_min + frac * (r.counts_at_max - r.counts_at_min))
        return max(0, min(0xFFFF, counts))

    def _int16(self, pct: float) -> int:
        return round(pct / self.regs.pct_per_count) % 0x10000

    def read_coils(self, address: int, count: int) -> list[bool] | None:
        coils = {self.regs.up_coil: self.lift.up, self.regs.down_coil: self.lift.down}
        if any(a not in coils for a in range(address, address + count)):
            return None
        return [coils[a] for a in range(address, address + count)]

    def written_coils(self) -> list[bool]:
        return list(self._written_coils)

    def write_coils(self, address: int, values: list[bool]) -> bool:
        r, lift = self.regs, self.lift
        addresses = range(address, address + len(values))
        if any(a not in (r.up_coil, r.down_coil) for a in addresses):
            return False
        up, down = lift.up, lift.down
        for a, v in zip(addresses, values, strict=True):
            if a == r.up_coil:
                up = v
            else:
                down = v
        self._written_coils = list(values)
        lift.set_relays(up, down)
        return True

    def read_input_registers(self, address: int, count: int) -> list[int] | None:
        if address != self.regs.position_register or count != 1:
            return None
        pct = self.lift.read_pct()
        return None if pct is None else [self._counts(pct)]

    def read_holding(self, address: int, count: int) -> list[int] | None:
        r, lift = self.regs, self.lift
        values: list[int] = []
        for a in range(address, address + count):
            if a == r.actual_register:
                pct = lift.read_pct()
                if pct is None:
                    return None
                values.append(self._int16(pct))
            elif a == r.target_register:
                target = lift.target_pct if lift.target_pct is not None else lift.position_pct
                values.append(self._int16(target))
            else:
                return None
        return values

    def write_holding(self, address: int, values: list[int]) -> bool:
        if address != self.regs.target_register or len(values) != 1:
            return False
        raw = values[0] - 0x10000 if values[0] > 0x7FFF else values[0]
        self.lift.set_target(raw * self.regs.pct_per_count)
        return True


__all__ = ["InclineDevice", "InclineSim", "InclineSimMap"]
