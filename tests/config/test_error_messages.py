"""Config error messages a clinic can act on: where (line and column), what was meant, why.

Every problem from a schema check names `file:line:column: field.path: reason`, the line
and column being where the field's key is written in the file. A misspelt field gets the
nearest name the table has ("did you mean"); a bound is said with the field's unit, as
the other speed messages do ("must be at most 25 km/h"). Each case is a real file in
tmp_path loaded with `load_model`, the path every verb takes; one case goes through a
`treadctl check` process to see the lines the operator sees.
"""

from __future__ import annotations

import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import pytest
from pydantic import BaseModel

from treadctl.config.errors import ConfigError, ConfigProblem
from treadctl.config.loader import MAX_FILE_BYTES, UNKNOWN, load_model, loads_toml
from treadctl.config.machine import MachineConfig
from treadctl.config.messages import bound_in_words, unit_of
from treadctl.config.mqtt import MqttConfig
from treadctl.config.patient import PatientConfig
from treadctl.config.positions import TomlPositions
from treadctl.config.profile import ProfileConfig
from treadctl.drives.regmap import RegisterMap, load_map
from treadctl.sim.scenario import Scenario

EXIT_CONFIG = 2

MACHINE = """\
# a machine written for these tests
name = "Test treadmill"
speed_step_kmh = 0.1

[drive]
kind = "sim"

[limits]
max_forward_kmh = 12.0
max_backward_kmh = 5.0
reverse_start_cap_kmh = 1.5
quick_stop_decel_mps2 = 1.0

[limits.forward]
accel_mps2 = 0.25
decel_mps2 = 0.35
jerk_mps3 = 0.5

[limits.backward]
accel_mps2 = 0.12
decel_mps2 = 0.25
jerk_mps3 = 0.25
"""

PROFILE = """\
name = "Two blocks"

[[blocks]]
name = "first"
  [[blocks.segments]]
  direction = "forward"
  duration_s = 15
  speed_kmh = 2.0
  [[blocks.segments]]
  direction = "backward"
  duration_s = 30
  speed_kmh = 1.0

[[blocks]]
name = "second"
  [[blocks.segments]]
  direction = "forward"
  duration_s = 15
  speed_kmh = 2.0
  [[blocks.segments]]   # blocks[1].segments[1]
  direction = "backward"
  duration_s = 30
  speed_kmh = 1.0
"""


def edit(text: str, old: str, new: str, *, nth: int = 1) -> str:
    """`text` with the `nth` occurrence of `old` replaced by `new`."""
    at = -1
    for _ in range(nth):
        at = text.index(old, at + 1)
    return text[:at] + new + text[at + len(old) :]


def where(text: str, snippet: str, *, nth: int = 1, offset: int = 0) -> tuple[int, int]:
    """Line and column (from 1) of the `nth` `snippet` in `text`, `offset` characters in."""
    at = -1
    for _ in range(nth):
        at = text.index(snippet, at + 1)
    at += offset
    line = text.count("\n", 0, at) + 1
    return line, at - (text.rfind("\n", 0, at) + 1) + 1


def problems(tmp_path: Path, text: str, model: type[BaseModel]) -> list[ConfigProblem]:
    path = tmp_path / "file.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_model(path, model)
    return info.value.problems


def placed(problem: ConfigProblem) -> tuple[str, int | None, int | None, str]:
    return problem.field, problem.line, problem.column, problem.reason


def test_the_test_files_are_valid(tmp_path: Path) -> None:
    (tmp_path / "m.toml").write_text(MACHINE, encoding="utf-8")
    (tmp_path / "p.toml").write_text(PROFILE, encoding="utf-8")
    load_model(tmp_path / "m.toml", MachineConfig)
    load_model(tmp_path / "p.toml", ProfileConfig)


# --- where: the line and column of the key ------------------------------------------------


