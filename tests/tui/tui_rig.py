"""A real controller on the built-in simulator for the dashboard's pilot tests.

The controller runs as a task in the test's own event loop (MonotonicClock, a real Unix
socket in a short /tmp directory); the dashboard under test connects to it like any
client. Waits poll a condition until a generous deadline: a wait that reaches the
deadline is a failure with the screen's text in the message, never a slow machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual.pilot import Pilot

from treadctl.api.messages import Status
from treadctl.app import SessionFiles, load_session
from treadctl.clock import MonotonicClock
from treadctl.serve import Controller
from treadctl.store.eventlog import EventLog
from treadctl.tui.app import DashboardApp
from treadctl.tui.widgets import Line

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 20.0
SIZE = (100, 30)


BACKWARD_FIRST = """
name = "Dashboard test: backward first"
[[blocks]]
name = "main"
  [[blocks.segments]]
  direction = "backward"
  duration_s = 600
  speed_kmh = 1.0
  [[blocks.segments]]
  direction = "forward"
  duration_s = 600
  speed_kmh = 2.0
"""


def demo_files(profile: Path | None = None, **machine: object) -> SessionFiles:
    """The demo session's files (or `profile`); `machine` overrides machine file fields."""
    files = load_session(
        ROOT / "src/treadctl/samples/machines/sim.toml",
        profile or ROOT / "profiles/demo-short.toml",
        ROOT / "src/treadctl/samples/patients/demo.toml",
    )
    if not machine:
        return files
    m = files.machine.model_copy(update=machine)
    return SessionFiles(m, files.profile, files.patient, files.plan, files.machine_source)


@dataclass
class Rig:
    controller: Controller
    task: asyncio.Task[object]
    socket: Path

    def truth(self) -> Status | None:
        """What the controller itself would send now (not what the screen shows)."""
        api = self.controller.api
        assert api is not None
        return api.builder.build(api.loop.snapshot)

    async def close(self) -> None:
        api = self.controller.api
        if not self.task.done() and api is not None:
            api.loop.request_quit("test teardown")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.task), 10.0)
        if not self.task.done():
            self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task


async def start_controller(socket: Path, files: SessionFiles) -> Rig:
    controller = Controller(files, MonotonicClock(), EventLog(None), socket)
    task: asyncio.Task[object] = asyncio.create_task(controller.run())
    deadline = time.monotonic() + DEADLINE_S
    while not (controller.api is not None and socket.exists()):
        assert not task.done(), f"the controller ended early: {task!r}"
        assert time.monotonic() < deadline, "the controller did not open its socket"
        await asyncio.sleep(0.01)
    return Rig(controller, task, socket)


def svg_text(svg: str) -> str:
    """The text of a Textual SVG screenshot, row by row (for failure messages)."""
    rows: dict[float, dict[int, str]] = {}
    pattern = r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)" textLength="[\d.]+"[^>]*>([^<]*)<'
    for m in re.finditer(pattern, svg):
        row = rows.setdefault(float(m[2]), {})
        for i, ch in enumerate(html.unescape(m[3])):
            row[round(float(m[1]) / 12.2) + i] = ch
    lines = []
    for y in sorted(rows):
        cells = rows[y]
        lines.append("".join(cells.get(i, " ") for i in range(max(cells) + 1)).rstrip())
    return "\n".join(lines).replace("\xa0", " ")


def screen(app: DashboardApp) -> str:
    return svg_text(app.export_screenshot())


def line(app: DashboardApp, name: str) -> str:
    return app.query_one(f"#{name}", Line).plain


async def until(
    pilot: Pilot[int], cond: Callable[[], bool], what: str, timeout_s: float = DEADLINE_S
) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            app = pilot.app
            assert isinstance(app, DashboardApp)
            pytest.fail(f"waited {timeout_s} s for {what}; the screen:\n{screen(app)}")
        await pilot.pause(0.05)


def mode(app: DashboardApp) -> str | None:
    return app.status.mode if app.status is not None else None


async def connected(pilot: Pilot[int]) -> DashboardApp:
    app = pilot.app
    assert isinstance(app, DashboardApp)
    await until(pilot, lambda: app.status is not None, "the first status")
    return app


async def reset(pilot: Pilot[int], app: DashboardApp) -> None:
    """Wait for the power-on standstill, then r: the latch clears."""
    await until(pilot, lambda: app.status is not None and app.status.at_standstill, "standstill")
    await pilot.press("r")
    await until(pilot, lambda: mode(app) == "stopped", "reset accepted")
    assert "✓ reset" in line(app, "notice")


async def start(pilot: Pilot[int], app: DashboardApp, key: str = "y") -> None:
    await pilot.press("s")
    await until(pilot, lambda: type(app.screen).__name__ == "StartConfirm", "the start dialog")
    await pilot.press(key)
    await until(pilot, lambda: mode(app) == "running", "running")


async def notice_has(pilot: Pilot[int], app: DashboardApp, *words: str) -> str:
    """Wait until the notice line holds every word; its text."""
    await until(
        pilot,
        lambda: all(w in line(app, "notice") for w in words),
        f"a notice with {words!r} (now {line(app, 'notice')!r})",
    )
    return line(app, "notice")
