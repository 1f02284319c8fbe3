"""A profile resolved against the machine and the patient: concrete segments in km/h.

Cross-file rules live here because no single file can check them: a backward
target must be slower than the patient's comfortable forward pace and inside
every cap, the first backward speed must not exceed the reverse start cap, an
incline must lie in the machine's range, a ramp override must not exceed the
machine's ramp for that direction, and backward running needs both opt-ins.
The progression's cap is held to the same rules as a target, so no prescription
within it can make a plan that would be refused. Every problem is reported, each
with the file, the field path and the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from treadctl.config.errors import ConfigError, ConfigProblem
from treadctl.config.machine import MachineConfig, RampLimits
from treadctl.config.patient import PatientConfig
from treadctl.config.profile import (
    BACKWARD_WALKING_MAX_KMH,
    HARNESS_INCLINE_PCT,
    BlockRole,
    ProfileConfig,
    ProfileMode,
    RailPolicy,
    Schedule,
    SegmentKind,
    SegmentSpec,
)
from treadctl.protocol.progression import (
    Prescription,
    ProgressionParams,
    SessionResult,
    next_prescription,
)
from treadctl.units import KMH_PER_MPS


@dataclass(frozen=True, slots=True)
class HrZone:
    """A heart-rate-target segment's zone and the bounds of its speed controller."""

    low_bpm: float
    high_bpm: float
    start_kmh: float
    max_kmh: float
    min_kmh: float
    up_step_kmh: float
    down_step_kmh: float
    step_interval_s: float
    above_zone_stop_s: float


@dataclass(frozen=True, slots=True)
class PlannedSegment:
    index: int
    block: str
    name: str
    kind: SegmentKind
    duration_s: float
    target_kmh: float  # 0 for rest
    rail_policy: RailPolicy
    incline_pct: float = 0.0  # 0: level (also every rest segment)
    cadence_spm: float | None = None  # metronome cue, steps per minute; None: no cue
    ramp: RampLimits | None = None  # this segment's ramp (machine's with the overrides)
    role: BlockRole = BlockRole.MAIN
    progress: bool = False  # target and length set by the progression
    hr_zone: HrZone | None = None  # the speed follows a heart-rate zone from target_kmh

    @property
    def label(self) -> str:
        name = self.name or self.kind.value
        return f"{self.block}/{name}" if self.block else name


@dataclass(frozen=True, slots=True)
class PreStartCheck:
    """One item the operator confirms before the first start."""

    key: str  # stable: key, facing, rails, harness, heart_rate, forward_only, athlete, metronome
    text: str


@dataclass(frozen=True)
class Plan:
    profile: ProfileConfig
    segments: tuple[PlannedSegment, ...]
    pre_start_checks: tuple[PreStartCheck, ...] = ()
    requires_harness: bool = False
    progression: ProgressionParams | None = None  # None: the profile does not progress
    prescription: Prescription | None = None  # what set the progressing segments, if given

    @property
    def total_s(self) -> float:
        return sum(s.duration_s for s in self.segments)

    def seconds_by_kind(self, kind: SegmentKind) -> float:
        return sum(s.duration_s for s in self.segments if s.kind is kind)

    @property
    def schedule(self) -> Schedule | None:
        return self.profile.schedule

    @property
    def forward_only(self) -> bool:
        return self.profile.mode is ProfileMode.FORWARD_ONLY


