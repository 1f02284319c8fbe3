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
        self.up, self.down = up, down
        self.target_pct = None

    def set_target(self, target_pct: float) -> None:
        self.target_pct = target_pct
        self.up = self.down = False

    def advance(self, now_s: float) -> None:
        while self.now_s < now_s:
            dt = min(SUBSTEP_S, now_s - self.now_s)
            self._substep(dt)
            self.now_s += dt

    def _substep(self, dt: float) -> None:
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


__all__ = ["InclineSim"]
