"""Hostile config files: refused with a line naming the file, promptly, never a traceback.

Issue 17: fuzzing found TOML nested 400 deep crashing `treadctl check` (RecursionError),
inf accepted as a cap, a FIFO hanging check forever, /dev/zero ending in MemoryError
and a 20,000-part dotted key taking over 6 s. Here:

- explicit cases for each finding and for each limit of `treadctl.config.loader`
  (exactly at the limit passes, one past it is refused), and that brackets, dots and
  quotes inside strings and comments are never counted against a valid file;
- inf, -inf and nan put in place of every number of every shipped machine, patient,
  profile and scenario file: refused, naming that field;
- hypothesis-generated hostile texts (deep nesting, long dotted keys, random bytes,
  huge numbers, wrong types, BOMs, NUL bytes, truncations) through `load_model` with
  the machine, patient and profile models: a `ConfigError` whose every line names the
  file, or (for the rare mutation that leaves a valid file) a model, within
  `PER_FILE_S`;
- a handful of real `treadctl check` processes, started together, for the exit code 2
  and stderr a shell sees.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from treadctl.config.errors import ConfigError, ConfigProblem
from treadctl.config.loader import (
    FINITE,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_KEY_PARTS,
    load_model,
    read_toml,
)
from treadctl.config.machine import MachineConfig
from treadctl.config.patient import PatientConfig
from treadctl.config.profile import ProfileConfig
from treadctl.sim.scenario import Scenario

REPO = Path(__file__).resolve().parents[2]
MACHINE = (REPO / "src/treadctl/samples/machines" / "sim.toml").read_text(encoding="utf-8")
PATIENT = (REPO / "src/treadctl/samples/patients" / "demo.toml").read_text(encoding="utf-8")
PROFILE = (REPO / "profiles" / "demo-short.toml").read_text(encoding="utf-8")
BASES: tuple[tuple[type[BaseModel], str], ...] = (
    (MachineConfig, MACHINE),
    (PatientConfig, PATIENT),
    (ProfileConfig, PROFILE),
)
SHIPPED: list[tuple[type[BaseModel], Path]] = [
    *((MachineConfig, p) for p in sorted((REPO / "src/treadctl/samples/machines").glob("*.toml"))),
    *((PatientConfig, p) for p in sorted((REPO / "src/treadctl/samples/patients").glob("*.toml"))),
    *((ProfileConfig, p) for p in sorted((REPO / "profiles").glob("*.toml"))),
    *((Scenario, p) for p in sorted((REPO / "src/treadctl/samples/scenarios").glob("*.toml"))),
]
# A file is refused (or loaded) within this, on a loaded 2-core machine; the worst text
# within the limits takes about a second, a hostile one is refused in milliseconds.
PER_FILE_S = 3.0
FAST_S = 0.5  # what a refusal before parsing may take
EXIT_CONFIG = 2

# `key = number` outside comments and strings (the shipped files keep it that simple).
NUMBER = re.compile(
    r"(?P<key>[A-Za-z_][\w-]*)\s*=\s*"
    r"(?P<num>[+-]?\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?)(?=\s*(?:[#,}\]]|$))",
    re.MULTILINE,
)


def number_sites(text: str) -> list[re.Match[str]]:
    sites = []
    for match in NUMBER.finditer(text):
        line_start = text.rfind("\n", 0, match.start()) + 1
        before = text[line_start : match.start()]
        if "#" not in before and '"' not in before and "'" not in before:
            sites.append(match)
    return sites


def replace_number(text: str, site: re.Match[str], value: str) -> str:
    return text[: site.start("num")] + value + text[site.end("num") :]


def write(directory: Path, name: str, content: str | bytes) -> Path:
    path = directory / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


def refused(path: Path, model: type[BaseModel] = MachineConfig) -> list[str]:
    """The reasons `path` is refused for; each problem must name the file."""
    started = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_model(path, model)
    elapsed = time.perf_counter() - started
    assert elapsed < PER_FILE_S, f"{path.name}: {elapsed:.2f} s"
    problems = info.value.problems
    assert problems
    for problem in problems:
        assert problem.source == str(path)
        assert problem.reason
    return [p.reason if not p.field else f"{p.field}: {p.reason}" for p in problems]


def fast_refusal(path: Path, reason: str) -> None:
    started = time.perf_counter()
    assert refused(path) == [reason]
    assert time.perf_counter() - started < FAST_S


# --- the findings of issue 17 -------------------------------------------------------------


@pytest.mark.parametrize("depth", [400, 5000])
def test_deep_inline_tables_and_arrays_are_refused_before_parsing(
    tmp_path: Path, depth: int
) -> None:
    deep = f"nested deeper than {MAX_DEPTH} levels"
    tables = write(tmp_path, "tables.toml", "a = " + "{b = " * depth + "1" + "}" * depth + "\n")
    arrays = write(tmp_path, "arrays.toml", "a = " + "[" * depth + "1" + "]" * depth + "\n")
    unclosed = write(tmp_path, "unclosed.toml", "a = " + "[{x = " * depth)
    for path in (tables, arrays, unclosed):
        fast_refusal(path, deep)


def test_a_20000_part_dotted_key_is_refused_fast(tmp_path: Path) -> None:
    too_long = f"a dotted key of more than {MAX_KEY_PARTS} parts"
    parts = ".".join(["a"] * 20_000)
    fast_refusal(write(tmp_path, "key.toml", f"{parts} = 1\n"), too_long)
    fast_refusal(write(tmp_path, "header.toml", f"[{parts}]\nx = 1\n"), too_long)
    fast_refusal(write(tmp_path, "aot.toml", f"[[{parts}]]\n"), too_long)
    fast_refusal(write(tmp_path, "inline.toml", f"t = {{ {parts} = 1 }}\n"), too_long)
    quoted = ".".join(['"a"'] * 20_000)
    fast_refusal(write(tmp_path, "quoted.toml", f"{quoted} = 1\n"), too_long)
    spaced = " . ".join(["a"] * 20_000)
    fast_refusal(write(tmp_path, "spaced.toml", f"{spaced} = 1\n"), too_long)


def test_inf_caps_are_refused(tmp_path: Path) -> None:
    machine = write(
        tmp_path,
        "machine.toml",
        MACHINE.replace("rail_release_cap_kmh = 1.0", "rail_release_cap_kmh = inf"),
    )
    assert refused(machine) == [f"limits.rail_release_cap_kmh: {FINITE}"]
    patient = write(
        tmp_path,
        "patient.toml",
        PATIENT.replace("max_forward_kmh = 5.0", "max_forward_kmh = inf"),
    )
    assert refused(patient, PatientConfig) == [f"max_forward_kmh: {FINITE}"]


def load_in_thread(path: Path) -> tuple[threading.Thread, list[BaseException | object]]:
    """Load in a daemon thread, so a read that blocks fails the test instead of hanging it."""
    outcome: list[BaseException | object] = []

    def target() -> None:
        try:
            outcome.append(load_model(path, MachineConfig))
        except BaseException as exc:  # the test reports whatever came out
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=5)
    return thread, outcome


def test_a_fifo_is_refused_promptly_never_read(tmp_path: Path) -> None:
    fifo = tmp_path / "machine.toml"
    os.mkfifo(fifo)
    thread, outcome = load_in_thread(fifo)
    assert not thread.is_alive(), "loading a FIFO blocked"
    [error] = outcome
    assert isinstance(error, ConfigError)
    assert str(error) == f"{fifo}: not a regular file: a FIFO (named pipe)"


def test_a_fifo_swapped_in_after_stat_is_refused_without_blocking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The path checked by stat is not always the file opened: the opened file is
    checked again, and it is opened without blocking (a FIFO with no writer)."""
    fifo = tmp_path / "machine.toml"
    os.mkfifo(fifo)
    regular = write(tmp_path, "regular.toml", "x = 1\n").stat()
    real_stat = os.stat

    def stat_says_regular(path: os.PathLike[str] | str, *args: object, **kw: object) -> object:
        if Path(path) == fifo:
            return regular
        return real_stat(path, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "stat", stat_says_regular)
    thread, outcome = load_in_thread(fifo)
    monkeypatch.undo()
    assert not thread.is_alive(), "opening a FIFO blocked"
    [error] = outcome
    assert isinstance(error, ConfigError)
    assert str(error) == f"{fifo}: not a regular file: a FIFO (named pipe)"


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/dev/zero", "a character device"), ("/dev/null", "a character device")],
)
def test_devices_are_refused_never_read(path: str, kind: str) -> None:
    if not Path(path).exists():
        pytest.skip(f"no {path} here")
    started = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        read_toml(Path(path))
    assert str(info.value) == f"{path}: not a regular file: {kind}"
    assert time.perf_counter() - started < FAST_S


