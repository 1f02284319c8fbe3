"""Every key of the dashboard against a real controller on the simulator (Pilot)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.widgets import Static
from tui_rig import (
    BACKWARD_FIRST,
    SIZE,
    Rig,
    connected,
    demo_files,
    line,
    mode,
    notice_has,
    reset,
    start,
    until,
)

from treadctl.tui.app import DashboardApp
from treadctl.tui.dialogs import StartConfirm
from treadctl.tui.widgets import Line, SpeedBox


async def test_reset_is_refused_right_after_power_on(
    make_rig: Callable[..., Awaitable[Rig]],
) -> None:
    # The controller starts latched (power-on) and clears the latch only after the belt
    # has stood still for standstill_dwell_s (1 s in sim.toml). A long dwell makes "right
    # after power-on" certain however slowly the test machine starts the dashboard.
    limits = demo_files().machine.limits.model_copy(update={"standstill_dwell_s": 10.0})
    rig = await make_rig(limits=limits)
    app = DashboardApp(rig.socket)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        assert "RESET REQUIRED" in line(app, "mode")
        assert "press r" in line(app, "banner")
        await pilot.press("r")
        text = await notice_has(pilot, app, "REFUSED reset")
        assert "belt not at verified standstill" in text
        assert mode(app) == "faulted"


async def test_reset_then_start_with_the_checklist_and_cancel(rig: Rig) -> None:
    app = DashboardApp(rig.socket)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await reset(pilot, app)
        # s shows the pre-start checklist; n cancels and nothing starts
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, StartConfirm), "the start dialog")
        shown = " ".join(str(w.content) for w in app.screen.query(Static))
        assert app.session is not None
        for check in app.session.pre_start_checks:
            assert check in shown
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, StartConfirm), "dialog closed")
        assert "start cancelled" in line(app, "notice")
        assert mode(app) == "stopped"
        # s again, Enter confirms: the belt runs
        await start(pilot, app, key="enter")
        await until(
            pilot, lambda: (app.status.actual_kmh or 0) > 0.5 if app.status else False, "moving"
        )
        assert "RUNNING" in line(app, "mode")


async def test_space_stops_from_inside_the_start_dialog(rig: Rig) -> None:
    app = DashboardApp(rig.socket)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await reset(pilot, app)
        await start(pilot, app)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, StartConfirm), "the start dialog")
        await pilot.press("space")  # no confirmation; the dialog closes too
        await until(pilot, lambda: not isinstance(app.screen, StartConfirm), "dialog closed")
        await until(pilot, lambda: app.ended is not None, "the session's end (stop ends it)")
        assert app.ended is not None
        assert app.ended.outcome.startswith("stopped by dashboard@")
        assert "SESSION ENDED" in line(app, "banner")
        truth = rig.truth()
        assert truth is not None
        assert truth.at_standstill


async def test_pause_speed_steps_units_and_resume(rig: Rig) -> None:
    app = DashboardApp(rig.socket)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await reset(pilot, app)
        await start(pilot, app)
        await pilot.press("plus")
        await notice_has(pilot, app, "✓ faster", "target 2.10 km/h")
        await until(pilot, lambda: app.status is not None and app.status.target_kmh > 2.05, "2.1")
        await pilot.press("minus")
        await notice_has(pilot, app, "✓ slower", "target 2.00 km/h")
        # units: display only
        target = app.query_one("#target", SpeedBox)
        assert target.query_one(Line).plain == "TARGET km/h"
        await pilot.press("u")
        assert app.mph
        await until(pilot, lambda: target.value == "1.24", "2.00 km/h shown as 1.24 mph")
        assert target.query_one(Line).plain == "TARGET mph"
        await pilot.press("u")
        await until(pilot, lambda: target.value == "2.00", "km/h again")
        # pause: a resumable controlled stop
        await pilot.press("p")
        await until(
            pilot,
            lambda: app.status is not None and app.status.at_standstill and mode(app) == "stopped",
            "paused at standstill",
        )
        assert "PAUSED" in line(app, "mode")
        assert app.ended is None
        await start(pilot, app)


async def test_direction_refused_while_running_and_against_the_profile(rig: Rig) -> None:
    app = DashboardApp(rig.socket)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await reset(pilot, app)
        assert "FORWARD" in line(app, "direction")
        await start(pilot, app)
        await pilot.press("d")
        text = await notice_has(pilot, app, "REFUSED direction backward")
        assert "stop first" in text
        await pilot.press("p")
        await until(
            pilot,
            lambda: app.status is not None and app.status.at_standstill and mode(app) == "stopped",
            "paused at standstill",
        )
        # At standstill the interlock would turn the belt, but this segment walks forward:
        # the controller refuses and says why instead of letting the profile undo it.
        await pilot.press("d")
        text = await notice_has(pilot, app, "REFUSED direction backward", "the profile sets")
        assert "walks forward" in text
        assert "FORWARD" in line(app, "direction")


async def test_backward_segment_shows_backward(
    make_rig: Callable[..., Awaitable[Rig]], short_dir: Path
) -> None:
    profile = short_dir / "backward.toml"
    profile.write_text(BACKWARD_FIRST)
    rig = await make_rig(profile)
    app = DashboardApp(rig.socket)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await reset(pilot, app)
        await until(pilot, lambda: "BACKWARD" in line(app, "direction"), "BACKWARD shown")
        assert app.query_one("#direction").has_class("-backward")
        assert "BACKWARD" in line(app, "mode")
        await start(pilot, app)
        assert "BACKWARD" in line(app, "seg-now")
        await pilot.press("d")
        await notice_has(pilot, app, "REFUSED direction forward", "stop first")


async def test_quit_refused_while_moving_then_accepted_at_standstill(rig: Rig) -> None:
    app = DashboardApp(rig.socket)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await reset(pilot, app)
        await start(pilot, app)
        await pilot.press("q")
        text = await notice_has(pilot, app, "REFUSED quit")
        assert "not at verified standstill" in text
        assert app.return_code is None  # still running
        await pilot.press("p")
        await until(
            pilot,
            lambda: app.status is not None and app.status.at_standstill and mode(app) == "stopped",
            "paused at standstill",
        )
        await pilot.press("q")
        await until(pilot, lambda: app.return_code is not None, "the dashboard to exit")
    assert app.return_value == 0
    # the controller ends the session with a stop in the dashboard's name
    assert app.ended is not None
    assert app.ended.outcome.startswith("stopped by dashboard@")
    summary = await rig.task
    assert getattr(summary, "outcome", "") == app.ended.outcome