def test_a_key_in_a_nested_table(tmp_path: Path) -> None:
    text = edit(MACHINE, "decel_mps2 = 0.25", "decel_mps2 = 3.0")  # in [limits.backward]
    (problem,) = problems(tmp_path, text, MachineConfig)
    line, column = where(text, "decel_mps2 = 3.0")
    assert placed(problem) == (
        "limits.backward.decel_mps2",
        line,
        column,
        "must be at most 2 m/s² (3 m/s² given)",
    )
    assert str(problem) == (
        f"{tmp_path / 'file.toml'}:{line}:1: limits.backward.decel_mps2: "
        "must be at most 2 m/s² (3 m/s² given)"
    )


def test_a_key_in_an_array_of_tables(tmp_path: Path) -> None:
    """The second segment of the second block: `[[blocks.segments]]` counted per block."""
    text = edit(PROFILE, "speed_kmh = 1.0", "speed_kmh = 30.0", nth=2)
    (problem,) = problems(tmp_path, text, ProfileConfig)
    assert placed(problem) == (
        "blocks[1].segments[1].speed_kmh",
        *where(text, "speed_kmh = 30.0"),
        "must be at most 25 km/h (30 km/h given)",
    )
    assert problem.column == 3  # indented two spaces


def test_a_whole_segment_is_placed_at_its_header(tmp_path: Path) -> None:
    """A rule between fields of one segment blames the segment: its `[[blocks.segments]]`."""
    text = edit(PROFILE, "speed_kmh = 2.0", "speed_kmh = 2.0\n  speed_pct_comfortable = 50", nth=2)
    (problem,) = problems(tmp_path, text, ProfileConfig)
    assert placed(problem) == (
        "blocks[1].segments[0]",
        *where(text, "[[blocks.segments]]", nth=3),
        "Value error, give exactly one of speed_kmh or speed_pct_comfortable",
    )


DOTTED = """\
name = "Test treadmill"
watchdog.drive_read_timeout_s = 5

[limits]
max_forward_kmh = 12.0
max_backward_kmh = 5.0
reverse_start_cap_kmh = 1.5
quick_stop_decel_mps2 = 1.0
forward.accel_mps2 = 2.5
forward.decel_mps2 = 0.35
forward.jerk_mps3 = 0.5
backward = { accel_mps2 = 0.12, decel_mps2 = 0.25, jerk_mps3 = 0.25 }
"""


def test_dotted_keys_point_at_their_part(tmp_path: Path) -> None:
    """A top-level `watchdog.drive_read_timeout_s`, and `forward.accel_mps2` in `[limits]`."""
    found = [placed(p) for p in problems(tmp_path, DOTTED, MachineConfig)]
    assert found == [
        (
            "limits.forward.accel_mps2",
            *where(DOTTED, "accel_mps2 = 2.5"),  # the part named, not the line's start
            "must be at most 2 m/s² (2.5 m/s² given)",
        ),
        (
            "watchdog.drive_read_timeout_s",
            *where(DOTTED, "drive_read_timeout_s"),
            "must be at most 2 s (5 s given)",
        ),
    ]
    assert [f[1:3] for f in found] == [(9, 9), (2, 10)]


def test_a_key_in_an_inline_table_and_no_union_tags_in_the_path(tmp_path: Path) -> None:
    """pydantic's location is drive.modbus.link.tcp.port; the file's is drive.link.port."""
    text = edit(
        MACHINE,
        'kind = "sim"',
        'kind = "modbus"\nmap = "generic"\nkmh_per_hz = 0.1\n'
        'link = { kind = "tcp", host = "10.0.0.2", port = 0 }',
    )
    (problem,) = problems(tmp_path, text, MachineConfig)
    assert placed(problem) == (
        "drive.link.port",
        *where(text, "port = 0"),
        "must be at least 1 (0 given)",
    )


def test_a_missing_field_points_at_its_table(tmp_path: Path) -> None:
    text = edit(MACHINE, "jerk_mps3 = 0.5\n", "")
    (problem,) = problems(tmp_path, text, MachineConfig)
    assert placed(problem) == (
        "limits.forward.jerk_mps3",
        *where(text, "forward]"),
        "Field required",
    )


