"""Bad configuration files: one test per kind of error, through the real CLI and load_session.

Every case starts from the shipped files (samples/machines/sim.toml,
profiles/demo-short.toml, samples/patients/demo.toml) and makes one targeted
replacement, so each case reads as "this line, changed like this". The files are written
to tmp_path as machine.toml, profile.toml and patient.toml, and everything runs with
tmp_path as the working directory, so the expected lines name the files exactly as the
user typed them.

Each problem is one line on stderr, `<file>:<line>:<column>: <field path>: <reason>`
(`<file>: <field path>: <reason>` when the field's place is not known, `<file>: <reason>`
when the whole file is at fault), and the exit code is 2. The positions themselves are
checked in test_error_messages.py; here they are optional. The same
problems come back from treadctl.app.load_session as a list of ConfigProblem.

Every CLI call is a real `python -m treadctl.cli` subprocess. They are started together
by a module fixture on a small thread pool (one worker per CPU), so the ~50 interpreter
start-ups overlap instead of queueing; each test then waits for its own result.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from treadctl.app import load_session
from treadctl.cli import main as cli_main
from treadctl.config.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
MACHINE = (REPO / "src/treadctl/samples/machines" / "sim.toml").read_text(encoding="utf-8")
PROFILE = (REPO / "profiles" / "demo-short.toml").read_text(encoding="utf-8")
PATIENT = (REPO / "src/treadctl/samples/patients" / "demo.toml").read_text(encoding="utf-8")

M, PR, PA = "machine.toml", "profile.toml", "patient.toml"


def unknown(nearest: str) -> str:
    return f"unknown field; did you mean {nearest}?"


# pydantic adds a detail in lax mode that strict mode leaves out; either names the type
NOT_A_NUMBER = re.compile(r"Input should be a valid number(, unable to parse string as a number)?")
NOT_A_BOOLEAN = re.compile(r"Input should be a valid boolean(, unable to interpret input)?")
EXIT_CONFIG = 2

# (file, field path, reason); the reason is exact text or a regular expression.
Expected = tuple[str, str, str | re.Pattern[str]]


def edit(text: str, *changes: tuple[str, str]) -> str:
    """Replace each `old` (which must occur exactly once) with `new`."""
    for old, new in changes:
        assert text.count(old) == 1, f"{old!r} must occur exactly once in the base file"
        text = text.replace(old, new)
    return text


def with_block(direction: str, speed: str) -> str:
    """demo-short with one more block of a single 10 s segment: `blocks[1].segments[0]`."""
    return (
        PROFILE
        + f"""
[[blocks]]
name = "extra"
  [[blocks.segments]]
  direction = "{direction}"
  duration_s = 10
  {speed}
"""
    )


def syntax_error_at(text: str, line_start: str) -> tuple[int, int]:
    """1-based line and column of the second '=' on the line starting with `line_start`."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith(line_start):
            return number, line.rindex("=") + 1
    raise AssertionError(line_start)


BAD_SYNTAX = edit(MACHINE, ("max_forward_kmh = 12.0", "max_forward_kmh = = 12.0"))
SYNTAX_LINE, SYNTAX_COLUMN = syntax_error_at(BAD_SYNTAX, "max_forward_kmh = =")


@dataclass(frozen=True)
class Case:
    id: str
    problems: tuple[Expected, ...]
    machine: str | bytes = MACHINE
    profile: str = PROFILE
    patient: str | None = None  # None: no --patient
    missing: str | None = None  # this file is named on the command line but not written

    def write(self, directory: Path) -> list[str]:
        """Write the files; return the file options for `treadctl check`/`run`."""
        contents: dict[str, str | bytes | None] = {M: self.machine, PR: self.profile}
        if self.patient is not None:
            contents[PA] = self.patient
        for name, content in contents.items():
            if name == self.missing:
                continue
            if isinstance(content, bytes):
                (directory / name).write_bytes(content)
            elif content is not None:
                (directory / name).write_text(content, encoding="utf-8")
        args = ["--machine", M, "--profile", PR]
        if self.patient is not None:
            args += ["--patient", PA]
        return args


