"""Imports run one way (docs/architecture.md): every module under src/treadctl is parsed
with `ast`, and every import of a treadctl module, at the top, inside a function or under
TYPE_CHECKING, is checked against the layers below. A package may import its own layer
and the layers under it, never one above, and packages never import each other round in
a circle. A failure names the importing file and line and the imported module.

A `__main__` module is a program's entry point: nothing imports it, so it stands above
every layer whatever package it sits in (`python -m treadctl.web` runs the web verb of
cli/).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / "treadctl"

# Ground first. A top-level module (treadctl/units.py) or package (treadctl/config/) is
# placed by its name; a new one fails the test until it is placed here.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("units", "untrusted", "clock", "mqtt_client"),  # no treadctl imports at all
    ("config", "samples"),  # every file schema; the shipped samples by name
    ("safety",),  # the interlock and the incline rules: pure steps
    ("drives", "inputs", "incline", "heartrate", "protocol"),  # hardware and protocol
    ("sim", "ble"),  # the simulated world, its backends, emulated devices
    ("control",),  # the cycle
    ("store",),  # event log, session database, reports
    ("app", "api", "clinic", "metronome", "service"),  # assembly, socket, records, cue
    ("mqtt", "serve"),  # the MQTT bridge; the controller process
    ("tui", "web", "launch"),  # the dashboards; `run` with its dashboard
    ("cli",),  # every verb
)
LEVEL = {name: i for i, layer in enumerate(LAYERS) for name in layer}

# Imports that still run upward, each with its reason; the goal is none. An entry that no
# longer matches an import fails the test too, so the list stays exact.
EXPECTED_UPWARD: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    path: str  # relative to src/, e.g. "treadctl/store/history.py"
    line: int
    importer: str  # module name
    imported: str  # module name

    def where(self) -> str:
        return f"src/{self.path}:{self.line}: {self.importer} imports {self.imported}"


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = modules()


def imports_of(name: str, path: Path) -> list[Import]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            # `from treadctl.cli import web` imports the module treadctl.cli.web
            targets = [
                f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module
                for a in node.names
            ]
        rel = str(path.relative_to(SRC)) if path.is_relative_to(SRC) else str(path)
        found += [
            Import(rel, node.lineno, name, t)
            for t in dict.fromkeys(targets)
            if t == "treadctl" or t.startswith("treadctl.")
        ]
    return found


IMPORTS = [i for name, path in MODULES.items() for i in imports_of(name, path)]


def component(module: str) -> str:
    """The top-level package or module a module belongs to (`store` for
    treadctl.store.history); "__main__" for an entry point."""
    parts = module.split(".")
    if parts[-1] == "__main__":
        return "__main__"
    return parts[1] if len(parts) > 1 else "treadctl"


def crossing() -> list[Import]:
    """Imports from one component into another, entry points aside."""
    return [
        i
        for i in IMPORTS
        if component(i.importer) not in (component(i.imported), "__main__")
        and component(i.imported) != "treadctl"  # the package itself: its __version__
    ]


def test_every_module_is_parsed_and_every_component_placed() -> None:
    assert len(MODULES) > 150
    assert any(i.importer == "treadctl.store.history" for i in IMPORTS)  # the walk works
    unplaced = sorted({component(m) for m in MODULES} - set(LEVEL) - {"__main__", "treadctl"})
    assert not unplaced, f"place these in LAYERS (and docs/architecture.md): {unplaced}"


def test_nothing_imports_an_entry_point() -> None:
    bad = [i.where() for i in IMPORTS if component(i.imported) == "__main__"]
    assert not bad, "\n".join(bad)


def upward() -> list[Import]:
    return [
        i
        for i in crossing()
        if LEVEL.get(component(i.imported), -1) > LEVEL.get(component(i.importer), -1)
    ]


def test_no_import_runs_upward() -> None:
    found = upward()
    bad = [
        f"{i.where()}: {component(i.importer)} (layer {LEVEL[component(i.importer)]}) may "
        f"not import {component(i.imported)} (layer {LEVEL[component(i.imported)]})"
        for i in found
        if (i.path, i.imported) not in EXPECTED_UPWARD
    ]
    assert not bad, "imports that run upward:\n" + "\n".join(bad)
    stale = set(EXPECTED_UPWARD) - {(i.path, i.imported) for i in found}
    assert not stale, f"no longer imported: remove from EXPECTED_UPWARD: {sorted(stale)}"


def cycles(edges: dict[str, dict[str, list[Import]]]) -> list[list[str]]:
    """The strongly connected components of more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            members = []
            while True:
                w = stack.pop()
                members.append(w)
                if w == v:
                    break
            if len(members) > 1:
                found.append(sorted(members))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_between_packages() -> None:
    edges: dict[str, dict[str, list[Import]]] = defaultdict(lambda: defaultdict(list))
    for i in crossing():
        if (i.path, i.imported) not in EXPECTED_UPWARD:
            edges[component(i.importer)][component(i.imported)].append(i)
    found = cycles(edges)
    lines = []
    for members in found:
        lines.append(f"cycle between {', '.join(members)} (the imports that climb first):")
        pairs = [(a, b) for a in members for b in members if b in edges[a]]
        pairs.sort(key=lambda ab: LEVEL.get(ab[0], 0) - LEVEL.get(ab[1], 0))
        lines += [f"  {i.where()}" for a, b in pairs for i in edges[a][b]]
    assert not found, "\n".join(lines)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from treadctl.clinic import reads\n", "treadctl.clinic.reads"),
        ("def f():\n    from treadctl.clinic.history import x\n", "treadctl.clinic.history"),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import treadctl.cli\n",
         "treadctl.cli"),
        ("from ..clinic import history\n", "treadctl.clinic.history"),
    ],
)  # fmt: skip
def test_the_walk_sees_every_kind_of_import(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "history.py"
    path.write_text(text, encoding="utf-8")
    assert [i.imported for i in imports_of("treadctl.store.history", path)] == [expected]
