"""Unit conversions. Speeds are km/h inside the controller; SI only at the edges."""

from __future__ import annotations

KMH_PER_MPS = 3.6
KMH_PER_MPH = 1.609344


def mps2_to_kmh_per_s(accel_mps2: float) -> float:
    """Acceleration in m/s^2 as km/h gained per second."""
    return accel_mps2 * KMH_PER_MPS


def kmh_to_mph(speed_kmh: float) -> float:
    return speed_kmh / KMH_PER_MPH


def kmh_to_m_per_s(speed_kmh: float) -> float:
    return speed_kmh / KMH_PER_MPS