CASES = [
    # --- the file itself -------------------------------------------------------------
    Case(
        "missing-machine-file",
        ((M, "", "cannot read file: No such file or directory"),),
        missing=M,
    ),
    Case(
        "missing-profile-file",
        ((PR, "", "cannot read file: No such file or directory"),),
        missing=PR,
    ),
    Case(
        "missing-patient-file",
        ((PA, "", "cannot read file: No such file or directory"),),
        patient=PATIENT,
        missing=PA,
    ),
    Case(
        "not-utf8",
        ((M, "", "not UTF-8 text: invalid continuation byte"),),
        machine=MACHINE.encode().replace(
            b'"Simulated treadmill"', b'"Simulated treadmill caf\xe9"'
        ),
    ),
    Case(
        "toml-syntax-error",
        (
            (
                M,
                "",
                f"TOML syntax error: Invalid value (at line {SYNTAX_LINE}, column {SYNTAX_COLUMN})",
            ),
        ),
        machine=BAD_SYNTAX,
    ),
    # --- unknown fields (typos) --------------------------------------------------------
    Case(
        "unknown-field-top-level",
        ((M, "speed_stepkmh", unknown("speed_step_kmh")),),
        machine=edit(MACHINE, ("speed_step_kmh = 0.1", "speed_stepkmh = 0.1")),
    ),
    Case(
        "unknown-field-nested",
        (
            (M, "limits.forward.accel_mps2", "Field required"),
            (M, "limits.forward.acel_mps2", unknown("accel_mps2")),
        ),
        machine=edit(MACHINE, ("accel_mps2 = 0.25", "acel_mps2 = 0.25")),
    ),
    Case(
        "unknown-field-in-segment",
        ((PR, "blocks[0].segments[1].sped_kmh", unknown("speed_kmh")),),
        profile=edit(PROFILE, ("speed_kmh = 1.0", "sped_kmh = 1.0")),
    ),
    Case(
        "unknown-field-in-patient",
        (
            (PA, "comfortable_forward_kmh", "Field required"),
            (PA, "comfortable_fwd_kmh", unknown("comfortable_forward_kmh")),
        ),
        patient=edit(PATIENT, ("comfortable_forward_kmh = 3.2", "comfortable_fwd_kmh = 3.2")),
    ),
    # --- wrong types ---------------------------------------------------------------------
    Case(
        "wrong-type-string-for-number",
        ((M, "loop.rate_hz", NOT_A_NUMBER),),
        machine=edit(MACHINE, ("rate_hz = 50", 'rate_hz = "fast"')),
    ),
    Case(
        "wrong-type-array-for-number",
        ((M, "limits.max_forward_kmh", "Input should be a valid number"),),
        machine=edit(MACHINE, ("max_forward_kmh = 12.0", "max_forward_kmh = [12.0]")),
    ),
    Case(
        "wrong-type-number-for-boolean",
        ((M, "heart_rate.present", NOT_A_BOOLEAN),),
        machine=edit(MACHINE, ("present = false", "present = 2")),
    ),
    Case(
        "wrong-value-for-direction",
        (
            (
                PR,
                "blocks[0].segments[1].direction",
                "Input should be 'forward', 'backward' or 'rest'",
            ),
        ),
        profile=edit(PROFILE, ('direction = "backward"', 'direction = "sideways"')),
    ),
    Case(
        "wrong-type-numeric-string-for-number",
        ((M, "limits.max_forward_kmh", "Input should be a valid number"),),
        machine=edit(MACHINE, ("max_forward_kmh = 12.0", 'max_forward_kmh = "12"')),
    ),
    Case(
        "wrong-type-boolean-for-number",
        ((M, "limits.reverse_start_hold_s", "Input should be a valid number"),),
        machine=edit(MACHINE, ("reverse_start_hold_s = 10.0", "reverse_start_hold_s = true")),
    ),
    Case(
        "wrong-type-string-for-boolean",
        ((M, "heart_rate.present", "Input should be a valid boolean"),),
        machine=edit(MACHINE, ("present = false", 'present = "no"')),
    ),
    # --- values out of range -------------------------------------------------------------
    Case(
        "negative-machine-speed",
        ((M, "limits.max_forward_kmh", "must be above 0 km/h (-1 km/h given)"),),
        machine=edit(MACHINE, ("max_forward_kmh = 12.0", "max_forward_kmh = -1.0")),
    ),
    Case(
        "negative-segment-speed",
        ((PR, "blocks[0].segments[1].speed_kmh", "must be above 0 km/h (-1 km/h given)"),),
        profile=edit(PROFILE, ("speed_kmh = 1.0", "speed_kmh = -1.0")),
    ),
    Case(
        "machine-speed-above-bound",
        ((M, "limits.max_forward_kmh", "must be at most 25 km/h (30 km/h given)"),),
        machine=edit(MACHINE, ("max_forward_kmh = 12.0", "max_forward_kmh = 30.0")),
    ),
    Case(
        "two-problems-in-one-file",
        (
            (M, "limits.max_forward_kmh", "must be above 0 km/h (-1 km/h given)"),
            (M, "speed_step_kmh", "must be above 0 km/h (0 km/h given)"),
        ),
        machine=edit(
            MACHINE,
            ("max_forward_kmh = 12.0", "max_forward_kmh = -1.0"),
            ("speed_step_kmh = 0.1", "speed_step_kmh = 0"),
        ),
    ),
    Case(
        "max-backward-above-max-forward",
        ((M, "limits", "Value error, max_backward_kmh must not exceed max_forward_kmh"),),
        machine=edit(MACHINE, ("max_forward_kmh = 12.0", "max_forward_kmh = 4.0")),
    ),
    Case(
        "reverse-start-cap-above-max-backward",
        ((M, "limits", "Value error, reverse_start_cap_kmh must not exceed max_backward_kmh"),),
        machine=edit(MACHINE, ("reverse_start_cap_kmh = 1.5", "reverse_start_cap_kmh = 6.0")),
    ),
    Case(
        "quick-stop-below-forward-decel",
        (
            (
                M,
                "limits",
                "Value error, quick_stop_decel_mps2 must be at least forward.decel_mps2",
            ),
        ),
        machine=edit(MACHINE, ("quick_stop_decel_mps2 = 1.0", "quick_stop_decel_mps2 = 0.3")),
    ),
    Case(
        "quick-stop-below-backward-decel",
        (
            (
                M,
                "limits",
                "Value error, quick_stop_decel_mps2 must be at least backward.decel_mps2",
            ),
        ),
        machine=edit(MACHINE, ("decel_mps2 = 0.25", "decel_mps2 = 1.5")),
    ),
    Case(
        "backward-accel-above-forward-accel",
        ((M, "limits", "Value error, backward.accel_mps2 must not exceed forward.accel_mps2"),),
        machine=edit(MACHINE, ("accel_mps2 = 0.12", "accel_mps2 = 0.3")),
    ),
    Case(
        "drive-watchdog-shorter-than-two-periods",
        ((M, "watchdog.drive_read_timeout_s", re.compile(r".*two loop periods.*")),),
        machine=edit(MACHINE, ("drive_read_timeout_s = 0.1 ", "drive_read_timeout_s = 0.03 ")),
    ),
    Case(
        "input-watchdog-shorter-than-two-periods",
        ((M, "watchdog.input_read_timeout_s", re.compile(r".*two loop periods.*")),),
        machine=edit(MACHINE, ("input_read_timeout_s = 0.1 ", "input_read_timeout_s = 0.03 ")),
    ),
    Case(
        "patient-backward-cap-above-forward-cap",
        ((PA, "max_backward_kmh", re.compile(r".*must not exceed max_forward_kmh.*")),),
        patient=edit(PATIENT, ("max_backward_kmh = 2.5", "max_backward_kmh = 6.0")),
    ),
    # --- profile segments and blocks -----------------------------------------------------
    Case(
        "both-durations",
        (
            (
                PR,
                "blocks[0].segments[1]",
                "Value error, give exactly one of duration_s or duration_min",
            ),
        ),
        profile=edit(PROFILE, ("duration_s = 30", "duration_s = 30\n  duration_min = 0.5")),
    ),
    Case(
        "no-duration",
        (
            (
                PR,
                "blocks[0].segments[1]",
                "Value error, give exactly one of duration_s or duration_min",
            ),
        ),
        profile=edit(PROFILE, ("  duration_s = 30\n", "")),
    ),
    Case(
        "both-speeds",
        (
            (
                PR,
                "blocks[0].segments[1]",
                "Value error, give exactly one of speed_kmh or speed_pct_comfortable",
            ),
        ),
        profile=edit(PROFILE, ("speed_kmh = 1.0", "speed_kmh = 1.0\n  speed_pct_comfortable = 30")),
    ),
    Case(
        "no-speed",
        (
            (
                PR,
                "blocks[0].segments[1]",
                "Value error, give exactly one of speed_kmh or speed_pct_comfortable",
            ),
        ),
        profile=edit(PROFILE, ("  speed_kmh = 1.0\n", "")),
    ),
    Case(
        "rest-with-speed",
        ((PR, "blocks[0].segments[1]", "Value error, a rest segment has no speed"),),
        profile=edit(PROFILE, ('direction = "backward"', 'direction = "rest"')),
    ),
    Case(
        "empty-segments",
        (
            (
                PR,
                "blocks[0].segments",
                "List should have at least 1 item after validation, not 0",
            ),
        ),
        profile='name = "Nothing to walk"\n\n[[blocks]]\nname = "empty"\nsegments = []\n',
    ),
    Case(
        "empty-blocks",
        ((PR, "blocks", "List should have at least 1 item after validation, not 0"),),
        profile='name = "Nothing to walk"\nblocks = []\n',
    ),
    # --- patient -------------------------------------------------------------------------
    Case(
        "pseudonym-with-spaces",
        ((PA, "pseudonym", "String should match pattern '^[A-Za-z0-9_.\\-]+$'"),),
        patient=edit(PATIENT, ('"DEMO-001"', '"DEMO 001"')),
    ),
    # --- rules across files (protocol.plan.build_plan) -----------------------------------
    Case(
        "forward-speed-above-machine-max",
        (
            (
                PR,
                "blocks[1].segments[0].speed_kmh",
                "13.0 km/h is above the machine's forward maximum 12.0 km/h",
            ),
        ),
        profile=with_block("forward", "speed_kmh = 13.0"),
    ),
    Case(
        "backward-speed-above-machine-max",
        (
            (
                PR,
                "blocks[1].segments[0].speed_kmh",
                "6.0 km/h is above the machine's backward maximum 5.0 km/h",
            ),
        ),
        profile=with_block("backward", "speed_kmh = 6.0"),
    ),
    Case(
        "forward-speed-above-patient-cap",
        (
            (
                PR,
                "blocks[1].segments[0].speed_kmh",
                "6.0 km/h is above the patient's forward cap 5.0 km/h",
            ),
        ),
        profile=with_block("forward", "speed_kmh = 6.0"),
        patient=PATIENT,
    ),
    Case(
        "backward-speed-above-patient-cap",
        (
            (
                PR,
                "blocks[1].segments[0].speed_kmh",
                "3.0 km/h is above the patient's backward cap 2.5 km/h",
            ),
        ),
        profile=with_block("backward", "speed_kmh = 3.0"),
        patient=PATIENT,
    ),
    Case(
        "backward-not-slower-than-comfortable-forward",
        (
            (
                PR,
                "blocks[0].segments[1].speed_kmh",
                "backward target 1.0 km/h is not slower than the patient's comfortable "
                "forward speed 1.0 km/h",
            ),
        ),
        patient=edit(PATIENT, ("comfortable_forward_kmh = 3.2", "comfortable_forward_kmh = 1.0")),
    ),
    Case(
        "first-backward-above-reverse-start-cap",
        (
            (
                PR,
                "blocks[0].segments[1].speed_kmh",
                "first backward speed 2.0 km/h exceeds the reverse start cap 1.5 km/h",
            ),
        ),
        profile=edit(PROFILE, ("speed_kmh = 1.0", "speed_kmh = 2.0")),
    ),
    Case(
        "percentage-speed-without-patient",
        (
            (
                PR,
                "blocks[0].segments[1].speed_pct_comfortable",
                "needs a patient file (--patient)",
            ),
        ),
        profile=edit(PROFILE, ("speed_kmh = 1.0", "speed_pct_comfortable = 30")),
    ),
    Case(
        "heart-rate-required-without-sensor",
        ((PR, "heart_rate.required", "the machine file has no heart-rate sensor"),),
        profile=edit(PROFILE, ("[[blocks]]", "[heart_rate]\nrequired = true\n\n[[blocks]]")),
    ),
    Case(
        "several-cross-file-problems",
        (
            (
                PR,
                "blocks[0].segments[1].speed_kmh",
                "first backward speed 2.0 km/h exceeds the reverse start cap 1.5 km/h",
            ),
            (
                PR,
                "blocks[1].segments[0].speed_kmh",
                "13.0 km/h is above the machine's forward maximum 12.0 km/h",
            ),
        ),
        profile=edit(
            with_block("forward", "speed_kmh = 13.0"), ("speed_kmh = 1.0", "speed_kmh = 2.0")
        ),
    ),
    # --- several files at once: every problem in every file, in one run ------------------
    Case(
        "problems-in-all-three-files",
        (
            (M, "limits.forward.accel_mps2", "Field required"),
            (M, "limits.forward.acel_mps2", unknown("accel_mps2")),
            (
                PR,
                "blocks[0].segments[1]",
                "Value error, give exactly one of speed_kmh or speed_pct_comfortable",
            ),
            (PA, "pseudonym", "String should match pattern '^[A-Za-z0-9_.\\-]+$'"),
        ),
        machine=edit(MACHINE, ("accel_mps2 = 0.25", "acel_mps2 = 0.25")),
        profile=edit(PROFILE, ("speed_kmh = 1.0", "speed_kmh = 1.0\n  speed_pct_comfortable = 30")),
        patient=edit(PATIENT, ('"DEMO-001"', '"DEMO 001"')),
    ),
]

