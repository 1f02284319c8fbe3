"""Safety inputs and heart rate behind ABCs, as with drives."""

from __future__ import annotations

from abc import ABC, abstractmethod

from treadctl.safety.types import SafetyIO


class InputError(Exception):
    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class SafetyInputSource(ABC):
    """E-stop chain, safety key and handrail contacts. A failed read raises InputError."""

    name: str = "safety-inputs"

    async def open(self) -> None:  # noqa: B027 - optional for backends without a link
        """Open the link; raise InputError when it cannot be opened."""

    @abstractmethod
    async def read(self) -> SafetyIO: ...

    async def close(self) -> None:
        return None


class HeartRateSource(ABC):
    @abstractmethod
    async def read_bpm(self) -> float | None:
        """The latest beat rate, or None when there is no signal."""
