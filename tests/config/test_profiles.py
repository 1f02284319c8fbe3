"""The profile format: every shipped profile validates; every refusal names file, field, reason.

Shipped profiles are loaded with treadctl.app.load_session against samples/machines/sim.toml
(with samples/patients/demo.toml where a speed is a share of the comfortable forward speed);
the athlete profile against samples/machines/sim-athlete.toml and samples/patients/athlete.toml.

Each refusal case writes a small profile (and, where the case needs it, a changed
machine or patient file) to tmp_path as profile.toml / machine.toml / patient.toml,
runs with tmp_path as the working directory, and asserts the exact lines the operator
sees: `<file>: <field path>: <reason>`, one per problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from treadctl.app import load_session
from treadctl.cli import main as cli_main
from treadctl.config.errors import ConfigError
from treadctl.config.loader import load_model
from treadctl.config.machine import MachineConfig, RampLimits
from treadctl.config.patient import PatientConfig
from treadctl.config.profile import BlockRole, ProfileConfig, RailPolicy, SegmentKind
from treadctl.protocol.plan import build_plan
from treadctl.protocol.progression import Change, Prescription

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "profiles"
SIM = REPO / "src/treadctl/samples/machines" / "sim.toml"
SIM_ATHLETE = REPO / "src/treadctl/samples/machines" / "sim-athlete.toml"
SIM_HR = REPO / "src/treadctl/samples/machines" / "sim-hr.toml"
DEMO = REPO / "src/treadctl/samples/patients" / "demo.toml"
ATHLETE = REPO / "src/treadctl/samples/patients" / "athlete.toml"

MACHINE = SIM.read_text(encoding="utf-8")
MACHINE_NO_INCLINE = MACHINE.split("\n[incline]")[0] + "\n"
PATIENT = DEMO.read_text(encoding="utf-8")
M, PR, PA = "machine.toml", "profile.toml", "patient.toml"
EXIT_CONFIG = 2

SHIPPED = sorted(p.stem for p in PROFILES.glob("*.toml"))
ATHLETE_PROFILES = {"backward-running-athlete"}
HR_PROFILES = {"hr-zone-walk"}  # a heart-rate target: a machine with a strap
# Numbers not taken from the domain notes: each says where they come from instead.
UNSOURCED = {
    "demo-short": "treadctl demo",
    "hr-zone-walk": "treadctl sample: set the zones from the patient's own exercise test",
}


def files_for(stem: str) -> tuple[Path, Path, Path | None]:
    """Machine, profile and patient file for a shipped profile."""
    profile = PROFILES / f"{stem}.toml"
    if stem in ATHLETE_PROFILES:
        return SIM_ATHLETE, profile, ATHLETE
    if stem in HR_PROFILES:
        return SIM_HR, profile, DEMO
    uses_pct = "speed_pct_comfortable" in profile.read_text(encoding="utf-8")
    return SIM, profile, DEMO if uses_pct else None


def test_every_profile_in_the_directory_is_accounted_for() -> None:
    assert SHIPPED == [
        "backward-intro-15min",
        "backward-running-athlete",
        "beginner-backward",
        "bruce",
        "cerebral-palsy-20min",
        "demo-short",
        "hr-zone-walk",
        "incline-backward",
        "intervals-1-1",
        "intervals-5-1",
        "knee-oa-10min",
        "modified-bruce",
        "stroke-30min",
    ]


@pytest.mark.parametrize("stem", SHIPPED)
def test_shipped_profile_validates_and_cites_its_source(stem: str) -> None:
    machine, profile, patient = files_for(stem)
    files = load_session(machine, profile, patient)
    plan = files.plan
    assert plan.segments
    assert plan.total_s > 0
    text = profile.read_text(encoding="utf-8")
    assert text.startswith("# ")
    if stem in UNSOURCED:
        assert files.profile.source == UNSOURCED[stem]
    else:
        assert "domain notes section" in text  # where its numbers come from
        assert files.profile.source.startswith("domain-notes 4")
    assert plan.pre_start_checks[0].key == "key"
    # every backward target is slower than the patient's comfortable forward speed
    for seg in plan.segments:
        if seg.kind is SegmentKind.BACKWARD and files.patient is not None:
            assert seg.target_kmh < files.patient.comfortable_forward_kmh


def test_the_athlete_profile_needs_an_athlete_and_a_machine_for_it() -> None:
    """Both opt-ins: a patient without one is refused even where the shares come out slow."""
    athlete = PROFILES / "backward-running-athlete.toml"
    with pytest.raises(ConfigError) as info:
        load_session(SIM_ATHLETE, athlete, DEMO)
    assert str(info.value).splitlines() == [
        f"{athlete}: athlete_opt_in: a backward running profile: needs a patient file with "
        "athlete_opt_in = true"
    ]
    with pytest.raises(ConfigError) as info:
        load_session(SIM, athlete, ATHLETE)
    assert str(info.value).splitlines() == [
        f"{athlete}: progression.cap_pct_comfortable: 7.5 km/h is above the machine's "
        "backward maximum 5.0 km/h",
        f"{athlete}: blocks[1].segments[0].speed_pct_comfortable: first backward speed 2.0 "
        "km/h exceeds the reverse start cap 1.5 km/h",
        f"{athlete}: blocks[2].segments[0].speed_pct_comfortable: 6.0 km/h is above the "
        "machine's backward maximum 5.0 km/h",
    ]


def test_shipped_schedules() -> None:
    expected = {
        "stroke-30min": (3, 4),
        "knee-oa-10min": (3, 6),
        "cerebral-palsy-20min": (3, 8),
        "beginner-backward": (7, None),
    }
    for stem, (per_week, weeks) in expected.items():
        plan = load_session(*files_for(stem)).plan
        assert plan.schedule is not None
        assert (plan.schedule.sessions_per_week, plan.schedule.weeks) == (per_week, weeks)
    stroke = load_session(*files_for("stroke-30min")).plan
    assert stroke.schedule is not None
    assert stroke.schedule.total_sessions == 12
    assert stroke.total_s == 30 * 60
    assert load_session(*files_for("knee-oa-10min")).plan.seconds_by_kind(SegmentKind.BACKWARD) == (
        10 * 60
    )
    cp = load_session(*files_for("cerebral-palsy-20min")).plan
    assert cp.total_s == 20 * 60
    assert cp.seconds_by_kind(SegmentKind.BACKWARD) == 15 * 60


def test_intro_routine_shape() -> None:
    """10-15 min: forward warm-up 2-3 min, 2-min backward bouts alternating, cool-down."""
    plan = load_session(*files_for("backward-intro-15min")).plan
    segs = plan.segments
    assert 10 * 60 <= plan.total_s <= 15 * 60
    assert segs[0].role is BlockRole.WARM_UP
    assert segs[0].kind is SegmentKind.FORWARD
    assert 120 <= segs[0].duration_s <= 180
    assert segs[-1].role is BlockRole.COOL_DOWN
    backward = [s for s in segs if s.kind is SegmentKind.BACKWARD]
    assert [s.duration_s for s in backward] == [120.0] * 3
    assert all(s.cadence_spm == 100 for s in backward)  # the metronome cue
    assert all(s.progress for s in backward)
    assert [c.key for c in plan.pre_start_checks] == ["key", "facing", "rails", "metronome"]


def test_intervals_shapes() -> None:
    five_one = load_session(*files_for("intervals-5-1")).plan.segments
    assert [(s.kind.value, s.duration_s) for s in five_one[:6]] == [
        ("forward", 300.0),
        ("backward", 60.0),
    ] * 3
    one_one = load_session(*files_for("intervals-1-1")).plan.segments
    middle = [(s.kind.value, s.duration_s) for s in one_one[1:-1]]
    assert middle == [("backward", 60.0), ("forward", 60.0)] * 6


def test_incline_profile_requires_the_harness_and_lists_it() -> None:
    plan = load_session(*files_for("incline-backward")).plan
    backward = [s for s in plan.segments if s.kind is SegmentKind.BACKWARD]
    assert [s.incline_pct for s in backward] == [0.0, 2.5, 5.0, 7.5]
    assert plan.requires_harness
    assert plan.profile.requires_harness is None  # not written: set by the 7.5 % step
    harness = [c for c in plan.pre_start_checks if c.key == "harness"]
    assert [c.text for c in harness] == [
        "chest harness on and attached to the safety arch: incline reaches 7.5 % "
        "(required from 5 %)"
    ]
    # the steepest step stops more gently than the machine's backward ramp
    assert backward[-1].ramp == RampLimits(accel_mps2=0.12, decel_mps2=0.2, jerk_mps3=0.25)
    assert backward[0].ramp is None
    rest = [s for s in plan.segments if s.kind is SegmentKind.REST]
    assert [s.incline_pct for s in rest] == [0.0]  # rests stand level


def test_a_profile_below_five_percent_needs_no_harness() -> None:
    plan = load_session(*files_for("backward-intro-15min")).plan
    assert not plan.requires_harness
    assert "harness" not in [c.key for c in plan.pre_start_checks]


BRUCE_TABLE = [(1.7, 10), (2.5, 12), (3.4, 14), (4.2, 16), (5.0, 18), (5.5, 20), (6.0, 22)]
MPH_KMH = 1.609344


@pytest.mark.parametrize(
    ("stem", "table"),
    [
        pytest.param("bruce", BRUCE_TABLE, id="bruce"),
        pytest.param("modified-bruce", [(1.7, 0), (1.7, 5), *BRUCE_TABLE], id="modified-bruce"),
    ],
)
def test_bruce_tables_converted_from_mph(stem: str, table: list[tuple[float, int]]) -> None:
    """Stages of 3 min, mph x 1.609344 to 0.01 km/h, the original figures in the comments."""
    machine, profile, patient = files_for(stem)
    assert patient is None  # absolute speeds: no patient needed
    plan = load_session(machine, profile, patient).plan
    assert plan.forward_only
    stages = plan.segments[: len(table)]
    assert [(s.target_kmh, s.incline_pct, s.duration_s) for s in stages] == [
        (round(mph * MPH_KMH, 2), float(grade), 180.0) for mph, grade in table
    ]
    assert all(s.kind is SegmentKind.FORWARD for s in plan.segments)
    recovery = plan.segments[len(table) :]
    assert [(s.role, s.target_kmh, s.incline_pct) for s in recovery] == [
        (BlockRole.COOL_DOWN, 2.41, 0.0)
    ]
    comments = re.findall(
        r"speed_kmh = ([\d.]+) +# ([\d.]+) mph\n  incline_pct = (\d+) +# (\d+) % grade",
        profile.read_text(encoding="utf-8"),
    )
    assert [(float(mph), int(g)) for _, mph, _, g in comments] == table
    assert all(float(k) == round(float(mph) * MPH_KMH, 2) for k, mph, _, _ in comments)
    assert all(a == b for _, _, a, b in comments)
    keys = [c.key for c in plan.pre_start_checks]
    assert keys == ["key", "facing", "harness", "forward_only"]


def test_athlete_profile_needs_both_opt_ins_and_runs_above_walking_pace() -> None:
    files = load_session(*files_for("backward-running-athlete"))
    plan = files.plan
    assert plan.profile.athlete_opt_in
    assert files.patient is not None
    assert files.patient.athlete_opt_in
    first_backward = next(s for s in plan.segments if s.kind is SegmentKind.BACKWARD)
    assert first_backward.target_kmh == 2.0  # at the sim-athlete reverse start cap
    runs = [s for s in plan.segments if s.progress]
    assert [s.target_kmh for s in runs] == [6.0] * 4
    assert all(s.ramp is not None and s.ramp.accel_mps2 == 0.1 for s in runs)
    assert "athlete" in [c.key for c in plan.pre_start_checks]
    assert plan.progression is not None
    assert plan.progression.cap_kmh == 7.5


def test_existing_rail_policies_and_roles_survive() -> None:
    plan = load_session(*files_for("stroke-30min")).plan
    backward = [s for s in plan.segments if s.kind is SegmentKind.BACKWARD]
    assert {s.rail_policy for s in backward} == {RailPolicy.HOLD_TO_RUN}
    assert [c.key for c in plan.pre_start_checks] == ["key", "facing", "rails"]
    assert plan.pre_start_checks[2].text == (
        "hands on both handrails: hold-to-run segments do not start without them"
    )


def test_old_machine_and_patient_files_without_the_new_sections_still_load() -> None:
    machine = MachineConfig.model_validate(
        {k: v for k, v in load_model(SIM, MachineConfig).model_dump().items() if k != "incline"}
    )
    assert machine.incline is None
    patient = load_model(DEMO, PatientConfig)
    old = PatientConfig.model_validate(
        {k: v for k, v in patient.model_dump().items() if k not in ("body_mass_kg",)}
    )
    assert old.body_mass_kg is None
    assert not old.athlete_opt_in


# --- refusals ---------------------------------------------------------------------------


def profile(
    *,
    top: str = "",
    forward: str = "",
    backward: str = "",
    more: str = "",
    backward_speed: str = "speed_kmh = 1.0",
) -> str:
    """A small profile: `blocks[0].segments[0]` forward 20 s, `blocks[0].segments[1]` backward
    30 s; `top` goes before the blocks, `forward`/`backward` into those segments, `more` after.
    """
    return f"""name = "Test"
{top}
[[blocks]]
name = "b"
  [[blocks.segments]]
  direction = "forward"
  duration_s = 20
  speed_kmh = 2.0
{forward}
  [[blocks.segments]]
  direction = "backward"
  duration_s = 30
  {backward_speed}
{backward}
{more}"""


PROGRESSION = "[progression]\nstep_kmh = 0.1\ncap_kmh = 1.4\n"
SECOND_BACKWARD = """  [[blocks.segments]]
  direction = "backward"
  duration_s = 30
  {speed}