def test_a_directory_and_a_missing_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        read_toml(tmp_path)
    assert str(info.value) == f"{tmp_path}: not a regular file: a directory"
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError) as info:
        read_toml(missing)
    assert str(info.value) == f"{missing}: cannot read file: No such file or directory"


# --- the limits, at and one past -------------------------------------------------------------


def test_size_limit(tmp_path: Path) -> None:
    filler = "# " + "x" * 77 + "\n"
    at_limit = "x = 1\n" + filler * ((MAX_FILE_BYTES - 6) // len(filler))
    at_limit += "#" * (MAX_FILE_BYTES - len(at_limit) - 1) + "\n"
    assert len(at_limit) == MAX_FILE_BYTES
    assert read_toml(write(tmp_path, "at.toml", at_limit)) == {"x": 1}
    over = write(tmp_path, "over.toml", at_limit + "\n")
    fast_refusal(over, f"larger than {MAX_FILE_BYTES} bytes (the limit for a config file)")


def test_depth_limit(tmp_path: Path) -> None:
    n = MAX_DEPTH
    assert read_toml(write(tmp_path, "a.toml", "a = " + "[" * n + "]" * n))["a"] is not None
    fast_refusal(
        write(tmp_path, "b.toml", "a = " + "[" * (n + 1) + "]" * (n + 1)),
        f"nested deeper than {n} levels",
    )
    # within each limit in the text, too deep as data: a table header, a dotted key and
    # brackets together
    half = ".".join(["t"] * (MAX_KEY_PARTS - 1))
    combined = f"[{half}]\n{half} = " + "[" * 4 + "]" * 4 + "\n"
    fast_refusal(write(tmp_path, "c.toml", combined), f"nested deeper than {n} levels")


def test_dotted_key_limit(tmp_path: Path) -> None:
    at = ".".join(f"k{i}" for i in range(MAX_KEY_PARTS))
    data = read_toml(write(tmp_path, "at.toml", f"{at} = 1\n[h.{at[3:]}]\n"))
    assert data["k0"]["k1"] is not None
    assert data["h"]["k1"]["k2"] is not None
    over = ".".join(f"k{i}" for i in range(MAX_KEY_PARTS + 1))
    fast_refusal(
        write(tmp_path, "over.toml", f"{over} = 1\n"),
        f"a dotted key of more than {MAX_KEY_PARTS} parts",
    )


def test_brackets_and_dots_in_strings_and_comments_do_not_count(tmp_path: Path) -> None:
    """The scanner skips every kind of TOML string and comments: no valid file is refused
    for what its text says."""
    many = "[{." * 200
    text = (
        f'basic = "{many} \\" {many}"\n'
        f"literal = '{many}'\n"
        f'multi = """\n{many}\n"" {many} \\"""\n{many}"""""\n'
        f"multi_literal = '''\n{many}\n'' {many}''''\n"
        f"# {many}\n"
        f'"{many}" = 1  # {many}\n'
        f"'{many}!'.x = 2\n"
        f"floats = [{', '.join(['1.5'] * 100)}]\n"
        f'dates = "1979-05-27T07:32:00.999999"\n'
        f"[table]  # {many}\n"
        f'"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r" = 3\n'
    )
    data = read_toml(write(tmp_path, "strings.toml", text))
    assert data["basic"] == f'{many} " {many}'
    assert data["multi"].endswith(f'{many}""')
    assert data["multi_literal"].endswith(f"{many}'")
    assert data[many] == 1
    assert data[f"{many}!"] == {"x": 2}
    assert data["table"]["a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r"] == 3


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\xef\xbb\xbf" + MACHINE.encode(), "byte-order mark"),
        (b"\xff\xfe" + MACHINE.encode("utf-16-le"), "byte-order mark"),
        (b'name = "a\x00b"\n', "TOML syntax error"),
        (b"\x00" * 100, "TOML syntax error"),
        (b"name = \xff\xfe\n", "not UTF-8 text"),
        (b"x = " + b"9" * 5000 + b"\n", "a value cannot be decoded"),
        (b"x = 1" + b"0" * 400 + b"\n", "Input should be a valid number"),
        (b"x = 1e999\n", FINITE),
        (b"x = -1e999\n", FINITE),
        (b"x = nan\n", FINITE),
        (b"", "Field required"),
        (b'x = """' + b"[" * 1000, "nested deeper than"),  # counted: not a string
    ],
    ids=[
        "utf8-bom",
        "utf16-bom",
        "nul-in-string",
        "nul-bytes",
        "not-utf8",
        "5000-digit-int",
        "400-digit-int",
        "1e999",
        "-1e999",
        "nan",
        "empty",
        "unterminated-multiline",
    ],
)
def test_odd_bytes_are_refused_with_a_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    text = content.decode("latin-1")
    if text.startswith("x ="):  # a field of a model that exists, so the value is judged
        content = content.replace(b"x =", b"speed_step_kmh =", 1)
    reasons = refused(write(tmp_path, "odd.toml", content))
    assert any(reason in r for r in reasons), reasons