class _Checker:
    """Collects problems for one profile file."""

    def __init__(
        self,
        src: str,
        machine: MachineConfig,
        patient: PatientConfig | None,
        profile: ProfileConfig,
    ) -> None:
        self.src = src
        self.machine = machine
        self.patient = patient
        self.profile = profile
        self.problems: list[ConfigProblem] = []

    def add(self, field: str, reason: str) -> None:
        self.problems.append(ConfigProblem(self.src, field, reason))

    def resolve(self, field: str, kmh: float | None, pct: float | None) -> float | None:
        if kmh is not None:
            return kmh
        if pct is None:
            return 0.0
        if self.patient is None:
            self.add(field, "needs a patient file (--patient)")
            return None
        return round(self.patient.comfortable_forward_kmh * pct / 100, 2)

    def speed(self, field: str, kind: SegmentKind, target: float, first_backward: bool) -> None:
        limits, patient = self.machine.limits, self.patient
        if kind is SegmentKind.FORWARD:
            cap = limits.max_forward_kmh
            if target > cap:
                self.add(field, f"{target} km/h is above the machine's forward maximum {cap} km/h")
            if patient and patient.max_forward_kmh and target > patient.max_forward_kmh:
                self.add(
                    field,
                    f"{target} km/h is above the patient's forward "
                    f"cap {patient.max_forward_kmh} km/h",
                )
            return
        if kind is not SegmentKind.BACKWARD:
            return
        cap = limits.max_backward_kmh
        if target > cap:
            self.add(field, f"{target} km/h is above the machine's backward maximum {cap} km/h")
        if patient and patient.max_backward_kmh and target > patient.max_backward_kmh:
            self.add(
                field,
                f"{target} km/h is above the patient's backward "
                f"cap {patient.max_backward_kmh} km/h",
            )
        if patient and target >= patient.comfortable_forward_kmh:
            self.add(
                field,
                f"backward target {target} km/h is not slower than the patient's comfortable "
                f"forward speed {patient.comfortable_forward_kmh} km/h",
            )
        if first_backward and target > limits.reverse_start_cap_kmh:
            self.add(
                field,
                f"first backward speed {target} km/h exceeds "
                f"the reverse start cap {limits.reverse_start_cap_kmh} km/h",
            )
        if BACKWARD_WALKING_MAX_KMH < target <= cap and not self.profile.athlete_opt_in:
            # Above the machine's maximum the target is refused already. With the profile's
            # opt-in given, a patient without one is refused once, at the profile's
            # athlete_opt_in (see build_plan).
            where = "in the profile"
            if patient is None or not patient.athlete_opt_in:
                where += " and in the patient file"
            self.add(
                field,
                f"backward {target} km/h is running pace (above {BACKWARD_WALKING_MAX_KMH:g} "
                f"km/h): needs athlete_opt_in = true {where}",
            )

    def incline(self, field: str, pct: float) -> None:
        rng = self.machine.incline
        if rng is None:
            self.add(field, "the machine file declares no incline ([incline] min_pct/max_pct)")
        elif not rng.min_pct <= pct <= rng.max_pct:
            self.add(
                field,
                f"{pct:g} % is outside the machine's incline range "
                f"{rng.min_pct:g} to {rng.max_pct:g} %",
            )

    def zone(self, field: str, spec: SegmentSpec, first_backward: bool) -> HrZone | None:
        """A heart-rate zone: a sensor on the machine, the zone below the profile's limit,
        start and top speeds inside every cap, and each step done by the ramp in time."""
        ctl = spec.hr_zone
        if ctl is None:
            return None
        before = len(self.problems)
        if not self.machine.heart_rate.present:
            self.add(
                f"{field}.hr_zone",
                "the machine file has no heart-rate sensor: a heart-rate zone needs one",
            )
        limit = self.profile.heart_rate.max_bpm
        if limit is not None and ctl.high_bpm >= limit:
            self.add(
                f"{field}.hr_zone.high_bpm",
                f"the zone's top {ctl.high_bpm:g} bpm is not below the profile's limit "
                f"heart_rate.max_bpm = {limit:g} bpm",
            )
        self.speed(f"{field}.hr_zone.start_kmh", spec.direction, ctl.start_kmh, first_backward)
        self.speed(f"{field}.hr_zone.max_kmh", spec.direction, ctl.max_kmh, False)
        backward = spec.direction is SegmentKind.BACKWARD
        ramp = self.machine.limits.backward if backward else self.machine.limits.forward
        accel = spec.ramp.accel_mps2 if spec.ramp and spec.ramp.accel_mps2 else ramp.accel_mps2
        decel = spec.ramp.decel_mps2 if spec.ramp and spec.ramp.decel_mps2 else ramp.decel_mps2
        for name, step, rate in (
            ("up_step_kmh", ctl.up_step_kmh, accel),
            ("down_step_kmh", ctl.down_step_kmh, decel),
        ):
            ramp_s = step / KMH_PER_MPS / rate
            if ramp_s > ctl.step_interval_s:
                self.add(
                    f"{field}.hr_zone.{name}",
                    f"a {step:g} km/h step takes {ramp_s:.1f} s at the segment's ramp, longer "
                    f"than step_interval_s = {ctl.step_interval_s:g} s",
                )
        if len(self.problems) > before:
            return None
        return HrZone(
            ctl.low_bpm,
            ctl.high_bpm,
            ctl.start_kmh,
            ctl.max_kmh,
            ctl.min_kmh,
            ctl.up_step_kmh,
            ctl.down_step_kmh,
            ctl.step_interval_s,
            ctl.above_zone_stop_s,
        )

    def ramp(self, field: str, spec: SegmentSpec) -> RampLimits | None:
        if spec.ramp is None:
            return None
        backward = spec.direction is SegmentKind.BACKWARD
        machine = self.machine.limits.backward if backward else self.machine.limits.forward
        which = "backward" if backward else "forward"
        values = {}
        for name, unit in (("accel_mps2", "m/s²"), ("decel_mps2", "m/s²"), ("jerk_mps3", "m/s³")):
            wanted: float | None = getattr(spec.ramp, name)
            limit: float = getattr(machine, name)
            if wanted is None:
                values[name] = limit
            elif wanted > limit:
                self.add(
                    f"{field}.ramp.{name}",
                    f"{wanted:g} {unit} is above the machine's {which} limit {limit:g} {unit}",
                )
                values[name] = limit
            else:
                values[name] = wanted
        return RampLimits(**values)