"""
REST_BLOCK = """
[[blocks]]
name = "r"
  [[blocks.segments]]
  direction = "rest"
  duration_s = 10
"""


@dataclass(frozen=True)
class Refusal:
    id: str
    lines: tuple[str, ...]
    profile: str
    machine: str = MACHINE
    patient: str | None = PATIENT


REFUSALS = [
    # --- cross-file rules (build_plan) ---------------------------------------------------
    Refusal(
        "backward-not-slower-than-comfortable-forward",
        (
            f"{PR}: blocks[0].segments[2].speed_pct_comfortable: backward target 3.2 km/h is "
            "not slower than the patient's comfortable forward speed 3.2 km/h",
        ),
        profile(more=SECOND_BACKWARD.format(speed="speed_pct_comfortable = 100")),
        patient=PATIENT.replace("max_backward_kmh = 2.5", "max_backward_kmh = 4.0"),
    ),
    Refusal(
        "first-backward-above-reverse-start-cap",
        (
            f"{PR}: blocks[0].segments[1].speed_kmh: first backward speed 1.8 km/h exceeds "
            "the reverse start cap 1.5 km/h",
        ),
        profile(backward_speed="speed_kmh = 1.8"),
    ),
    Refusal(
        "speed-outside-machine-limits",
        (
            f"{PR}: blocks[0].segments[0].speed_kmh: 13.0 km/h is above the machine's forward "
            "maximum 12.0 km/h",
        ),
        profile().replace("speed_kmh = 2.0", "speed_kmh = 13.0"),
        patient=None,
    ),
    Refusal(
        "incline-without-machine-range",
        (
            f"{PR}: blocks[0].segments[1].incline_pct: the machine file declares no incline "
            "([incline] min_pct/max_pct)",
        ),
        profile(backward="  incline_pct = 2"),
        machine=MACHINE_NO_INCLINE,
    ),
    Refusal(
        "incline-above-machine-range",
        (
            f"{PR}: blocks[0].segments[0].incline_pct: 30 % is outside the machine's incline "
            "range 0 to 25 %",
        ),
        profile(forward="  incline_pct = 30", top="requires_harness = true"),
    ),
    Refusal(
        "decline-below-machine-range",
        (
            f"{PR}: blocks[0].segments[0].incline_pct: -3 % is outside the machine's incline "
            "range 0 to 25 %",
        ),
        profile(forward="  incline_pct = -3"),
    ),
    Refusal(
        "ramp-override-above-backward-limit",
        (
            f"{PR}: blocks[0].segments[1].ramp.accel_mps2: 0.2 m/s² is above the machine's "
            "backward limit 0.12 m/s²",
        ),
        profile(backward="  ramp = { accel_mps2 = 0.2 }"),
    ),
    Refusal(
        "ramp-override-above-forward-limits",
        (
            f"{PR}: blocks[0].segments[0].ramp.decel_mps2: 0.5 m/s² is above the machine's "
            "forward limit 0.35 m/s²",
            f"{PR}: blocks[0].segments[0].ramp.jerk_mps3: 0.6 m/s³ is above the machine's "
            "forward limit 0.5 m/s³",
        ),
        profile(forward="  ramp = { decel_mps2 = 0.5, jerk_mps3 = 0.6 }"),
    ),
    Refusal(
        "backward-running-without-profile-opt-in",
        (
            f"{PR}: blocks[0].segments[2].speed_kmh: backward 5.5 km/h is running pace "
            "(above 5 km/h): needs athlete_opt_in = true in the profile",
        ),
        profile(more=SECOND_BACKWARD.format(speed="speed_kmh = 5.5")),
        machine=SIM_ATHLETE.read_text(encoding="utf-8"),
        patient=ATHLETE.read_text(encoding="utf-8"),
    ),
    Refusal(
        "backward-running-without-patient-opt-in",
        (
            f"{PR}: athlete_opt_in: a backward running profile: needs a patient file with "
            "athlete_opt_in = true",
        ),
        profile(top="athlete_opt_in = true", more=SECOND_BACKWARD.format(speed="speed_kmh = 5.5")),
        machine=SIM_ATHLETE.read_text(encoding="utf-8"),
        patient=ATHLETE.read_text(encoding="utf-8").replace(
            "athlete_opt_in = true", "athlete_opt_in = false"
        ),
    ),
    Refusal(
        "progression-cap-above-reverse-start-cap",
        (
            f"{PR}: progression.cap_kmh: cap 1.6 km/h exceeds the reverse start cap 1.5 km/h, "
            "and the first backward segment (blocks[0].segments[1]) progresses",
        ),
        profile(top=PROGRESSION.replace("1.4", "1.6"), backward="  progress = true"),
    ),
    Refusal(
        "progression-cap-above-patient-cap",
        (
            f"{PR}: progression.cap_pct_comfortable: 3.04 km/h is above the patient's "
            "backward cap 2.5 km/h",
        ),
        profile(
            top="[progression]\nstep_kmh = 0.1\ncap_pct_comfortable = 95\n",
            more=SECOND_BACKWARD.format(speed="speed_kmh = 1.2\n  progress = true"),
        ),
    ),
    Refusal(
        "progression-cap-not-slower-than-comfortable-forward",
        (
            f"{PR}: progression.cap_kmh: backward target 3.3 km/h is not slower than the "
            "patient's comfortable forward speed 3.2 km/h",
        ),
        profile(
            top=PROGRESSION.replace("1.4", "3.3"),
            more=SECOND_BACKWARD.format(speed="speed_kmh = 1.2\n  progress = true"),
        ),
        patient=PATIENT.replace("max_backward_kmh = 2.5", "max_backward_kmh = 4.0"),
    ),
    Refusal(
        "progression-cap-above-machine-max",
        (f"{PR}: progression.cap_kmh: 5.5 km/h is above the machine's backward maximum 5.0 km/h",),
        profile(
            top=PROGRESSION.replace("1.4", "5.5"),
            more=SECOND_BACKWARD.format(speed="speed_kmh = 1.2\n  progress = true"),
        ),
        patient=None,
    ),
    Refusal(
        "progression-cap-at-running-pace-without-opt-ins",
        (
            f"{PR}: progression.cap_kmh: backward 5.5 km/h is running pace (above 5 km/h): "
            "needs athlete_opt_in = true in the profile and in the patient file",
        ),
        profile(
            top=PROGRESSION.replace("1.4", "5.5"),
            more=SECOND_BACKWARD.format(speed="speed_kmh = 1.2\n  progress = true"),
        ),
        machine=SIM_ATHLETE.read_text(encoding="utf-8"),
        patient=None,
    ),
    Refusal(
        "progression-cap-below-own-target",
        (f"{PR}: progression.cap_kmh: cap 0.8 km/h is below the segments' own target 1 km/h",),
        profile(top=PROGRESSION.replace("1.4", "0.8"), backward="  progress = true"),
    ),
    Refusal(
        "percentage-cap-without-patient",
        (f"{PR}: progression.cap_pct_comfortable: needs a patient file (--patient)",),
        profile(
            top="[progression]\nstep_kmh = 0.1\ncap_pct_comfortable = 40\n",
            backward="  progress = true",
        ),
        patient=None,
    ),
    # --- rules inside the profile (ProfileConfig) ------------------------------------------
    Refusal(
        "forward-only-with-a-backward-segment",
        (
            f"{PR}: blocks[0].segments[1].direction: a forward_only profile (exercise test) "
            "has no backward segment",
        ),
        profile(top='mode = "forward_only"'),
    ),
    Refusal(
        "forward-only-with-progression",
        (f"{PR}: progression: a forward_only profile does not progress",),
        profile(top='mode = "forward_only"\n' + PROGRESSION).replace(
            'direction = "backward"', 'direction = "forward"'
        ),
    ),
    Refusal(
        "harness-switched-off-above-five-percent",
        (
            f"{PR}: requires_harness: cannot be false: blocks[0].segments[0].incline_pct is "
            "5 % (a harness is required from 5 % incline)",
        ),
        profile(top="requires_harness = false", forward="  incline_pct = 5"),
    ),
    Refusal(
        "incline-on-a-rest",
        (
            f"{PR}: blocks[1].segments[0].incline_pct: a rest segment has no incline "
            "(it stands level)",
        ),
        profile(more=REST_BLOCK + "  incline_pct = 2\n"),
    ),
    Refusal(
        "ramp-on-a-rest",
        (f"{PR}: blocks[1].segments[0].ramp: a rest segment has no ramp",),
        profile(more=REST_BLOCK + "  ramp = { decel_mps2 = 0.1 }\n"),
    ),
    Refusal(
        "cadence-on-a-rest",
        (f"{PR}: blocks[1].segments[0].cadence_spm: a rest segment has no metronome cadence",),
        profile(more=REST_BLOCK + "  cadence_spm = 100\n"),
    ),
    Refusal(
        "empty-ramp-override",
        (
            f"{PR}: blocks[0].segments[1].ramp: Value error, give at least one of accel_mps2, "
            "decel_mps2, jerk_mps3",
        ),
        profile(backward="  ramp = {}"),
    ),
    Refusal(
        "cadence-out-of-range",
        (
            f"{PR}: blocks[0].segments[1].cadence_spm: must be at most 200 steps/min "
            "(400 steps/min given)",
        ),
        profile(backward="  cadence_spm = 400"),
    ),
    Refusal(
        "progress-on-a-forward-segment",
        (f"{PR}: blocks[0].segments[0].progress: only backward segments progress",),
        profile(top=PROGRESSION, forward="  progress = true", backward="  progress = true"),
    ),
    Refusal(
        "progress-without-progression",
        (f"{PR}: blocks[0].segments[1].progress: the profile has no [progression] section",),
        profile(backward="  progress = true"),
    ),
    Refusal(
        "progression-without-progressing-segment",
        (f"{PR}: progression: no segment has progress = true",),
        profile(top=PROGRESSION),
    ),
    Refusal(
        "progressing-segments-with-different-targets",
        (
            f"{PR}: blocks[0].segments[2].speed_kmh: progressing segments share one target: "
            "blocks[0].segments[1] has speed_kmh = 1",
        ),
        profile(
            top=PROGRESSION,
            backward="  progress = true",
            more=SECOND_BACKWARD.format(speed="speed_kmh = 1.2\n  progress = true"),
        ),
    ),
    Refusal(
        "bout-cap-shorter-than-bouts",
        (f"{PR}: progression.bout_cap_s: 20 s is shorter than the bouts (30 s)",),
        profile(
            top=PROGRESSION + "bout_step_s = 10\nbout_cap_s = 20\n", backward="  progress = true"
        ),
    ),
    Refusal(
        "bout-step-without-cap",
        (f"{PR}: progression: Value error, give both bout_step_s and bout_cap_s, or neither",),
        profile(top=PROGRESSION + "bout_step_s = 10\n", backward="  progress = true"),
    ),
    Refusal(
        "progression-with-both-caps",
        (f"{PR}: progression: Value error, give exactly one of cap_kmh or cap_pct_comfortable",),
        profile(top=PROGRESSION + "cap_pct_comfortable = 40\n", backward="  progress = true"),
    ),
    Refusal(
        "warm-up-after-main",
        (f"{PR}: blocks[1].role: a warm-up block comes before the others",),
        profile(more=REST_BLOCK.replace('name = "r"', 'name = "r"\nrole = "warm_up"')),
    ),
    Refusal(
        "main-after-cool-down",
        (f"{PR}: blocks[1].role: only cool-down blocks may follow a cool-down block",),
        profile(more=REST_BLOCK).replace('name = "b"', 'name = "b"\nrole = "cool_down"'),
    ),
    Refusal(
        "schedule-out-of-range",
        (
            f"{PR}: schedule.sessions_per_week: must be at least 1 per week (0 per week given)",
            f"{PR}: schedule.weeks: must be at most 104 (200 given)",
        ),
        profile(top="[schedule]\nsessions_per_week = 0\nweeks = 200\n"),
    ),
    Refusal(
        "unknown-mode",
        (f"{PR}: mode: Input should be 'training' or 'forward_only'",),
        profile(top='mode = "backward_only"'),
    ),
    Refusal(
        "machine-incline-range-inverted",
        (f"{M}: incline.min_pct: must be at most 0 % (5 % given)",),
        profile(),
        machine=MACHINE.replace("min_pct = 0.0", "min_pct = 5.0"),
    ),
    Refusal(
        "patient-body-mass-out-of-range",
        (f"{PA}: body_mass_kg: must be at most 300 kg (700 kg given)",),
        profile(),
        patient=PATIENT.replace("body_mass_kg = 70.0", "body_mass_kg = 700.0"),
    ),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in REFUSALS])
def test_refusal_names_file_field_and_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: Refusal
) -> None:
    (tmp_path / M).write_text(case.machine, encoding="utf-8")
    (tmp_path / PR).write_text(case.profile, encoding="utf-8")
    if case.patient is not None:
        (tmp_path / PA).write_text(case.patient, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_session(Path(M), Path(PR), Path(PA) if case.patient is not None else None)
    # the line and column after the file name are checked in test_error_messages.py
    lines = [re.sub(r"^([^:]+):\d+:\d+: ", r"\1: ", line) for line in str(info.value).splitlines()]
    assert lines == list(case.lines)


def test_check_prints_the_lines_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same lines through `treadctl check`, several problems at once."""
    (tmp_path / M).write_text(MACHINE, encoding="utf-8")
    (tmp_path / PR).write_text(
        profile(
            forward="  incline_pct = 30\n  ramp = { accel_mps2 = 0.3 }",
            backward="  ramp = { decel_mps2 = 0.3 }",
            backward_speed="speed_kmh = 1.6",
            top="requires_harness = true",
        ),
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    code = cli_main(["check", "--machine", M, "--profile", PR])
    out, err = capsys.readouterr()
    assert code == EXIT_CONFIG
    assert out == ""
    assert err.splitlines() == [
        f"{PR}: blocks[0].segments[0].incline_pct: 30 % is outside the machine's incline "
        "range 0 to 25 %",
        f"{PR}: blocks[0].segments[0].ramp.accel_mps2: 0.3 m/s² is above the machine's "
        "forward limit 0.25 m/s²",
        f"{PR}: blocks[0].segments[1].speed_kmh: first backward speed 1.6 km/h exceeds the "
        "reverse start cap 1.5 km/h",
        f"{PR}: blocks[0].segments[1].ramp.decel_mps2: 0.3 m/s² is above the machine's "
        "backward limit 0.25 m/s²",
    ]


# --- prescriptions applied to a plan ------------------------------------------------------


def _load(stem: str) -> tuple[ProfileConfig, MachineConfig, PatientConfig | None]:
    files = load_session(*files_for(stem))
    return files.profile, files.machine, files.patient


def test_a_prescription_sets_the_progressing_segments_only() -> None:
    profile_, machine, patient = _load("beginner-backward")
    rx = Prescription(1.2, 90.0, Change.RAISED, "test")
    plan = build_plan(profile_, machine, patient, "beginner-backward.toml", rx)
    backward = [s for s in plan.segments if s.kind is SegmentKind.BACKWARD]
    assert [(s.target_kmh, s.duration_s) for s in backward] == [(1.2, 90.0)] * 3
    forward = [s for s in plan.segments if s.kind is SegmentKind.FORWARD]
    assert [s.duration_s for s in forward] == [120.0, 60.0, 60.0, 60.0, 120.0]
    assert plan.prescription is rx


def test_a_prescription_above_the_cap_is_refused() -> None:
    profile_, machine, patient = _load("beginner-backward")
    rx = Prescription(1.6, 150.0, Change.RAISED, "hand-made")
    with pytest.raises(ConfigError) as info:
        build_plan(profile_, machine, patient, "beginner-backward.toml", rx)
    assert str(info.value).splitlines() == [
        "beginner-backward.toml: progression: prescribed 1.6 km/h is above the cap 1.44 km/h",
        "beginner-backward.toml: progression: prescribed bouts of 150 s are longer than the "
        "cap 120 s",
        "beginner-backward.toml: blocks[1].segments[0].speed_pct_comfortable: first backward "
        "speed 1.6 km/h exceeds the reverse start cap 1.5 km/h",
    ]


def test_a_prescription_for_a_profile_that_does_not_progress_is_refused() -> None:
    profile_, machine, patient = _load("intervals-1-1")
    with pytest.raises(ConfigError) as info:
        build_plan(profile_, machine, patient, "p.toml", Prescription(1.0, 60, Change.HELD, ""))
    assert str(info.value).splitlines() == [
        "p.toml: progression: a prescription was given but the profile does not progress"
    ]
