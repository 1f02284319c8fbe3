"""Belt speed per motor frequency: measured, and from the mechanics for comparison.

Measured: run the belt at a fixed drive frequency (the drive's keypad in local mode,
nobody on the belt), time N passes of a mark on the belt, and measure the belt's length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Calibration:
    kmh_per_hz: float
    belt_kmh: float

    def lines(self, hz: float) -> list[str]:
        return [
            f"belt speed at {hz:g} Hz: {self.belt_kmh:.3f} km/h",
            f"kmh_per_hz = {self.kmh_per_hz:.5f}   # put this in the machine file, [drive]",
        ]


def from_measurement(
    hz: float, revolutions: int, seconds: float, belt_length_m: float
) -> Calibration:
    if hz <= 0 or revolutions <= 0 or seconds <= 0 or belt_length_m <= 0:
        raise ValueError("frequency, revolutions, seconds and belt length must all be positive")
    belt_kmh = revolutions * belt_length_m / seconds * 3.6
    return Calibration(belt_kmh / hz, belt_kmh)


def from_mechanics(roller_diameter_mm: float, gear_ratio: float, motor_poles: int) -> float:
    """km/h per Hz from the drive roller, the motor-to-roller ratio and the motor's poles
    (synchronous speed; an induction motor slips a few per cent, so measure)."""
    if roller_diameter_mm <= 0 or gear_ratio <= 0 or motor_poles <= 0 or motor_poles % 2:
        raise ValueError("roller diameter and ratio must be positive, poles a positive even number")
    motor_rev_per_s_per_hz = 2 / motor_poles
    roller_m_per_rev = math.pi * roller_diameter_mm / 1000
    return motor_rev_per_s_per_hz / gear_ratio * roller_m_per_rev * 3.6