def _own_target(spec: SegmentSpec, patient: PatientConfig | None) -> float | None:
    if spec.speed_kmh is not None:
        return spec.speed_kmh
    if spec.speed_pct_comfortable is None or patient is None:
        return None
    return round(patient.comfortable_forward_kmh * spec.speed_pct_comfortable / 100, 2)


def _progression_params(
    chk: _Checker,
    first_backward_path: str | None,
    progressing: list[tuple[str, SegmentSpec, float]],
) -> ProgressionParams | None:
    rules = chk.profile.progression
    if rules is None or not progressing:
        return None
    _, spec, start = progressing[0]
    cap_field = f"progression.{rules.cap_field}"
    cap = chk.resolve(cap_field, rules.cap_kmh, rules.cap_pct_comfortable)
    if cap is None:
        return None
    before = len(chk.problems)
    if cap < start:
        chk.add(cap_field, f"cap {cap:g} km/h is below the segments' own target {start:g} km/h")
    # The cap must pass every rule a target must pass, at every progressing segment's place.
    chk.speed(cap_field, SegmentKind.BACKWARD, cap, first_backward=False)
    if any(p == first_backward_path for p, _, _ in progressing) and (
        cap > chk.machine.limits.reverse_start_cap_kmh
    ):
        chk.add(
            cap_field,
            f"cap {cap:g} km/h exceeds the reverse start cap "
            f"{chk.machine.limits.reverse_start_cap_kmh} km/h, and the first backward "
            f"segment ({first_backward_path}) progresses",
        )
    if len(chk.problems) > before:
        return None
    return ProgressionParams(
        start_kmh=start,
        start_bout_s=spec.seconds,
        cap_kmh=cap,
        step_kmh=rules.step_kmh,
        step_back_kmh=rules.step_back_kmh or rules.step_kmh,
        after_sessions=rules.after_sessions,
        rail_contact_below_pct=rules.rail_contact_below_pct,
        rpe_at_most=rules.rpe_at_most,
        bout_step_s=rules.bout_step_s,
        bout_cap_s=rules.bout_cap_s,
    )


