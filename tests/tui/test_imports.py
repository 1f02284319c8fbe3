"""No import cycle in treadctl.tui (issue 13): the helpers take what they need of the App
(small Protocols), they never import it, not even under TYPE_CHECKING.

Imports are read with `ast` from the source, every one of them: at the top, inside
functions and inside `if TYPE_CHECKING:` blocks, which a runtime check would miss.
"""

from __future__ import annotations

import ast
from pathlib import Path

TUI = Path(__file__).resolve().parents[2] / "src/treadctl/tui"
PACKAGE = "treadctl.tui"


def imports_of(source: str, package: str, modules: set[str]) -> set[str]:
    """The modules of `package` (names in `modules`) that `source` imports, anywhere."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            # `from treadctl.tui import paint` imports the module treadctl.tui.paint
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith(package + "."):
                short = name[len(package) + 1 :].split(".")[0]
                if short in modules:
                    found.add(short)
    return found


def import_graph(directory: Path, package: str) -> dict[str, set[str]]:
    modules = {p.stem for p in directory.glob("*.py") if p.stem != "__init__"}
    return {
        m: imports_of((directory / f"{m}.py").read_text(encoding="utf-8"), package, modules) - {m}
        for m in sorted(modules)
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every module that can reach itself, with the path that does."""
    found: list[list[str]] = []
    for start in graph:
        stack: list[list[str]] = [[start]]
        seen: set[str] = set()
        while stack:
            path = stack.pop()
            for nxt in sorted(graph[path[-1]]):
                if nxt == start:
                    found.append([*path, start])
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append([*path, nxt])
    return found


def test_no_module_of_the_dashboard_imports_the_app() -> None:
    graph = import_graph(TUI, PACKAGE)
    assert {"app", "commands", "link", "paint"} <= set(graph)  # the test reads real files
    assert "paint" in graph["app"]  # and sees their imports
    assert [m for m, deps in graph.items() if "app" in deps] == []


def test_the_dashboard_has_no_import_cycle() -> None:
    assert cycles(import_graph(TUI, PACKAGE)) == []


def test_a_cycle_under_type_checking_is_found(tmp_path: Path) -> None:
    """The detector itself: a cycle hidden under TYPE_CHECKING (as the dashboard had)."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "app.py").write_text("from pkg import paint\n", encoding="utf-8")
    (pkg / "paint.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.app import App\n",
        encoding="utf-8",
    )
    (pkg / "view.py").write_text("import pkg.paint\n", encoding="utf-8")
    graph = import_graph(pkg, "pkg")
    assert graph == {"app": {"paint"}, "paint": {"app"}, "view": {"paint"}}
    assert sorted(c[0] for c in cycles(graph)) == ["app", "paint"]
