"""Clocks: the real monotonic one, and a virtual one that runs sessions fast."""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod


class Clock(ABC):
    @abstractmethod
    def now(self) -> float:
        """Seconds, monotonic."""

    @abstractmethod
    async def sleep_until(self, deadline: float) -> None:
        """Return at or after `deadline` on this clock."""

    @abstractmethod
    def wall_time(self) -> float:
        """Seconds since the epoch, for log timestamps."""

    @property
    def is_virtual(self) -> bool:
        return False


FINE_SLEEP_S = 0.0015  # the last stretch before a deadline, slept precisely (serve, run)


class MonotonicClock(Clock):
    """Wakes at the deadline, not up to a millisecond after it.

    asyncio waits in epoll, whose timeout is whole milliseconds rounded up: a plain
    `asyncio.sleep` wakes 0-1 ms late (the p50 lateness was 0.7 ms). The loop sleeps in
    asyncio until `fine_s` before the deadline, so other tasks run meanwhile, then
    sleeps the rest with `time.sleep` (nanosecond timer), holding the event loop for at
    most about `fine_s` plus epoll's millisecond. That suits one loop per process, as
    `treadctl serve` and `run` are; several loops sharing one event loop (tests, the MQTT
    load bench) keep the default 0: plain asyncio sleeps that hold nothing.
    """

    def __init__(self, fine_s: float = 0.0) -> None:
        self.fine_s = fine_s

    def now(self) -> float:
        return time.monotonic()

    async def sleep_until(self, deadline: float) -> None:
        delay = deadline - time.monotonic()
        await asyncio.sleep(delay - self.fine_s if delay > self.fine_s else 0)
        rest = deadline - time.monotonic()
        if rest > 0:
            time.sleep(rest)

    def wall_time(self) -> float:
        return time.time()


class VirtualClock(Clock):
    """Time advances only when the loop sleeps; it yields to other tasks now and then."""

    def __init__(
        self, start_s: float = 1000.0, wall_start: float | None = None, yield_every: int = 256
    ):
        self._now = start_s
        self._start = start_s
        self._wall_start = time.time() if wall_start is None else wall_start
        self._yield_every = yield_every
        self._until_yield = yield_every  # sleeps left before the next yield

    def now(self) -> float:
        return self._now

    async def sleep_until(self, deadline: float) -> None:
        # max(self._now, deadline) without its call (every cycle): time never runs backward
        self._now = deadline if deadline > self._now else self._now
        self._until_yield -= 1
        if self._until_yield == 0:
            self._until_yield = self._yield_every
            await asyncio.sleep(0)

    def wall_time(self) -> float:
        return self._wall_start + (self._now - self._start)

    @property
    def is_virtual(self) -> bool:
        return True