def build_plan(
    profile: ProfileConfig,
    machine: MachineConfig,
    patient: PatientConfig | None,
    profile_source: Path | str = "profile",
    prescription: Prescription | None = None,
) -> Plan:
    """Resolve and check the profile; with a prescription, it sets the progressing segments."""
    chk = _Checker(str(profile_source), machine, patient, profile)
    hr = profile.heart_rate
    if hr.required and not machine.heart_rate.present:
        chk.add("heart_rate.required", "the machine file has no heart-rate sensor")
    if profile.athlete_opt_in and (patient is None or not patient.athlete_opt_in):
        chk.add(
            "athlete_opt_in",
            "a backward running profile: needs a patient file with athlete_opt_in = true",
        )
    if prescription is not None and profile.progression is None:
        chk.add("progression", "a prescription was given but the profile does not progress")

    # First pass: the profile's own targets (needed for the progression's start).
    first_backward_path = next(
        (p for p, _, s in profile.walk() if s.direction is SegmentKind.BACKWARD), None
    )
    progressing: list[tuple[str, SegmentSpec, float]] = []
    for path, _, spec in profile.walk():
        if spec.progress:
            own = _own_target(spec, patient)
            if own is None:
                break  # the missing patient is reported at the segment, below
            progressing.append((path, spec, own))
    params = _progression_params(chk, first_backward_path, progressing)
    if prescription is not None and params is not None:
        if prescription.target_kmh > params.cap_kmh + 1e-9:
            chk.add(
                "progression",
                f"prescribed {prescription.target_kmh:g} km/h is above the cap "
                f"{params.cap_kmh:g} km/h",
            )
        if params.bout_cap_s is not None and prescription.bout_s > params.bout_cap_s + 1e-9:
            chk.add(
                "progression",
                f"prescribed bouts of {prescription.bout_s:g} s are longer than the cap "
                f"{params.bout_cap_s:g} s",
            )

    segments: list[PlannedSegment] = []
    first_backward_checked = False
    for b_index, block in enumerate(profile.blocks):
        for s_index, spec in enumerate(block.segments):
            field = f"blocks[{b_index}].segments[{s_index}]"
            is_rest = spec.direction is SegmentKind.REST
            field_speed = field if is_rest else f"{field}.{spec.speed_field}"
            target = chk.resolve(field_speed, spec.speed_kmh, spec.speed_pct_comfortable)
            if target is None:
                continue
            duration = spec.seconds
            if spec.progress and prescription is not None:
                target = round(prescription.target_kmh, 3)
                if params is not None and params.lengthens:
                    duration = prescription.bout_s
            is_first = spec.direction is SegmentKind.BACKWARD and not first_backward_checked
            first_backward_checked = first_backward_checked or is_first
            zone = chk.zone(field, spec, is_first)
            if spec.hr_zone is not None:
                target = spec.hr_zone.start_kmh  # checked by zone()
            else:
                chk.speed(field_speed, spec.direction, target, is_first)
            incline = spec.incline_pct or 0.0
            if spec.incline_pct is not None:
                chk.incline(f"{field}.incline_pct", spec.incline_pct)
            segments.append(
                PlannedSegment(
                    index=0,
                    block=block.name,
                    name=spec.name,
                    kind=spec.direction,
                    duration_s=duration,
                    target_kmh=target,
                    rail_policy=spec.rail_policy,
                    incline_pct=incline,
                    cadence_spm=spec.cadence_spm,
                    ramp=chk.ramp(field, spec),
                    role=block.role,
                    progress=spec.progress,
                    hr_zone=zone,
                )
            )
    if chk.problems:
        raise ConfigError(chk.problems)
    expanded = _expand(profile, segments)
    harness = profile.harness_required
    return Plan(
        profile,
        expanded,
        _pre_start_checks(profile, expanded, harness),
        harness,
        params,
        prescription,
    )