def test_no_line_rather_than_a_wrong_one(tmp_path: Path) -> None:
    """A missing top-level table and a default that is blamed are written nowhere."""
    text = MACHINE[: MACHINE.index("[limits]")] + '[safety_inputs]\nkind = "modbus"\n'
    found = problems(tmp_path, text, MachineConfig)
    assert [placed(p) for p in found] == [("limits", None, None, "Field required")]
    assert str(found[0]) == f"{tmp_path / 'file.toml'}: limits: Field required"
    # the whole machine is fine but for safety_inputs.link, left at its default "drive"
    text = MACHINE + '\n[safety_inputs]\nkind = "modbus"\n'
    (problem,) = problems(tmp_path, text, MachineConfig)
    assert placed(problem) == ("safety_inputs.link", None, None, '"drive" needs a Modbus drive')


def test_brackets_equals_and_hashes_in_strings_and_comments_do_not_mislead() -> None:
    text = """\
name = "[limits] # not a table"   # [drive] neither
notes = '''
[limits]
max_forward_kmh = 99
'''
"odd.key" = "a = b"
esc\\u0061ped = 1
[ limits . "forward" ]   # spaces and a quoted part
accel_mps2 = [0.1, [0.2, { x = 1 }], { y.z = "]" }]
"""
    text = text.replace("esc\\u0061ped = 1", '"esc\\u0061ped" = 1')
    data = loads_toml(text, "t")
    assert data["escaped"] == 1
    at = TomlPositions(text)
    assert at.find(("limits",)) == where(text, "limits . ")
    assert at.find(("limits", "max_forward_kmh")) is None  # only inside a string
    assert at.find(("odd.key",)) == (6, 1)
    assert at.find(("escaped",)) == (7, 1)
    assert at.find(("limits", "forward")) == where(text, '"forward"')
    assert at.find(("limits", "forward", "accel_mps2")) == (9, 1)
    assert at.find(("limits", "forward", "accel_mps2", 1, 1, "x")) == where(text, "x = 1")
    assert at.find(("limits", "forward", "accel_mps2", 2, "y", "z")) == where(text, "z =")
    assert at.find(("limits", "forward", "accel_mps2", 3)) is None


# --- what was meant: did you mean ---------------------------------------------------------


def test_a_near_miss_gets_the_field_meant(tmp_path: Path) -> None:
    text = edit(MACHINE, "max_forward_kmh = 12.0", "max_forwrd_kmh = 12.0")
    found = [placed(p) for p in problems(tmp_path, text, MachineConfig)]
    assert found == [
        ("limits.max_forward_kmh", *where(text, "limits]"), "Field required"),
        (
            "limits.max_forwrd_kmh",
            *where(text, "max_forwrd_kmh"),
            "unknown field; did you mean max_forward_kmh?",
        ),
    ]


def test_a_far_miss_gets_no_guess(tmp_path: Path) -> None:
    text = edit(MACHINE, "[limits]\n", '[limits]\ncolour = "red"\n')
    (problem,) = problems(tmp_path, text, MachineConfig)
    assert placed(problem) == ("limits.colour", *where(text, "colour"), UNKNOWN)
    assert UNKNOWN == "unknown field (check the spelling)"


def test_the_guess_comes_from_the_table_the_key_is_in(tmp_path: Path) -> None:
    """`direction` is a segment's field: in a block it is a near miss of nothing there."""
    text = edit(PROFILE, 'name = "second"', 'name = "second"\ndirections = "forward"')
    text = edit(text, "speed_kmh = 1.0", "sped_kmh = 1.0", nth=2)
    found = [placed(p) for p in problems(tmp_path, text, ProfileConfig)]
    assert found == [
        (
            "blocks[1].segments[1].sped_kmh",
            *where(text, "sped_kmh"),
            "unknown field; did you mean speed_kmh?",
        ),
        ("blocks[1].directions", *where(text, "directions"), UNKNOWN),
    ]


def _sample(package: str, name: str) -> str:
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


MQTT = (Path(__file__).resolve().parents[2] / "examples/mqtt/mqtt.toml").read_text("utf-8")


