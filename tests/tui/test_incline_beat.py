"""The powered incline and the visible beat on the dashboard (issue 14).

The incline: a real controller on the simulator with a powered lift (sim-incline) in the
test's own loop; the dashboard connects to its real socket. The beat: statuses fed at
a stepped session time with the local clock held, so every frame is known; the flashes
are counted over a few seconds of status time and must match the cadence.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import tui_feeds as feeds
from tui_rig import Rig, connected, line, mode, notice_has, reset, start, start_controller, until

from treadctl.api.messages import InclineStatus, Status
from treadctl.app import load_session
from treadctl.sim.backends import SimIncline
from treadctl.tui import view
from treadctl.tui.app import DashboardApp
from treadctl.tui.widgets import Line

ROOT = Path(__file__).resolve().parents[2]
SLOPE = """
name = "Dashboard test: backward up a slope"
[[blocks]]
name = "main"
  [[blocks.segments]]
  direction = "backward"
  duration_s = 20
  speed_kmh = 1.0
  incline_pct = 3.0
  cadence_spm = 100
  [[blocks.segments]]
  direction = "backward"
  duration_s = 600
  speed_kmh = 1.0
  incline_pct = 4.0
  cadence_spm = 120
"""
MakeRig = Callable[[str], Awaitable[Rig]]


@pytest.fixture
async def incline_rig(short_dir: Path) -> AsyncIterator[MakeRig]:
    """incline_rig(machine): a controller on that sample machine and the SLOPE profile."""
    rigs: list[Rig] = []

    async def make(machine: str) -> Rig:
        profile = short_dir / "slope.toml"
        profile.write_text(SLOPE)
        files = load_session(
            ROOT / f"src/treadctl/samples/machines/{machine}.toml",
            profile,
            ROOT / "src/treadctl/samples/patients/demo.toml",
        )
        rig = await start_controller(short_dir / f"i{len(rigs)}.sock", files)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        await rig.close()


def actual_of(text: str) -> float | None:
    """The actual incline the pace row shows ("actual 1.4 %"), or None."""
    words = text.split()
    if "actual" not in words:
        return None
    value = words[words.index("actual") + 1]
    return None if value == "--" else float(value)


# -- wording ------------------------------------------------------------------------------


def test_the_incline_in_words() -> None:
    moving = InclineStatus(target_pct=7.5, goal_pct=7.5, actual_pct=6.9, mode="moving up")
    assert view.incline_text(moving).plain == "INCLINE target 7.5 %  actual 6.9 %  ↑ moving up"
    down = moving.model_copy(update={"mode": "moving down", "target_pct": 2.0, "goal_pct": 2.0})
    assert view.incline_text(down).plain.endswith("↓ moving down")
    holding = moving.model_copy(update={"mode": "holding", "actual_pct": 7.4})
    assert view.incline_text(holding).plain.endswith("actual 7.4 %  holding")
    halted = moving.model_copy(update={"mode": "halted", "goal_pct": None})
    assert view.incline_text(halted).plain.endswith("halted")
    harness = moving.model_copy(update={"goal_pct": 4.8})  # clamped below the harness grade
    assert view.incline_text(harness).plain.endswith("(to 4.8 %)")
    blind = moving.model_copy(update={"actual_pct": None})
    assert "actual --" in view.incline_text(blind).plain
    stalled = moving.model_copy(
        update={"mode": "faulted", "faults": ["incline stalled: no position change while driven"]}
    )
    fault = view.incline_text(stalled)
    assert fault.plain.strip() == (
        "INCLINE FAULT: incline stalled: no position change while driven · r resets"
    )
    assert fault.style == view.FAULT
    assert view.incline_text(None).plain == ""


def test_the_beat_in_words() -> None:
    assert view.beat_text(None, False, 0, None).plain == ""
    lit = view.beat_text(90.0, True, 12, None)
    assert lit.plain == "BEAT  ●  12   90/min"
    assert any(s.style == view.BEAT_ON for s in lit.spans)
    dark = view.beat_text(90.0, False, 12, False)
    assert dark.plain == "BEAT  ○  12   90/min (no sound)"
    assert not any(s.style == view.BEAT_ON for s in dark.spans)
    # the beat first, at a fixed width: the incline does not move as the count grows
    inc = view.incline_text(InclineStatus(target_pct=3.0, actual_pct=1.0, mode="moving up"))
    a = view.pace_line(inc, view.beat_text(90.0, True, 9, None)).plain
    b = view.pace_line(inc, view.beat_text(90.0, True, 1234, None)).plain
    assert a.index("INCLINE") == b.index("INCLINE")


# -- the visible beat, frame by frame -------------------------------------------------------


class HeldClock:
    """The dashboard's local clock, held still: each frame's time is the status's."""

    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def running(t_s: float, spm: float | None) -> Status:
    seg = feeds.SEGMENTS[1]
    return feeds.status(t_s, direction="backward", segment=seg, cue_spm=spm)