# --- every number of every shipped file, made non-finite ---------------------------------


@pytest.mark.parametrize(
    ("model", "path"),
    [pytest.param(m, p, id=str(p.relative_to(REPO))) for m, p in SHIPPED],
)
def test_every_number_of_every_shipped_file_refuses_inf_and_nan(
    tmp_path: Path, model: type[BaseModel], path: Path
) -> None:
    text = path.read_text(encoding="utf-8")
    load_model(path, model)  # the file itself is valid
    sites = number_sites(text)
    assert sites or model is PatientConfig
    for site in sites:
        key = site.group("key")
        for value in ("inf", "-inf", "+inf", "nan", "-nan", "1e999"):
            bad = write(tmp_path, path.name, replace_number(text, site, value))
            reasons = refused(bad, model)
            named = [r for r in reasons if r.split(": ")[0].split(".")[-1] == key]
            assert named, (key, value, reasons)


# --- generated hostile texts -----------------------------------------------------------------


def nested(depth: int, kind: str) -> str:
    if kind == "tables":
        return "a = " + "{b = " * depth + "1" + "}" * depth + "\n"
    if kind == "arrays":
        return "a = " + "[" * depth + "1" + "]" * depth + "\n"
    if kind == "mixed":
        return "a = " + "[{b = " * depth + "1" + "}]" * depth + "\n"
    return "a = " + "[" * depth  # unclosed


