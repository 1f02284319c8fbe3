"""What every simulated drive is to the Modbus server: function codes, registers, state."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from treadctl.safety.types import Direction
from treadctl.sim.world import BeltSim, CommLossResponse, StopMode

HOLDING_READ, DIAGNOSTICS, WRITE_SINGLE, WRITE_MULTIPLE, READ_WRITE = 3, 8, 6, 16, 23


@dataclass
class StopTiming:
    """When a safety event happened in the simulator, and when the stop command arrived."""

    marked_at: float | None = None
    latencies_s: list[float] = field(default_factory=list)

    def mark(self, now: float) -> None:
        self.marked_at = now

    def stop_arrived(self, now: float) -> None:
        if self.marked_at is not None:
            self.latencies_s.append(now - self.marked_at)
            self.marked_at = None


class DriveSim(ABC):
    """A drive as seen through its registers.

    `read` answers None for an address the drive does not have (exception 02), `write`
    False. The server refuses, with exception 01, every function code `accepts` denies.
    """

    name = "drive"
    functions: frozenset[int] = frozenset({HOLDING_READ, WRITE_SINGLE, WRITE_MULTIPLE})
    max_write = 123  # registers per write (exception 03 beyond)

    def __init__(self, belt: BeltSim, kmh_per_hz: float) -> None:
        self.belt = belt
        self.kmh_per_hz = kmh_per_hz
        self.params: dict[int, int] = {}  # parameters as they read back
        self.word = 0  # the last command/control word written
        self.stop_timing = StopTiming()
        self.direction_changes: list[tuple[float, str, float]] = []
        self._last_direction = Direction.FORWARD
        self._was_running = False
        self._seen = (belt.fault_events, belt.power_losses)
        belt.comm_loss_action = self.comm_loss

    def accepts(self, func_code: int) -> bool:
        return func_code in self.functions

    def read(self, address: int, count: int) -> list[int] | None:
        """The registers from `address`, or None (illegal address) if any one is unknown."""
        self._sync()
        out = []
        for a in range(address, address + count):
            value = self._read_one(a)
            if value is None:
                return None
            out.append(value)
        return out

    def _sync(self) -> None:  # noqa: B027 - a hook: drives with a state machine catch up
        """Catch up with what happened in the world since the last telegram."""

    @abstractmethod
    def _read_one(self, a: int) -> int | None: ...

    def write(self, address: int, values: Sequence[int], func_code: int, now: float) -> bool:
        """A write the server let through (`func_code` is one the drive accepts)."""
        _ = func_code  # the same for every function code the drives here accept
        return self.write_registers(address, values, now)

    @abstractmethod
    def write_registers(self, address: int, values: Sequence[int], now: float) -> bool: ...

    @abstractmethod
    def comm_loss(self) -> CommLossResponse | None:
        """The drive's comm-loss action, from its parameters now (None: none at all)."""

    def comm_loss_stops(self) -> bool:
        """Whether the comm-loss action set now would stop the belt."""
        response = self.comm_loss()
        return response is not None and response.stop is not StopMode.NONE

    def watchdog_stop_s(self) -> float:
        """The comm-loss time-out in effect, if its action stops the belt (else 0)."""
        return self.belt.watchdog_s if self.comm_loss_stops() else 0.0

    def tick(self) -> None:
        """The world moved on (the server's ticker): notice trips and power cuts."""
        self._events()

    def telegram(self) -> None:
        """A telegram to this drive arrived (any good one feeds the comm-loss timer)."""
        self.belt.heard()

    def station(self, device_id: int) -> None:
        """Answers as this device: the station-address parameter says so."""
        _ = device_id

    def serial_link(self, baudrate: int, parity: str) -> None:
        """Served on RTU at this baud rate and parity: the serial parameters say so."""
        _ = baudrate, parity

    def fault_register_code(self) -> int:
        """The fault as the drive's fault register shows it."""
        return self.belt.fault_code

    @abstractmethod
    def drive_state(self) -> str:
        """A short text for the simulator's status: "operation", "fault", ..."""

    def status_extras(self) -> dict[str, object]:
        return {
            "drive": self.name,
            "drive_state": self.drive_state(),
            "comm_lost": self.belt.comm_lost,
            "warning_code": self.belt.warning_code,
        }

    def _events(self) -> tuple[bool, bool]:
        """(the drive tripped, its power was cut) since the last look: a state machine
        notices both even if no one read the drive in between."""
        seen = (self.belt.fault_events, self.belt.power_losses)
        tripped, cut = seen[0] != self._seen[0], seen[1] != self._seen[1]
        self._seen = seen
        return tripped, cut

    def hz(self, kmh: float) -> float:
        return kmh / self.kmh_per_hz

    def _command(self, run: bool, reverse: bool, hz: float, quick: bool, now: float) -> None:
        """A command telegram, as the drive acts on it."""
        direction = Direction.BACKWARD if reverse else Direction.FORWARD
        if run and direction is not self._last_direction:
            # every change of the commanded running direction, with the belt's speed then
            self.direction_changes.append((now, direction.value, round(self.belt.speed_kmh, 4)))
            self._last_direction = direction
        self.belt.command(run, direction, hz * self.kmh_per_hz, quick)
        if self._was_running and not run:
            self.stop_timing.stop_arrived(now)
        self._was_running = run


def signed16(value: int) -> int:
    return value - 0x10000 if value & 0x8000 else value


def word16(value: float) -> int:
    return round(value) & 0xFFFF
