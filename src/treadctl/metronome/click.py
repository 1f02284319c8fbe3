"""The click's samples: computed once, then only copied (the audio thread never computes).

A cosine burst under an exponential decay: its first sample is its loudest, so the onset
is the sample where the scheduler put it (the WAV tests find it there), and the last
tenth fades to zero so the click ends without a pop of its own.
"""

from __future__ import annotations

import math
import sys
from array import array

from treadctl.config.metronome import MetronomeConfig

FULL_SCALE = 32767  # int16
FADE_FRACTION = 0.1  # of the click's length, faded out linearly at its end
# (tone frequency Hz, decay time constant as a fraction of the click's length)
SOUNDS: dict[str, tuple[float, float]] = {"wood": (1800.0, 0.2), "beep": (1000.0, 0.5)}
BYTES_PER_FRAME = 2  # mono int16


def synthesize(config: MetronomeConfig) -> bytes:
    """The click as mono int16 little-endian samples at the configured rate and volume."""
    tone_hz, decay = SOUNDS[config.click]
    rate = config.sample_rate_hz
    n = max(1, round(config.click_ms / 1000.0 * rate))
    tau = decay * n
    fade_from = n - max(1, round(FADE_FRACTION * n))
    peak = config.volume * FULL_SCALE
    out = array("h")
    for i in range(n):
        env = math.exp(-i / tau)
        if i >= fade_from:
            env *= (n - i) / (n - fade_from + 1)
        out.append(round(peak * env * math.cos(2 * math.pi * tone_hz * i / rate)))
    if sys.byteorder != "little":
        out.byteswap()
    return out.tobytes()