@pytest.mark.parametrize(
    ("model", "text", "misspelt", "meant"),
    [
        (MachineConfig, MACHINE, "speed_stp_kmh", "speed_step_kmh"),
        (ProfileConfig, PROFILE, "descripton", "description"),
        (PatientConfig, _sample("treadctl.samples.patients", "demo.toml"), "pseudonm", "pseudonym"),
        (
            Scenario,
            _sample("treadctl.samples.scenarios", "key-pull.toml"),
            "decription",
            "description",
        ),
        (MqttConfig, MQTT, "treadmil", "treadmill"),
        (RegisterMap, _sample("treadctl.drives.maps", "generic.toml"), "max_hzz", "max_hz"),
    ],
    ids=["machine", "profile", "patient", "scenario", "mqtt", "register-map"],
)
def test_every_kind_of_file(
    tmp_path: Path, model: type[BaseModel], text: str, misspelt: str, meant: str
) -> None:
    """A misspelt top-level field, written first: line 1, column 1, and the field meant."""
    text = f"{misspelt} = 1\n{text}"
    (problem,) = problems(tmp_path, text, model)
    assert placed(problem) == (misspelt, 1, 1, f"unknown field; did you mean {meant}?")


def test_a_register_map_through_load_map(tmp_path: Path) -> None:
    text = _sample("treadctl.drives.maps", "generic.toml")
    path = tmp_path / "mine.toml"
    path.write_text(edit(text, "counts_per_hz = 100\n", "counts_per_hz = 0\n"), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_map(str(path))
    (problem,) = info.value.problems
    written = path.read_text(encoding="utf-8")
    assert placed(problem) == (
        "reference.counts_per_hz",
        *where(written, "counts_per_hz = 0"),
        "must be above 0 counts per Hz (0 counts per Hz given)",
    )


# --- why: bounds in words, with the unit from the field's name ------------------------------


@pytest.mark.parametrize(
    ("field", "unit"),
    [
        ("max_forward_kmh", "km/h"),
        ("duration_s", "s"),
        ("incline_pct", "%"),
        ("rate_hz", "Hz"),
        ("hr_plausible_min_bpm", "bpm"),
        ("accel_mps2", "m/s²"),
        ("jerk_mps3", "m/s³"),
        ("duration_min", "min"),
        ("body_mass_kg", "kg"),
        ("cadence_spm", "steps/min"),
        ("cadence_steps_per_min", "steps/min"),
        ("speed_pct_comfortable", "% of the comfortable speed"),
        ("drive_ramp_kmh_per_s", "km/h per s"),
        ("kmh_per_hz", "km/h per Hz"),  # not Hz
        ("motor_rev_per_s_per_hz", None),  # a rate not known: no unit rather than a wrong one
        ("port", None),
        ("wire_budget_fraction", None),
    ],
)
def test_the_unit_comes_from_the_field_name(field: str, unit: str | None) -> None:
    assert unit_of(field) == unit


@pytest.mark.parametrize(
    ("error_type", "ctx", "given", "words"),
    [
        ("less_than_equal", {"le": 25.0}, 30.0, "must be at most 25 km/h (30 km/h given)"),
        ("less_than", {"lt": 25}, 25, "must be below 25 km/h (25 km/h given)"),
        ("greater_than_equal", {"ge": 0.5}, 0.25, "must be at least 0.5 km/h (0.25 km/h given)"),
        ("greater_than", {"gt": 0.0}, 0.0, "must be above 0 km/h (0 km/h given)"),
        ("greater_than", {"gt": 0.0}, -(10**40), "must be above 0 km/h"),  # too long to show
    ],
)
def test_each_bound_keeps_its_meaning(
    error_type: str, ctx: dict[str, float], given: float, words: str
) -> None:
    assert bound_in_words(error_type, ctx, given, "speed_kmh") == words


def test_other_errors_keep_pydantics_words() -> None:
    assert bound_in_words("float_type", {}, "fast", "speed_kmh") is None


def test_a_speed_bound_in_a_patient_file(tmp_path: Path) -> None:
    text = 'pseudonym = "P-1"\ncomfortable_forward_kmh = 20\n'
    (problem,) = problems(tmp_path, text, PatientConfig)
    assert placed(problem) == (
        "comfortable_forward_kmh",
        2,
        1,
        "must be at most 12 km/h (20 km/h given)",
    )


# --- the hostile-input bounds still hold ---------------------------------------------------


def test_the_scan_is_linear_on_the_largest_file() -> None:
    """The biggest files the loader takes, in the shapes that make the most entries, are
    located in well under a second each (a quadratic scan would take minutes)."""
    shapes = {
        "tables": "[[a]]\nx = 1\n",
        "keys": "k{n} = 1\n",
        "array": None,
        "dotted": "a.b.c.d.e{n} = 1\n",
    }
    for name, line in shapes.items():
        if line is None:
            text = "a = [" + "1," * (MAX_FILE_BYTES // 2 - 8) + "]\n"
        else:
            parts, n = [], 0
            size = 0
            while size < MAX_FILE_BYTES - 64:
                parts.append(line.format(n=n))
                size += len(parts[-1])
                n += 1
            text = "".join(parts)
        assert len(text.encode()) <= MAX_FILE_BYTES
        loads_toml(text, name)
        started = time.thread_time()  # CPU time: a loaded machine's waits are not the scan's
        at = TomlPositions(text)
        elapsed = time.thread_time() - started
        assert elapsed < 5, (name, elapsed)
        if name == "tables":
            last = text.count("[[a]]") - 1
            assert at.find(("a", last, "x")) == (2 * last + 2, 1)
        if name == "array":
            assert at.find(("a", 1000)) == (1, 6 + 2 * 1000)


# --- through the CLI ---------------------------------------------------------------------


def test_treadctl_check_prints_where_what_and_why(tmp_path: Path) -> None:
    machine = edit(MACHINE, "max_forward_kmh = 12.0", "max_forward_kmh = 30.0")
    machine = edit(machine, "speed_step_kmh", "speed_stepkmh")
    profile = edit(PROFILE, "duration_s = 30", "duraton_s = 30", nth=2)
    (tmp_path / "machine.toml").write_text(machine, encoding="utf-8")
    (tmp_path / "profile.toml").write_text(profile, encoding="utf-8")
    args = ["check", "--machine", "machine.toml", "--profile", "profile.toml"]
    result = subprocess.run(
        [sys.executable, "-m", "treadctl.cli", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert result.returncode == EXIT_CONFIG
    assert result.stdout == ""
    max_line = machine.splitlines().index("max_forward_kmh = 30.0") + 1
    duration_line = profile.splitlines().index("  duraton_s = 30") + 1
    # in the order of the fields in the schema, each with its place in the file
    assert result.stderr.splitlines() == [
        f"machine.toml:{max_line}:1: limits.max_forward_kmh: must be at most 25 km/h "
        "(30 km/h given)",
        "machine.toml:3:1: speed_stepkmh: unknown field; did you mean speed_step_kmh?",
        f"profile.toml:{duration_line}:3: blocks[1].segments[1].duraton_s: unknown field; "
        "did you mean duration_s?",
    ]


def _paths(data: object, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    out = [path] if path else []
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out += _paths(value, (*path, index))
    return out


def _shipped() -> list[Path]:
    root = Path(__file__).resolve().parents[2]
    samples = Path(str(resources.files("treadctl.samples")))
    maps = Path(str(resources.files("treadctl.drives.maps")))
    return sorted(
        [*samples.rglob("*.toml"), *maps.glob("*.toml"), *(root / "examples").rglob("*.toml")]
    )


@pytest.mark.parametrize("path", _shipped(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_key_of_every_shipped_file_is_found_where_it_is(path: Path) -> None:
    """Each path in the parsed data is placed on its key (or its `[[header]]`), no other."""
    text = path.read_text(encoding="utf-8")
    at = TomlPositions(text)
    lines = text.splitlines()
    for key in _paths(loads_toml(text, path)):
        position = at.find(key)
        assert position is not None, key
        line, column = position
        written = lines[line - 1][column - 1 :]
        if isinstance(key[-1], int):  # an element: its [[header]], or its value in [ ]
            assert written.startswith("[[") or written[:1] not in ("", " ", ",", "]", "#"), key
        else:
            assert written.startswith((key[-1], f'"{key[-1]}"', f"'{key[-1]}'")), (key, written)