BY_ID = {c.id: c for c in CASES}
PARAMS = [pytest.param(c, id=c.id) for c in CASES]


def line_pattern(expected: Expected) -> re.Pattern[str]:
    source, field, reason = expected
    at = r"(?::\d+:\d+)?" if field else ""  # the line and column, where known
    where = re.escape(source) + at + (": " + re.escape(field) if field else "")
    body = reason.pattern if isinstance(reason, re.Pattern) else re.escape(reason)
    return re.compile(where + ": " + body)


def assert_lines(lines: list[str], expected: tuple[Expected, ...]) -> None:
    """One line per problem, in order, each naming the file, the field path and the reason."""
    patterns = [line_pattern(e) for e in expected]
    assert len(lines) == len(patterns), lines
    for line, pattern in zip(lines, patterns, strict=True):
        assert pattern.fullmatch(line), f"{line!r} does not match {pattern.pattern!r}"


def treadctl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "treadctl.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


RUN_AND_SIMULATE_CASES = [
    "problems-in-all-three-files",
    "missing-machine-file",
    "toml-syntax-error",
    "several-cross-file-problems",
]


def cli_args(verb: str, case: Case, directory: Path) -> list[str]:
    args = case.write(directory)
    if verb == "simulate":
        args.remove("--profile")  # simulate takes the profile as a positional argument
    extra = ["--headless"] if verb == "run" else []
    return [verb, *args, "--events", str(directory / "events.jsonl"), *extra]


