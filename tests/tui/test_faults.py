"""Faults, remote requests, a lost controller and a frozen dashboard (Pilot, real controller)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from tui_rig import (
    DEADLINE_S,
    SIZE,
    Rig,
    connected,
    line,
    mode,
    notice_has,
    reset,
    start,
    until,
)

from treadctl.api.messages import Action, Level
from treadctl.config.machine import RemoteCommands
from treadctl.safety.types import Reason
from treadctl.tui.app import DashboardApp


def healthy(app: DashboardApp) -> bool:
    st = app.status
    return (
        st is not None
        and st.at_standstill
        and all(i.level is not Level.FAULT for i in st.indicators if i.name != "operator")
    )


async def test_simulated_estop_and_key_latch_and_refuse_reset(rig: Rig) -> None:
    app = DashboardApp(rig.socket)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        assert "e estop" in line(app, "keys")
        assert "k key" in line(app, "keys")
        await reset(pilot, app)
        await start(pilot, app)
        # e: the e-stop chain opens; the banner says what tripped and how to reset
        await pilot.press("e")
        await until(pilot, lambda: "LATCHED FAULT" in line(app, "banner"), "the latched banner")
        banner = line(app, "banner")
        assert Reason.ESTOP_CHAIN_OPEN.value in banner
        assert "press r" in banner
        assert "standstill" in banner
        assert "FAULT" in line(app, "mode")
        assert app.query_one("#banner").has_class("-fault")
        await pilot.press("r")
        text = await notice_has(pilot, app, "REFUSED reset")
        assert Reason.ESTOP_CHAIN_OPEN.value in text
        await pilot.press("e")
        await notice_has(pilot, app, "✓ simulated e-stop release")
        await until(pilot, lambda: healthy(app), "e-stop closed, belt at standstill")
        await pilot.press("r")
        await until(pilot, lambda: mode(app) == "stopped", "reset accepted")
        assert not app.query_one("#banner").display
        # k: the safety key is pulled
        await pilot.press("k")
        await until(
            pilot, lambda: Reason.SAFETY_KEY_PULLED.value in line(app, "banner"), "key banner"
        )
        await pilot.press("r")
        text = await notice_has(pilot, app, "REFUSED reset", Reason.SAFETY_KEY_PULLED.value)
        await pilot.press("k")
        await notice_has(pilot, app, "✓ simulated key insert")
        await until(pilot, lambda: healthy(app), "key back in")
        await pilot.press("r")
        await until(pilot, lambda: mode(app) == "stopped", "reset accepted again")


async def test_remote_requests_confirm_and_reject(
    make_rig: Callable[..., Awaitable[Rig]],
) -> None:
    rig = await make_rig(remote_commands=RemoteCommands(start=True, speed=True))
    api = rig.controller.api
    assert api is not None
    app = DashboardApp(rig.socket)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await reset(pilot, app)
        await start(pilot, app)
        await pilot.press("c")
        await notice_has(pilot, app, "REFUSED confirm remote", "no remote request")
        ok, text = api.remote("mqtt:clinic-desk", Action.SPEED, speed_kmh=2.3)
        assert ok, text
        await until(pilot, lambda: app.query_one("#remote").display, "the remote request line")
        assert "mqtt:clinic-desk" in line(app, "remote")
        assert "2.30" in line(app, "remote")
        assert "c confirm" in line(app, "keys")
        assert "x reject" in line(app, "keys")
        await pilot.press("c")
        await notice_has(pilot, app, "✓ confirm remote", "target 2.30 km/h")
        await until(pilot, lambda: not app.query_one("#remote").display, "request gone")
        ok, text = api.remote("mqtt:clinic-desk", Action.SPEED, speed_kmh=1.5)
        assert ok, text
        await until(pilot, lambda: app.query_one("#remote").display, "the second request")
        await pilot.press("x")
        await notice_has(pilot, app, "✓ reject remote", "rejected")
        assert app.status is not None
        assert abs(app.status.target_kmh - 2.3) < 1e-6


async def test_lost_controller_is_shown_in_red_and_q_leaves(rig: Rig) -> None:
    api = rig.controller.api
    assert api is not None
    app = DashboardApp(rig.socket)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await api.close()  # the socket goes away; the control loop itself runs on
        await until(pilot, lambda: app.link_state == "lost", "the link lost")
        banner = line(app, "banner")
        assert "CONNECTION TO THE CONTROLLER LOST" in banner
        assert "emergency stop" in banner
        assert app.query_one("#banner").has_class("-fault")
        assert "NO CONTROLLER" in line(app, "mode")
        await pilot.press("r")
        await notice_has(pilot, app, "REFUSED reset", "not connected")
        await pilot.press("q")  # nothing to end: the dashboard just leaves
        await until(pilot, lambda: app.return_code is not None, "exit")
    assert app.return_value == 1


async def test_a_frozen_dashboard_stops_heartbeating_and_the_belt_stops(rig: Rig) -> None:
    """The heartbeat goes through the App's own message queue: freeze that queue (the
    event loop still runs, as a busy or wedged UI would leave it) and no heartbeat
    leaves, so the controller stops the belt after presence_timeout_s."""
    app = DashboardApp(rig.socket)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot)
        await reset(pilot, app)
        await start(pilot, app)
        assert app.link is not None
        release = asyncio.Event()

        async def wedge() -> None:
            await release.wait()

        app.call_later(wedge)  # the App's message queue now waits for `release`
        await asyncio.sleep(0.2)
        beats = app.link.beats
        deadline = time.monotonic() + DEADLINE_S
        while True:
            truth = rig.truth()
            if truth is not None and truth.mode == "stopped" and truth.at_standstill:
                break
            assert time.monotonic() < deadline, f"the belt did not stop: {truth}"
            await asyncio.sleep(0.05)
        assert truth.reasons == [Reason.OPERATOR_ABSENT.value]
        assert app.link.beats == beats, "a heartbeat left a frozen dashboard"
        release.set()
        await until(pilot, lambda: app.link is not None and app.link.beats > beats, "beats")
        await until(
            pilot,
            lambda: Reason.OPERATOR_ABSENT.value in line(app, "why"),
            "the stop's reason on the screen",
        )
