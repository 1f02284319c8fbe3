"""A profile resolved against the machine and the patient: concrete segments in km/h.

Cross-file rules live here because no single file can check them: a backward
target must be slower than the patient's comfortable forward pace and inside
every cap, and the first backward speed must not exceed the reverse start cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from treadctl.config.errors import ConfigError, ConfigProblem
from treadctl.config.machine import MachineConfig
from treadctl.config.patient import PatientConfig
from treadctl.config.profile import ProfileConfig, RailPolicy, SegmentKind


@dataclass(frozen=True, slots=True)
class PlannedSegment:
    index: int
    block: str
    name: str
    kind: SegmentKind
    duration_s: float
    target_kmh: float  # 0 for rest
    rail_policy: RailPolicy

    @property
    def label(self) -> str:
        name = self.name or self.kind.value
        return f"{self.block}/{name}" if self.block else name


@dataclass(frozen=True)
class Plan:
    profile: ProfileConfig
    segments: tuple[PlannedSegment, ...]

    @property
    def total_s(self) -> float:
        return sum(s.duration_s for s in self.segments)

    def seconds_by_kind(self, kind: SegmentKind) -> float:
        return sum(s.duration_s for s in self.segments if s.kind is kind)


def build_plan(
    profile: ProfileConfig,
    machine: MachineConfig,
    patient: PatientConfig | None,
    profile_source: Path | str = "profile",
) -> Plan:
    src = str(profile_source)
    problems: list[ConfigProblem] = []
    limits = machine.limits
    hr = profile.heart_rate
    if hr.required and not machine.heart_rate.present:
        problems.append(
            ConfigProblem(src, "heart_rate.required", "the machine file has no heart-rate sensor")
        )
    segments: list[PlannedSegment] = []
    first_backward_checked = False
    for b_index, block in enumerate(profile.blocks):
        for s_index, spec in enumerate(block.segments):
            field = f"blocks[{b_index}].segments[{s_index}]"
            target = 0.0
            if spec.speed_kmh is not None:
                target = spec.speed_kmh
                field_speed = f"{field}.speed_kmh"
            elif spec.speed_pct_comfortable is not None:
                field_speed = f"{field}.speed_pct_comfortable"
                if patient is None:
                    problems.append(
                        ConfigProblem(src, field_speed, "needs a patient file (--patient)")
                    )
                    continue
                target = round(
                    patient.comfortable_forward_kmh * spec.speed_pct_comfortable / 100, 2
                )
            else:
                field_speed = field
            if spec.direction is SegmentKind.FORWARD:
                cap = limits.max_forward_kmh
                if target > cap:
                    problems.append(
                        ConfigProblem(
                            src,
                            field_speed,
                            f"{target} km/h is above the machine's forward maximum {cap} km/h",
                        )
                    )
                if patient and patient.max_forward_kmh and target > patient.max_forward_kmh:
                    problems.append(
                        ConfigProblem(
                            src,
                            field_speed,
                            f"{target} km/h is above the patient's forward "
                            f"cap {patient.max_forward_kmh} km/h",
                        )
                    )
            elif spec.direction is SegmentKind.BACKWARD:
                cap = limits.max_backward_kmh
                if target > cap:
                    problems.append(
                        ConfigProblem(
                            src,
                            field_speed,
                            f"{target} km/h is above the machine's backward maximum {cap} km/h",
                        )
                    )
                if patient and patient.max_backward_kmh and target > patient.max_backward_kmh:
                    problems.append(
                        ConfigProblem(
                            src,
                            field_speed,
                            f"{target} km/h is above the patient's backward "
                            f"cap {patient.max_backward_kmh} km/h",
                        )
                    )
                if patient and target >= patient.comfortable_forward_kmh:
                    problems.append(
                        ConfigProblem(
                            src,
                            field_speed,
                            f"backward target {target} km/h is not slower than "
                            f"the patient's comfortable forward speed "
                            f"{patient.comfortable_forward_kmh} km/h",
                        )
                    )
                if not first_backward_checked:
                    first_backward_checked = True
                    if target > limits.reverse_start_cap_kmh:
                        problems.append(
                            ConfigProblem(
                                src,
                                field_speed,
                                f"first backward speed {target} km/h exceeds "
                                f"the reverse start cap {limits.reverse_start_cap_kmh} km/h",
                            )
                        )
            segments.append(
                PlannedSegment(
                    index=0,
                    block=block.name,
                    name=spec.name,
                    kind=spec.direction,
                    duration_s=spec.seconds,
                    target_kmh=target,
                    rail_policy=spec.rail_policy,
                )
            )
    if problems:
        raise ConfigError(problems)
    return Plan(profile, _expand(profile, segments))


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
    return tuple(
        PlannedSegment(i, s.block, s.name, s.kind, s.duration_s, s.target_kmh, s.rail_policy)
        for i, s in enumerate(out)
    )
