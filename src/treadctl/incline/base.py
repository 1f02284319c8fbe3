"""The incline actuator behind an ABC, as drives and safety inputs are.

The loop reads the position once a cycle and writes the rules' decision once a cycle;
a failed read or write raises InclineError and the rules see "no reading" (relays off,
a latched fault once the reading is older than `position_timeout_s`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


class InclineError(Exception):
    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


@dataclass(frozen=True, slots=True)
class InclineCommand:
    """One cycle's decision: relays (never both), or a position controller's target
    (None: hold where it stands)."""

    up: bool
    down: bool
    setpoint_pct: float | None

    @classmethod
    def halt(cls) -> InclineCommand:
        return cls(False, False, None)


class InclineActuator(ABC):
    name: str = "incline"

    async def open(self) -> None:  # noqa: B027 - optional for backends without a link
        """Open the link; raise InclineError when it cannot be opened."""

    @abstractmethod
    async def read_position_pct(self) -> float:
        """The measured incline in %; raises InclineError when there is no reading."""

    @abstractmethod
    async def write(self, command: InclineCommand) -> None:
        """Apply one cycle's decision; raises InclineError when it could not be sent."""

    async def close(self) -> None:
        return None