def test_base_files_are_valid(tmp_path: Path) -> None:
    """The files every case is derived from pass, so each case's one change is the problem."""
    args = Case("base", (), patient=PATIENT).write(tmp_path)
    result = treadctl(tmp_path, "check", *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok: Demo: short backward bout: 3 segments, 1.0 min\n"
    assert result.stderr == ""


@pytest.mark.parametrize("case", PARAMS)
def test_check_prints_one_line_per_problem(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: Case,
) -> None:
    """`treadctl check`, in-process: the exit code and the stderr lines the operator sees."""
    args = case.write(tmp_path)
    monkeypatch.chdir(tmp_path)
    code = cli_main(["check", *args])
    out, err = capsys.readouterr()
    assert code == EXIT_CONFIG
    assert out == ""
    assert_lines(err.splitlines(), case.problems)


@pytest.mark.parametrize("case", PARAMS)
def test_load_session_returns_the_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    case.write(tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_session(Path(M), Path(PR), Path(PA) if case.patient is not None else None)
    problems = info.value.problems
    assert [(p.source, p.field) for p in problems] == [(s, f) for s, f, _ in case.problems]
    for problem, (_, _, reason) in zip(problems, case.problems, strict=True):
        if isinstance(reason, re.Pattern):
            assert reason.fullmatch(problem.reason), problem.reason
        else:
            assert problem.reason == reason
    assert str(info.value).splitlines() == [str(p) for p in problems]


@pytest.mark.parametrize("verb", ["run", "simulate"])
@pytest.mark.parametrize("case_id", RUN_AND_SIMULATE_CASES)
def test_run_and_simulate_refuse_bad_files_the_same_way(
    tmp_path: Path, verb: str, case_id: str
) -> None:
    """`run` and `simulate` load the same files the same way, print every problem, move nothing.

    A real process each, so the exit code and stderr are what a shell sees.
    """
    result = treadctl(tmp_path, *cli_args(verb, BY_ID[case_id], tmp_path))
    assert result.returncode == EXIT_CONFIG
    assert result.stdout == ""
    assert_lines(result.stderr.splitlines(), BY_ID[case_id].problems)
    events = [a for a in result.args if a.endswith("events.jsonl")]
    assert events
    assert not Path(events[0]).exists()  # nothing ran, nothing was logged
