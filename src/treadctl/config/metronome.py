"""The machine file's [metronome] section: whether the controller clicks, and how.

Off by default: a machine with no speaker near the walker must not try to open one.
Strict like every treadctl file (unknown field, wrong type, inf or nan refused).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# The longest click: shorter than the beat at the fastest cadence (200 steps/min: 300 ms),
# so two clicks never overlap.
MAX_CLICK_MS = 100.0


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class MetronomeConfig(Strict):
    """[metronome] in the machine file."""

    enabled: bool = False
    # A PortAudio output device: its name (or a unique part of it); None: the default output.
    device: str | None = Field(default=None, min_length=1, max_length=200)
    volume: float = Field(default=0.5, ge=0.0, le=1.0)  # of full scale
    click: Literal["wood", "beep"] = "wood"  # wood: short and bright; beep: a softer tone
    click_ms: float = Field(default=30.0, ge=5.0, le=MAX_CLICK_MS)
    sample_rate_hz: int = Field(default=48000, ge=8000, le=192000)
    # Frames per audio callback: larger is safer against underruns, the click's timing is
    # sample-exact either way (a constant output latency, no jitter from the block size).
    block_frames: int = Field(default=512, ge=64, le=8192)
    latency_s: float = Field(default=0.1, ge=0.005, le=1.0)  # the output's buffer, asked