async def flashes(app: DashboardApp, statuses: list[Status]) -> tuple[int, list[str]]:
    """Apply each status and paint one frame; the number of times the beat lit up."""
    lit_before = False
    count = 0
    rows = []
    for st in statuses:
        app.apply(st)
        app.show_beat()
        row = line(app, "pace")
        rows.append(row)
        lit = "●" in row
        count += lit and not lit_before
        lit_before = lit
    return count, rows


FRAME_S = 0.02  # status time between frames (the real dashboard paints every 0.04 s)


def steps(t0: float, t1: float) -> list[float]:
    return [t0 + i * FRAME_S for i in range(round((t1 - t0) / FRAME_S))]


async def test_the_beat_flashes_at_the_cadence_changes_with_it_and_stops_on_pause() -> None:
    clock = HeldClock()
    app = DashboardApp(feed=[feeds.welcome()], clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        # stopped: no beat, no row (no incline on this machine)
        app.apply(feeds.status(0.0, mode="stopped", at_standstill=True))
        app.show_beat()
        assert line(app, "pace") == ""
        assert not app.query_one("#pace").display
        # 120 steps/min for 3 s: a beat every 0.5 s, the first at once (0.0 ... 2.5)
        n, rows = await flashes(app, [running(t, 120.0) for t in steps(10.0, 13.0)])
        assert n == 6, rows
        assert app.query_one("#pace").display
        assert rows[-1].startswith("BEAT")
        assert "120/min" in rows[-1]
        assert "  6 " in rows[-1]  # the count: six beats so far
        # the segment's cadence changes to 60: one beat a second from the last beat's
        # next one; 4 s of it (13.0 ... 16.98) light it four times
        n, rows = await flashes(app, [running(t, 60.0) for t in steps(13.0, 17.0)])
        assert n == 4, rows
        assert "60/min" in rows[-1]
        assert "  10 " in rows[-1]
        # paused: no more flashes, the beat gone from the row
        paused = [
            feeds.status(t, mode="stopped", reasons=["operator pause"], cue_spm=None)
            for t in steps(17.0, 20.0)
        ]
        n, rows = await flashes(app, paused)
        assert n == 0, rows
        assert rows[-1] == ""
        # between two statuses the beat runs on the local clock, for a second at most
        app.apply(running(20.0, 120.0))  # a beat at once
        clock.now_s += 0.25  # between beats
        app.show_beat()
        assert "○" in line(app, "pace")
        clock.now_s += 0.25  # the next beat, with no new status
        app.show_beat()
        assert "●" in line(app, "pace")
        clock.now_s += 5.0  # the controller went quiet: no beat for it
        app.show_beat()
        assert line(app, "pace") == ""


async def test_a_cadence_outside_the_metronomes_range_shows_no_beat_and_no_crash() -> None:
    app = DashboardApp(feed=[feeds.welcome()], clock=HeldClock())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.apply(running(1.0, 900.0))  # a newer or broken controller's figure
        app.show_beat()
        assert "BEAT" not in line(app, "pace")


# -- a real controller with a powered incline ------------------------------------------------


async def test_the_incline_row_follows_the_lift_and_a_stall_shows_in_red(
    incline_rig: MakeRig,
) -> None:
    rig = await incline_rig("sim-incline")
    app = DashboardApp(rig.socket)
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await until(pilot, lambda: "INCLINE" in line(app, "pace"), "the incline row")
        assert "target 3.0 %  actual 0.0 %  halted" in line(app, "pace")
        assert "h home" not in line(app, "keys")  # latched at power-on: nothing to home
        await reset(pilot, app)
        await until(pilot, lambda: "h home" in line(app, "keys"), "h in the key bar")
        await start(pilot, app)
        await until(pilot, lambda: "↑ moving up" in line(app, "pace"), "the incline moving up")
        assert "BEAT" in line(app, "pace")
        assert "100/min" in line(app, "pace")
        assert "h home" not in line(app, "keys")  # the belt runs: h is not offered
        first = actual_of(line(app, "pace"))
        assert first is not None
        assert first < 3.0
        await until(
            pilot,
            lambda: (a := actual_of(line(app, "pace"))) is not None and a >= first + 0.5,
            "the actual incline rising toward its target",
        )
        # h while the belt runs: the controller's refusal, with its reason
        await pilot.press("h")
        assert "belt not stopped" in await notice_has(pilot, app, "REFUSED", "incline home")
        # at its target the relays are off; the lift jams, and the next segment's step
        # up drives a relay with no change of position: the stall fault, in red, with
        # its reason
        await until(pilot, lambda: "holding" in line(app, "pace"), "the incline at 3 %")
        assert "NOW  1/2" in line(app, "seg-now")
        actuator = rig.controller.api.loop.p.incline  # type: ignore[union-attr]
        assert isinstance(actuator, SimIncline)
        actuator.lift.stalled = True
        await until(pilot, lambda: "NOW  2/2" in line(app, "seg-now"), "segment 2", 60.0)
        # the cadence changes with the segment
        await until(pilot, lambda: "120/min" in line(app, "pace"), "the beat at 120/min")
        await until(pilot, lambda: "INCLINE FAULT" in line(app, "pace"), "the stall fault")
        row = line(app, "pace")
        assert "incline stalled: no position change while driven" in row
        shown = app.query_one("#pace", Line).shown
        red = [shown.plain[s.start : s.end] for s in shown.spans if s.style == view.FAULT]
        red += [shown.plain] if shown.style == view.FAULT else []
        assert any("INCLINE FAULT: incline stalled" in r for r in red), (shown.plain, red)
        # the belt stops for it (belt_stop_on_fault): the beat goes with it
        await until(pilot, lambda: mode(app) != "running", "the belt stopping")
        await until(pilot, lambda: "BEAT" not in line(app, "pace"), "the beat stopping")


async def test_without_an_actuator_the_manual_incline_stays_and_h_is_refused(
    incline_rig: MakeRig,
) -> None:
    rig = await incline_rig("sim")
    api = rig.controller.api
    assert api is not None
    api.builder.sound = lambda: False  # what serve's metronome says with no sound device
    app = DashboardApp(rig.socket)
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await reset(pilot, app)
        assert "INCLINE" not in line(app, "pace")
        assert "incline 3.0%" in line(app, "cues")  # set by hand: the figure to set
        assert "h home" not in line(app, "keys")
        await pilot.press("h")
        text = await notice_has(pilot, app, "REFUSED", "incline home")
        assert "no powered incline on this machine" in text
        await start(pilot, app)
        await until(pilot, lambda: "BEAT" in line(app, "pace"), "the beat")
        assert "INCLINE" not in line(app, "pace")
        assert line(app, "pace").endswith("100/min (no sound)")
