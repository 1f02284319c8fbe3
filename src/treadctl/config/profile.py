"""Profile file: the session protocol as blocks of segments."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from treadctl.config.machine import Strict


class SegmentKind(StrEnum):
    FORWARD = "forward"
    BACKWARD = "backward"
    REST = "rest"


class RailPolicy(StrEnum):
    HOLD_TO_RUN = "hold_to_run"
    UNTIL_CONFIDENT = "until_confident"
    ADVISORY = "advisory"


class SegmentSpec(Strict):
    name: str = ""
    direction: SegmentKind = Field(strict=False)
    duration_s: float | None = Field(default=None, gt=0, le=4 * 3600)
    duration_min: float | None = Field(default=None, gt=0, le=240)
    speed_kmh: float | None = Field(default=None, gt=0, le=25.0)
    speed_pct_comfortable: float | None = Field(default=None, gt=0, le=150.0)
    rail_policy: RailPolicy = Field(default=RailPolicy.ADVISORY, strict=False)

    @model_validator(mode="after")
    def _one_of_each(self) -> SegmentSpec:
        if (self.duration_s is None) == (self.duration_min is None):
            raise ValueError("give exactly one of duration_s or duration_min")
        speeds = (self.speed_kmh is not None) + (self.speed_pct_comfortable is not None)
        if self.direction is SegmentKind.REST:
            if speeds:
                raise ValueError("a rest segment has no speed")
        elif speeds != 1:
            raise ValueError("give exactly one of speed_kmh or speed_pct_comfortable")
        return self

    @property
    def seconds(self) -> float:
        if self.duration_s is not None:
            return self.duration_s
        assert self.duration_min is not None
        return self.duration_min * 60.0


class BlockSpec(Strict):
    name: str = ""
    repeats: int = Field(default=1, ge=1, le=100)
    segments: list[SegmentSpec] = Field(min_length=1)


class HeartRateRule(Strict):
    required: bool = False
    max_bpm: float | None = Field(default=None, gt=40, le=220)


class ProfileConfig(Strict):
    name: str = Field(min_length=1)
    description: str = ""
    source: str = ""
    heart_rate: HeartRateRule = HeartRateRule()
    blocks: list[BlockSpec] = Field(min_length=1)
