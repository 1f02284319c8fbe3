"""The drive abstraction (python-can's BusABC is the model): one ABC, many backends."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from treadctl.safety.types import Direction, DriveStatus


class DriveError(Exception):
    """A failed or late drive transaction. Never answered with a stale value."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


@dataclass(frozen=True, slots=True)
class DriveCommand:
    run: bool
    direction: Direction
    speed_kmh: float
    quick_stop: bool = False


@dataclass(frozen=True, slots=True)
class WatchdogSetting:
    timeout_s: float
    action: str
    present: bool = True  # False: the machine file declares a drive with no watchdog


class Drive(ABC):
    """A motor drive. Every call either completes within its timeout or raises DriveError."""

    name: str = "drive"
    # False on a turn-round machine: no reverse command ever reaches this drive.
    reverse_allowed: bool = True

    def forward_only(self, command: DriveCommand) -> tuple[DriveCommand, bool]:
        """The command as it may go out, and whether it was a refused reverse run (sent as
        a stop instead: the loop never asks for one, so this is the last line only). A stop
        "backward" is a stop: it goes out forward, refused nothing."""
        if command.direction is Direction.FORWARD or self.reverse_allowed:
            return command, False
        return DriveCommand(False, Direction.FORWARD, 0.0, command.quick_stop), command.run

    def reverse_refused(self) -> DriveError:
        return DriveError(
            self.name, "reverse command refused: the walker turns round on this machine"
        )

    @abstractmethod
    async def connect(self, comm_loss_timeout_s: float) -> WatchdogSetting:
        """Open the link and arm the drive's own comm-loss watchdog; return it as read back."""

    @abstractmethod
    async def read_status(self) -> DriveStatus: ...

    @abstractmethod
    async def write_command(self, command: DriveCommand) -> None: ...

    @abstractmethod
    async def reset_fault(self) -> None:
        """Pulse the drive's fault reset. Sent only at standstill, on an operator's reset."""

    def describe_fault(self, code: int) -> str:
        """The drive's fault code in the words of its manual."""
        return f"fault code {code}"

    def describe_warning(self, code: int) -> str:
        return f"warning code {code}"

    def allow_reconnect(self, allowed: bool) -> None:  # noqa: B027 - links without state
        """The controller says whether the belt is stopped, so a lost link may reconnect."""

    @abstractmethod
    async def close(self) -> None: ...
