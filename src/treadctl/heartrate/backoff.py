"""Reconnect delays that grow after each failure and start over after a success."""

from __future__ import annotations

from treadctl.config.heartrate import BackoffConfig


class Backoff:
    def __init__(self, config: BackoffConfig) -> None:
        self.config = config
        self._next_s = config.initial_s

    def next_s(self) -> float:
        """The delay before the next attempt; each call lengthens the one after."""
        delay = self._next_s
        self._next_s = min(self._next_s * self.config.factor, self.config.max_s)
        return delay

    def reset(self) -> None:
        self._next_s = self.config.initial_s
