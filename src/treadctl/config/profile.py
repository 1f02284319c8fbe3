"""Profile file: the session protocol as blocks of segments.

What one file can check is checked here (shapes, ranges, rules between fields of the
profile itself); what needs the machine or the patient (caps, incline range, ramp
limits, percentages of the comfortable speed) is checked in `protocol.plan.build_plan`.
See docs/profiles.md for the format.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum

from pydantic import Field, model_validator

from treadctl.config.errors import FieldError
from treadctl.config.machine import Strict

# h/p/cosmos: a safety arch with chest harness "for high-risk patients and from about
# 5 % incline" (domain notes section 1). "From about": at or above this grade.
HARNESS_INCLINE_PCT = 5.0
# Backward targets above this are backward running: they need `athlete_opt_in` in the
# profile and in the patient file (treadctl's line; no source gives one).
BACKWARD_WALKING_MAX_KMH = 5.0
# A heart-rate zone's bounds and its narrowest width (below it a strap's beat-to-beat
# noise crosses the whole zone and the speed would hunt up and down).
HR_ZONE_MIN_BPM = 50.0
HR_ZONE_MAX_BPM = 200.0
HR_ZONE_MIN_WIDTH_BPM = 8.0


class SegmentKind(StrEnum):
    FORWARD = "forward"
    BACKWARD = "backward"
    REST = "rest"


class RailPolicy(StrEnum):
    HOLD_TO_RUN = "hold_to_run"
    UNTIL_CONFIDENT = "until_confident"
    ADVISORY = "advisory"


class Supervision(StrEnum):
    """Whether a watching operator console is part of the session's safety."""

    REQUIRED = "required"  # the belt stops when the supervising dashboard stops answering
    NONE = "none"  # an operator at the belt's own stop suffices (research set-ups)


class BlockRole(StrEnum):
    WARM_UP = "warm_up"
    MAIN = "main"
    COOL_DOWN = "cool_down"


class ProfileMode(StrEnum):
    TRAINING = "training"
    FORWARD_ONLY = "forward_only"  # exercise tests: no backward segment, ever


class RampOverride(Strict):
    """A gentler ramp for one segment; each value must not exceed the machine's."""

    accel_mps2: float | None = Field(default=None, gt=0, le=2.0)
    decel_mps2: float | None = Field(default=None, gt=0, le=2.0)
    jerk_mps3: float | None = Field(default=None, gt=0, le=10.0)

    @model_validator(mode="after")
    def _something(self) -> RampOverride:
        if self.accel_mps2 is None and self.decel_mps2 is None and self.jerk_mps3 is None:
            raise ValueError("give at least one of accel_mps2, decel_mps2, jerk_mps3")
        return self


class HrZoneSpec(Strict):
    """A heart-rate zone instead of a speed: the belt starts at `start_kmh`, then steps
    up by `up_step_kmh` below `low_bpm` and down by `down_step_kmh` (the larger step) above
    `high_bpm`, at most one step per `step_interval_s`, within [min_kmh, max_kmh]. Above
    the zone for `above_zone_stop_s` in spite of the steps down: a controlled stop."""

    low_bpm: float = Field(ge=HR_ZONE_MIN_BPM, le=HR_ZONE_MAX_BPM)
    high_bpm: float = Field(ge=HR_ZONE_MIN_BPM, le=HR_ZONE_MAX_BPM)
    start_kmh: float = Field(gt=0, le=25.0)
    max_kmh: float = Field(gt=0, le=25.0)
    min_kmh: float = Field(default=0.5, gt=0, le=25.0)
    up_step_kmh: float = Field(default=0.1, gt=0, le=0.5)
    down_step_kmh: float = Field(default=0.3, gt=0, le=1.0)
    step_interval_s: float = Field(default=15.0, ge=2.0, le=300.0)
    above_zone_stop_s: float = Field(default=60.0, ge=5.0, le=600.0)

    @model_validator(mode="after")
    def _order(self) -> HrZoneSpec:
        if self.high_bpm - self.low_bpm < HR_ZONE_MIN_WIDTH_BPM:
            raise FieldError(
                "high_bpm",
                f"a zone from {self.low_bpm:g} to {self.high_bpm:g} bpm is narrower than "
                f"{HR_ZONE_MIN_WIDTH_BPM:g} bpm: the speed would hunt",
            )
        if not self.min_kmh <= self.start_kmh <= self.max_kmh:
            raise FieldError(
                "start_kmh",
                f"{self.start_kmh:g} km/h is outside min_kmh..max_kmh "
                f"({self.min_kmh:g}..{self.max_kmh:g} km/h)",
            )
        if self.down_step_kmh < self.up_step_kmh:
            raise FieldError(
                "down_step_kmh",
                f"{self.down_step_kmh:g} km/h is smaller than up_step_kmh "
                f"{self.up_step_kmh:g} km/h: steps down are the larger ones",
            )
        return self


