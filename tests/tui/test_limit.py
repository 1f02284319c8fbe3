"""The session's time limit on the screen (issue 13): an idle demo used to end after
13 minutes (LoopParts.max_session_s = plan total * 3 + 600 s) with no warning.

The status carries `limit_remaining_s` (StatusBuilder counts down the loop's own limit);
the dashboard shows it always while the belt is not running, and in the last
view.LIMIT_WARN_S while it runs.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import tui_feeds as feeds
from tui_rig import Rig, connected, line, mode, reset, screen, start, until
from tui_term import Served, Term, wait

from treadctl.tui import view
from treadctl.tui.app import DashboardApp

ROOT = Path(__file__).resolve().parents[2]


def counting(rig: Rig) -> None:
    """What serve.py's StatusBuilder(..., loop=loop) does: count down this loop's limit."""
    api = rig.controller.api
    assert api is not None
    api.builder.loop = api.loop


def clock_s(text: str) -> int:
    m = re.search(r"(\d+):(\d\d)", text)
    assert m is not None, text
    return int(m[1]) * 60 + int(m[2])


def test_the_limit_line_in_words() -> None:
    st = feeds.status(10.0)
    idle = st.model_copy(update={"mode": "stopped", "limit_remaining_s": 105.0})
    assert view.limit_line(idle).plain.strip() == (
        "⏱ session ends in 01:45 if the belt is not running then"
    )
    running = st.model_copy(update={"mode": "running", "limit_remaining_s": 105.0})
    assert "session time limit in 01:45: it ends at the next stop" in view.limit_line(running)
    early = running.model_copy(update={"limit_remaining_s": view.LIMIT_WARN_S + 1})
    assert view.limit_line(early).plain == ""
    passed = running.model_copy(update={"limit_remaining_s": -3.0})
    assert "time limit passed" in view.limit_line(passed).plain
    older = st.model_copy(update={"limit_remaining_s": None})  # a server without the field
    assert view.limit_line(older).plain == ""


async def test_an_idle_demo_shows_when_it_will_end_and_a_running_one_near_the_end(
    rig: Rig,
) -> None:
    counting(rig)
    api = rig.controller.api
    assert api is not None
    limit_s = api.loop.p.max_session_s
    assert limit_s == 60 * 3 + 600  # the demo's: 13 minutes, as the issue says
    app = DashboardApp(rig.socket)
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await until(pilot, lambda: "session ends in" in line(app, "limit"), "the countdown")
        first = clock_s(line(app, "limit"))
        assert limit_s - 30 <= first <= limit_s
        assert "⏱ session ends in 1" in screen(app)  # on the 80x24 screen, whole
        await until(pilot, lambda: clock_s(line(app, "limit")) < first, "the countdown to run")
        await reset(pilot, app)
        await start(pilot, app)
        # running with 13 minutes left: nothing to say yet
        await until(pilot, lambda: line(app, "limit") == "", "no countdown while far off")
        # a short limit, as the loop itself reads it: 100 s from now
        api.loop.p.max_session_s = api.loop.snapshot.now - api.loop.t0 + 100
        await until(pilot, lambda: "time limit in 01:" in line(app, "limit"), "the last 2 min")
        assert 90 <= clock_s(line(app, "limit")) <= 100
        assert mode(app) == "running"


async def test_without_the_loop_the_status_has_no_limit_and_nothing_is_shown(
    rig: Rig,
) -> None:
    """A controller whose builder does not know its loop (or an older one): no line."""
    api = rig.controller.api
    assert api is not None
    api.builder.loop = None  # as an older controller: its status has no limit field
    app = DashboardApp(rig.socket)
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await until(pilot, lambda: rig.truth() is not None, "the controller's status")
        truth = rig.truth()
        assert truth is not None
        assert truth.limit_remaining_s is None
        assert line(app, "limit") == ""


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tlm-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_an_idle_session_shows_its_countdown_in_tmux(
    short_dir: Path, size: tuple[int, int]
) -> None:
    """`treadctl serve` with the demo profile, nobody starts it: the row under the top
    line says when it ends (13 minutes from the start, counting down)."""
    served = Served(short_dir)
    term = Term(short_dir)
    try:
        term.start_dashboard(served.socket, *size)
        term.see("RESET REQUIRED", "session ends in 1")
        rows = term.screen().splitlines()
        row = next(r for r in rows if "session ends in" in r)
        assert re.fullmatch(
            r" ⏱ session ends in 1[23]:\d\d if the belt is not running then ", row.rstrip() + " "
        )
        first = clock_s(row)
        wait(
            lambda: clock_s(next(r for r in term.screen().splitlines() if "ends in" in r)) < first,
            "the countdown",
        )
    finally:
        term.close()
        served.close()