def plan_next_session(
    profile: ProfileConfig,
    machine: MachineConfig,
    patient: PatientConfig | None,
    history: Sequence[SessionResult],
    profile_source: Path | str = "profile",
) -> Plan:
    """The plan for the next session: the progression's prescription applied, when any."""
    plan = build_plan(profile, machine, patient, profile_source)
    if plan.progression is None:
        return plan
    return build_plan(
        profile, machine, patient, profile_source, next_prescription(plan.progression, history)
    )


def _expand(profile: ProfileConfig, flat: list[PlannedSegment]) -> tuple[PlannedSegment, ...]:
    """Repeat each block's segments `repeats` times and number the result."""
    out: list[PlannedSegment] = []
    cursor = 0
    for block in profile.blocks:
        n = len(block.segments)
        body = flat[cursor : cursor + n]
        cursor += n
        for _ in range(block.repeats):
            out.extend(body)
    return tuple(replace(s, index=i) for i, s in enumerate(out))


def _pre_start_checks(
    profile: ProfileConfig, segments: tuple[PlannedSegment, ...], harness: bool
) -> tuple[PreStartCheck, ...]:
    moving = [s for s in segments if s.kind is not SegmentKind.REST]
    backward = any(s.kind is SegmentKind.BACKWARD for s in segments)
    checks = [
        PreStartCheck(
            "key",
            "safety key clipped to the walker"
            + (" (it must be clipped for every backward segment)" if backward else ""),
        )
    ]
    if moving:
        facing = (
            "back to the console (backward)"
            if moving[0].kind is SegmentKind.BACKWARD
            else "towards the console (forward)"
        )
        turns = " and turns only when the belt has stopped" if backward else ""
        checks.append(PreStartCheck("facing", f"walker faces {facing}{turns}"))
    policies = {s.rail_policy for s in moving}
    if RailPolicy.HOLD_TO_RUN in policies:
        checks.append(
            PreStartCheck(
                "rails", "hands on both handrails: hold-to-run segments do not start without them"
            )
        )
    elif RailPolicy.UNTIL_CONFIDENT in policies:
        checks.append(
            PreStartCheck(
                "rails", "hands on the handrails until confident (released: speed capped)"
            )
        )
    if harness:
        steepest = profile.max_incline_pct
        why = (
            f"incline reaches {steepest:g} % (required from {HARNESS_INCLINE_PCT:g} %)"
            if steepest >= HARNESS_INCLINE_PCT
            else "the profile requires it"
        )
        checks.append(
            PreStartCheck("harness", f"chest harness on and attached to the safety arch: {why}")
        )
    zones = any(s.hr_zone is not None for s in segments)
    if profile.heart_rate.required or zones:
        why = ": the speed follows a heart-rate zone" if zones else ""
        checks.append(PreStartCheck("heart_rate", f"heart-rate strap on and reading{why}"))
    if profile.mode is ProfileMode.FORWARD_ONLY:
        checks.append(
            PreStartCheck("forward_only", "exercise test: forward only, backward is refused")
        )
    if any(
        s.kind is SegmentKind.BACKWARD and s.target_kmh > BACKWARD_WALKING_MAX_KMH for s in segments
    ):
        checks.append(
            PreStartCheck(
                "athlete",
                f"backward running above {BACKWARD_WALKING_MAX_KMH:g} km/h: athlete opted in",
            )
        )
    cadences = sorted({s.cadence_spm for s in segments if s.cadence_spm is not None})
    if cadences:
        spm = ", ".join(f"{c:g}" for c in cadences)
        checks.append(PreStartCheck("metronome", f"metronome audible ({spm} steps/min, a cue)"))
    return tuple(checks)
