"""The hazard table in docs/safety.md names its evidence, and the evidence exists.

A renamed or deleted test must not silently leave a hazard without one. Each row's last
column must name at least one test; every name in backticks there must resolve:
- a path (`tests/x/test_y.py`, `bench/z.py`, a directory `tests/incline/`, a glob
  `tests/safety/test_incline_*.py`) exists;
- a bare file name (`test_interlock.py`) is one file under tests/;
- `FILE::name` names a function, method or class defined in that file (`*` allowed);
- a bare identifier (`test_turn_round_*`, `inv3b_...`) is defined in some test file;
- a scenario's name (`estop-backward`, `runaway`) is a shipped scenario file.
Code with spaces in it (`treadctl sim`) is prose.
"""

from __future__ import annotations

import ast
import fnmatch
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "safety.md"
TESTS = ROOT / "tests"
SCENARIOS = ROOT / "src" / "treadctl" / "samples" / "scenarios"

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_*]*$")
KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$")


def hazard_rows() -> list[tuple[str, str]]:
    """(hazard id, its test column) for every row of the hazard table."""
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 6 and re.fullmatch(r"H\d+", cells[0]):
            rows.append((cells[0], cells[-1]))
    return rows


@cache
def defined_names(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    )


@cache
def all_test_files() -> tuple[Path, ...]:
    return tuple(sorted(TESTS.rglob("*.py")))


def _file(name: str) -> tuple[Path | None, str]:
    if "/" in name:
        hits = sorted(ROOT.glob(name.rstrip("/")))
        return (hits[0] if hits else None), f"no path {name}"
    hits = [p for p in all_test_files() if p.name == name]
    if len(hits) != 1:
        return None, f"{name}: {len(hits)} files of that name under tests/"
    return hits[0], ""


def problem(ref: str) -> str | None:
    """Why `ref` names nothing that exists; None when it resolves."""
    if " " in ref or ref.startswith("-"):
        return None  # prose in code type, not a reference
    if "::" in ref:
        file_part, name = ref.split("::", 1)
        path, why = _file(file_part)
        if path is None:
            return why
        if not fnmatch.filter(defined_names(path), name):
            return f"{path.relative_to(ROOT)} defines no {name}"
        return None
    if ref.endswith((".py", "/")) or "/" in ref:
        path, why = _file(ref)
        return None if path is not None else why
    if (SCENARIOS / f"{ref}.toml").is_file():
        return None  # a shipped scenario
    if KEBAB.match(ref):
        return f"no scenario {ref}"
    if IDENT.match(ref):
        if any(fnmatch.filter(defined_names(p), ref) for p in all_test_files()):
            return None
        return f"no test defines {ref}"
    return f"{ref}: not a test reference this check understands"


def is_test(ref: str) -> bool:
    scenario = (SCENARIOS / f"{ref}.toml").is_file()
    return " " not in ref and ("test" in ref or ref.startswith("inv") or scenario)


ROWS = hazard_rows()


def test_the_table_is_found() -> None:
    assert len(ROWS) >= 30, [r[0] for r in ROWS]
    assert len({r[0] for r in ROWS}) == len(ROWS), "a hazard id is used twice"


@pytest.mark.parametrize(("hazard", "column"), ROWS, ids=[r[0] for r in ROWS])
def test_every_hazard_names_tests_that_exist(hazard: str, column: str) -> None:
    refs = re.findall(r"`([^`]+)`", column)
    assert any(is_test(r) for r in refs), f"{hazard} names no test in backticks: {column!r}"
    problems = [f"`{r}`: {why}" for r in refs if (why := problem(r)) is not None]
    assert not problems, f"{hazard}: " + "; ".join(problems)


@pytest.mark.parametrize(
    "ref",
    [
        "tests/safety/test_no_such_file.py",
        "test_interlock.py::test_that_was_renamed",
        "test_no_such_name_*",
        "no-such-scenario",
        "test_nowhere.py",
    ],
)
def test_a_missing_test_is_caught(ref: str) -> None:
    assert problem(ref) is not None
