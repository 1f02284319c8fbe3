"""A simulated walker's heart rate: a lagged first-order response to effort, with noise.

HR settles at rest + gain * speed with time constant tau: the usual first-order model of
the heart-rate response to a step in walking speed (tens of seconds). Noise is the
strap's beat-to-beat scatter. Backward walking costs more than forward at the same speed
(`backward_effort`, a factor on the speed).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field


@dataclass
class Walker:
    rest_bpm: float
    gain_bpm_per_kmh: float
    tau_s: float
    noise_bpm: float
    seed: int = 0
    backward_effort: float = 1.4
    hr_bpm: float = field(init=False)
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.hr_bpm = self.rest_bpm
        self.rng = random.Random(self.seed)

    def steady_bpm(self, speed_kmh: float, backward: bool = False) -> float:
        effort = speed_kmh * (self.backward_effort if backward else 1.0)
        return self.rest_bpm + self.gain_bpm_per_kmh * effort

    def step(self, speed_kmh: float, dt_s: float, backward: bool = False) -> float:
        """Advance dt_s at this belt speed; the strap's reading (with noise)."""
        goal = self.steady_bpm(speed_kmh, backward)
        self.hr_bpm += (goal - self.hr_bpm) * (1.0 - math.exp(-dt_s / self.tau_s))
        return self.hr_bpm + self.rng.gauss(0.0, self.noise_bpm)
