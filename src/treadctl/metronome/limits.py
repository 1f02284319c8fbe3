"""The cadences the metronome accepts: those a profile may name (profile.py's bounds)."""

from __future__ import annotations

import math

CADENCE_MIN_SPM = 30.0
CADENCE_MAX_SPM = 200.0


def check_cadence(cadence_spm: object) -> float:
    """The cadence as a float, or ValueError: not a number, not finite, or out of range."""
    if isinstance(cadence_spm, bool) or not isinstance(cadence_spm, int | float):
        raise ValueError(f"cadence must be a number of steps per minute, not {cadence_spm!r}")
    spm = float(cadence_spm)
    if not math.isfinite(spm) or not CADENCE_MIN_SPM <= spm <= CADENCE_MAX_SPM:
        raise ValueError(
            f"cadence must be {CADENCE_MIN_SPM:g}-{CADENCE_MAX_SPM:g} steps/min, not {spm!r}"
        )
    return spm