class SegmentSpec(Strict):
    name: str = ""
    direction: SegmentKind = Field(strict=False)
    duration_s: float | None = Field(default=None, gt=0, le=4 * 3600)
    duration_min: float | None = Field(default=None, gt=0, le=240)
    speed_kmh: float | None = Field(default=None, gt=0, le=25.0)
    speed_pct_comfortable: float | None = Field(default=None, gt=0, le=150.0)
    rail_policy: RailPolicy = Field(default=RailPolicy.ADVISORY, strict=False)
    incline_pct: float | None = Field(default=None, ge=-25.0, le=40.0)
    cadence_spm: float | None = Field(default=None, ge=30.0, le=200.0)  # metronome cue
    ramp: RampOverride | None = None
    progress: bool = False  # this segment's target (and length) follow [progression]
    hr_zone: HrZoneSpec | None = None  # the speed follows a heart-rate zone instead

    @model_validator(mode="after")
    def _one_of_each(self) -> SegmentSpec:
        if (self.duration_s is None) == (self.duration_min is None):
            raise ValueError("give exactly one of duration_s or duration_min")
        speeds = (self.speed_kmh is not None) + (self.speed_pct_comfortable is not None)
        if self.direction is SegmentKind.REST:
            if speeds:
                raise ValueError("a rest segment has no speed")
            for field, what in (
                ("incline_pct", "incline (it stands level)"),
                ("cadence_spm", "metronome cadence"),
                ("ramp", "ramp"),
                ("hr_zone", "heart-rate zone"),
            ):
                if getattr(self, field) is not None:
                    raise FieldError(field, f"a rest segment has no {what}")
        elif self.hr_zone is not None:
            if speeds:
                raise FieldError(
                    "hr_zone",
                    "a heart-rate zone sets the speed: give no speed_kmh or "
                    "speed_pct_comfortable (the start speed is hr_zone.start_kmh)",
                )
            if self.progress:
                raise FieldError("progress", "a heart-rate zone segment does not progress")
        elif speeds != 1:
            raise ValueError("give exactly one of speed_kmh or speed_pct_comfortable")
        if self.progress and self.direction is not SegmentKind.BACKWARD:
            raise FieldError("progress", "only backward segments progress")
        return self

    @property
    def seconds(self) -> float:
        if self.duration_s is not None:
            return self.duration_s
        assert self.duration_min is not None
        return self.duration_min * 60.0

    @property
    def speed_field(self) -> str:
        if self.hr_zone is not None:
            return "hr_zone.start_kmh"
        return "speed_kmh" if self.speed_kmh is not None else "speed_pct_comfortable"

    @property
    def duration_field(self) -> str:
        return "duration_s" if self.duration_s is not None else "duration_min"


class BlockSpec(Strict):
    name: str = ""
    role: BlockRole = Field(default=BlockRole.MAIN, strict=False)
    repeats: int = Field(default=1, ge=1, le=100)
    segments: list[SegmentSpec] = Field(min_length=1)


class HeartRateRule(Strict):
    required: bool = False
    max_bpm: float | None = Field(default=None, gt=40, le=220)


class Schedule(Strict):
    sessions_per_week: int = Field(ge=1, le=14)
    weeks: int | None = Field(default=None, ge=1, le=104)  # None: open-ended

    @property
    def total_sessions(self) -> int | None:
        return None if self.weeks is None else self.sessions_per_week * self.weeks


class ProgressionRules(Strict):
    """How the backward target (and bout length) move from session to session.

    After a completed session with no safety stop, with rail contact below
    `rail_contact_below_pct` of backward time (if stated) and an RPE at or below
    `rpe_at_most` (if stated), for `after_sessions` sessions in a row at the same target:
    lengthen the progressing bouts by `bout_step_s` up to `bout_cap_s` (if stated), and
    once they are at their cap raise the target by `step_kmh` up to the cap. Hold after
    an incomplete session; step back by `step_back_kmh` (and one bout step) after a
    safety stop, never below the profile's own target and length.
    """

    step_kmh: float = Field(gt=0, le=0.5)
    cap_kmh: float | None = Field(default=None, gt=0, le=12.0)
    cap_pct_comfortable: float | None = Field(default=None, gt=0, lt=100.0)
    step_back_kmh: float | None = Field(default=None, gt=0, le=1.0)  # None: step_kmh
    after_sessions: int = Field(default=1, ge=1, le=12)
    rail_contact_below_pct: float | None = Field(default=None, gt=0, le=100.0)
    rpe_at_most: float | None = Field(default=None, ge=0, le=20)  # the clinic's RPE scale
    bout_step_s: float | None = Field(default=None, gt=0, le=600)
    bout_cap_s: float | None = Field(default=None, gt=0, le=3600)

    @model_validator(mode="after")
    def _pairs(self) -> ProgressionRules:
        if (self.cap_kmh is None) == (self.cap_pct_comfortable is None):
            raise ValueError("give exactly one of cap_kmh or cap_pct_comfortable")
        if (self.bout_step_s is None) != (self.bout_cap_s is None):
            raise ValueError("give both bout_step_s and bout_cap_s, or neither")
        return self

    @property
    def cap_field(self) -> str:
        return "cap_kmh" if self.cap_kmh is not None else "cap_pct_comfortable"