def dotted(parts: int, form: str) -> str:
    key = ".".join(["k"] * parts) if form != "quoted" else ".".join(['"k"'] * parts)
    return f"[{key}]\n" if form == "header" else f"{key} = 1\n"


WRONG_VALUES = (
    '"12"',
    "true",
    "[1, 2]",
    "{ a = 1 }",
    "1979-05-27",
    "07:32:00",
    "1979-05-27T07:32:00Z",
    '""',
    "-0.0",
    "0",
    "-1",
    "1e308",
    "9" * 300,
    "9" * 4400,
    "0x7fffffffffffffff",
    "1_000_000",
    "inf",
    "nan",
    "-inf",
)


@st.composite
def mutated_base(draw: st.DrawFn) -> tuple[type[BaseModel], bytes]:
    model, text = draw(st.sampled_from(BASES))
    how = draw(st.sampled_from(["value", "bom", "nul", "truncate", "insert", "append"]))
    if how == "value":
        sites = number_sites(text)
        site = draw(st.sampled_from(sites))
        return model, replace_number(text, site, draw(st.sampled_from(WRONG_VALUES))).encode()
    raw = text.encode()
    at = draw(st.integers(0, len(raw)))
    if how == "bom":
        return model, draw(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"])) + raw
    if how == "nul":
        return model, raw[:at] + b"\x00" + raw[at:]
    if how == "truncate":
        return model, raw[:at]
    junk = draw(st.binary(min_size=1, max_size=64))
    return model, (raw[:at] + junk + raw[at:]) if how == "insert" else raw + junk


hostile = st.one_of(
    st.tuples(
        st.sampled_from([m for m, _ in BASES]),
        st.builds(
            nested,
            st.integers(MAX_DEPTH + 1, 3000),
            st.sampled_from(["tables", "arrays", "mixed", "unclosed"]),
        ).map(str.encode),
    ),
    st.tuples(
        st.sampled_from([m for m, _ in BASES]),
        st.builds(
            dotted,
            st.integers(MAX_KEY_PARTS + 1, 30_000),
            st.sampled_from(["key", "header", "quoted"]),
        ).map(str.encode),
    ),
    st.tuples(st.sampled_from([m for m, _ in BASES]), st.binary(max_size=512)),
    st.tuples(
        st.sampled_from([m for m, _ in BASES]),
        st.text(alphabet=st.sampled_from("[]{}.=\"'#\n ,a1\\"), max_size=400).map(str.encode),
    ),
    st.tuples(
        st.sampled_from([m for m, _ in BASES]),
        st.integers(300, 20_000).map(lambda n: b"x = " + b"9" * n + b"\n"),
    ),
    mutated_base(),
)


@settings(
    max_examples=150,
    deadline=timedelta(seconds=PER_FILE_S),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
@given(case=hostile)
def test_hostile_texts_are_refused_with_the_file_named(
    tmp_path_factory: pytest.TempPathFactory, case: tuple[type[BaseModel], bytes]
) -> None:
    model, content = case
    path = tmp_path_factory.mktemp("fuzz") / "file.toml"
    path.write_bytes(content)
    started = time.perf_counter()
    problems: list[ConfigProblem | None] = []
    try:
        load_model(path, model)  # a mutation may leave a valid file (a trailing comment)
    except ConfigError as exc:
        problems = [*exc.problems] or [None]
    for problem in problems:
        assert problem is not None
        assert problem.source == str(path)
        assert problem.reason
        assert "Traceback" not in problem.reason
    assert time.perf_counter() - started < PER_FILE_S


# --- the real command, a handful of times --------------------------------------------------


def treadctl_check(cwd: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "treadctl.cli", "check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    return result, time.perf_counter() - started


def test_treadctl_check_refuses_hostile_files_with_exit_2(tmp_path: Path) -> None:
    """Each hostile machine file through `treadctl check` (with the shipped profile): exit
    2, no traceback, every stderr line names the file. Started together on a small pool."""
    deep = "a = " + "{b = " * 400 + "1" + "}" * 400 + "\n"
    os.mkfifo(tmp_path / "fifo.toml")
    files = {
        "deep.toml": deep,
        "arrays.toml": "a = " + "[" * 400 + "1" + "]" * 400 + "\n",
        "dotted.toml": ".".join(["a"] * 20_000) + " = 1\n",
        "inf.toml": MACHINE.replace("rail_release_cap_kmh = 1.0", "rail_release_cap_kmh = inf"),
        "bom.toml": "\ufeff" + MACHINE,
        "nul.toml": MACHINE.replace("[limits]", "[lim\x00its]"),
    }
    for name, text in files.items():
        write(tmp_path, name, text)
    machines = [*files, "fifo.toml", "/dev/zero", str(tmp_path)]
    profile = str(REPO / "profiles" / "demo-short.toml")
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        runs = list(
            pool.map(
                lambda m: treadctl_check(tmp_path, "--machine", m, "--profile", profile), machines
            )
        )
    for machine, (result, elapsed) in zip(machines, runs, strict=True):
        assert result.returncode == EXIT_CONFIG, (machine, result.stderr)
        assert result.stdout == ""
        assert "Traceback" not in result.stderr
        lines = result.stderr.splitlines()
        assert lines, machine
        for line in lines:
            # the file's name, then the line and column where the field is known
            assert re.match(re.escape(machine) + r"(:\d+:\d+)?: ", line), line
        assert elapsed < 30, (machine, elapsed)


def test_inf_patient_cap_through_check(tmp_path: Path) -> None:
    write(
        tmp_path, "patient.toml", PATIENT.replace("max_forward_kmh = 5.0", "max_forward_kmh = inf")
    )
    result, _ = treadctl_check(
        tmp_path,
        "--machine",
        str(REPO / "src/treadctl/samples/machines" / "sim.toml"),
        "--profile",
        str(REPO / "profiles" / "demo-short.toml"),
        "--patient",
        "patient.toml",
    )
    assert result.returncode == EXIT_CONFIG
    line = next(n for n, t in enumerate(PATIENT.splitlines(), 1) if t.startswith("max_forward_kmh"))
    assert result.stderr == f"patient.toml:{line}:1: max_forward_kmh: {FINITE}\n"


def test_math_inf_is_what_toml_inf_means() -> None:
    """The premise of the inf/nan cases: tomllib gives non-finite floats for them."""
    import tomllib  # noqa: PLC0415

    values = tomllib.loads("a = inf\nb = -inf\nc = nan\nd = 1e999")
    assert [math.isinf(values[k]) for k in "abd"] == [True, True, True]
    assert math.isnan(values["c"])