SegmentRef = tuple[str, BlockSpec, SegmentSpec]  # field path, block, segment


class ProfileConfig(Strict):
    name: str = Field(min_length=1)
    description: str = ""
    source: str = ""
    mode: ProfileMode = Field(default=ProfileMode.TRAINING, strict=False)
    athlete_opt_in: bool = False  # backward running: higher targets, the patient opts in too
    requires_harness: bool | None = None  # None: required at or above 5 % incline
    supervision: Supervision = Field(default=Supervision.REQUIRED, strict=False)
    heart_rate: HeartRateRule = HeartRateRule()
    schedule: Schedule | None = None
    progression: ProgressionRules | None = None
    blocks: list[BlockSpec] = Field(min_length=1)

    def walk(self) -> Iterator[SegmentRef]:
        """Every segment as written (repeats not expanded), with its field path."""
        for b, block in enumerate(self.blocks):
            for s, spec in enumerate(block.segments):
                yield f"blocks[{b}].segments[{s}]", block, spec

    @property
    def max_incline_pct(self) -> float:
        return max((spec.incline_pct or 0.0 for _, _, spec in self.walk()), default=0.0)

    @property
    def harness_required(self) -> bool:
        return bool(self.requires_harness) or self.max_incline_pct >= HARNESS_INCLINE_PCT

    @model_validator(mode="after")
    def _rules(self) -> ProfileConfig:
        self._check_roles()
        if self.mode is ProfileMode.FORWARD_ONLY:
            for path, _, spec in self.walk():
                if spec.direction is SegmentKind.BACKWARD:
                    raise FieldError(
                        f"{path}.direction",
                        "a forward_only profile (exercise test) has no backward segment",
                    )
            if self.progression is not None:
                raise FieldError("progression", "a forward_only profile does not progress")
        if self.requires_harness is False:
            for path, _, spec in self.walk():
                if (spec.incline_pct or 0.0) >= HARNESS_INCLINE_PCT:
                    raise FieldError(
                        "requires_harness",
                        f"cannot be false: {path}.incline_pct is {spec.incline_pct:g} % "
                        f"(a harness is required from {HARNESS_INCLINE_PCT:g} % incline)",
                    )
        self._check_progression()
        return self

    def _check_roles(self) -> None:
        seen_other = seen_cool_down = False
        for b, block in enumerate(self.blocks):
            if block.role is BlockRole.WARM_UP and (seen_other or seen_cool_down):
                raise FieldError(f"blocks[{b}].role", "a warm-up block comes before the others")
            if block.role is not BlockRole.COOL_DOWN and seen_cool_down:
                raise FieldError(
                    f"blocks[{b}].role", "only cool-down blocks may follow a cool-down block"
                )
            seen_other = seen_other or block.role is BlockRole.MAIN
            seen_cool_down = seen_cool_down or block.role is BlockRole.COOL_DOWN

    def _check_progression(self) -> None:
        rules = self.progression
        progressing = [(path, spec) for path, _, spec in self.walk() if spec.progress]
        if rules is None:
            if progressing:
                path, _ = progressing[0]
                raise FieldError(f"{path}.progress", "the profile has no [progression] section")
            return
        if not progressing:
            raise FieldError("progression", "no segment has progress = true")
        first_path, first = progressing[0]
        for path, spec in progressing[1:]:
            if (spec.speed_kmh, spec.speed_pct_comfortable) != (
                first.speed_kmh,
                first.speed_pct_comfortable,
            ):
                raise FieldError(
                    f"{path}.{spec.speed_field}",
                    f"progressing segments share one target: {first_path} has "
                    f"{first.speed_field} = {_num(first)}",
                )
            if rules.bout_step_s is not None and spec.seconds != first.seconds:
                raise FieldError(
                    f"{path}.{spec.duration_field}",
                    f"progressing bouts share one length: {first_path} lasts {first.seconds:g} s",
                )
        if rules.bout_cap_s is not None and rules.bout_cap_s < first.seconds:
            raise FieldError(
                "progression.bout_cap_s",
                f"{rules.bout_cap_s:g} s is shorter than the bouts ({first.seconds:g} s)",
            )


def _num(spec: SegmentSpec) -> str:
    value = spec.speed_kmh if spec.speed_kmh is not None else spec.speed_pct_comfortable
    return f"{value:g}"
