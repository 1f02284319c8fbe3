"""Screenshots of the dashboard fed static messages (no controller, no clock): the
large layout and the compact one (80x24, over SSH). Regenerate after a deliberate
change with `pytest tests/tui/test_snapshots.py --snapshot-update`, then look at them."""

from __future__ import annotations

from collections.abc import Callable

import tui_feeds as feeds
from textual.pilot import Pilot

from treadctl.api.client import ServerMsg
from treadctl.tui import paint
from treadctl.tui.app import DashboardApp
from treadctl.tui.dialogs import StartConfirm

LARGE = (140, 42)
COMPACT = (80, 24)
Compare = Callable[..., bool]


def app_of(msgs: list[ServerMsg]) -> DashboardApp:
    return DashboardApp(feed=msgs)


def test_normal_large(snap_compare: Compare) -> None:
    assert snap_compare(app_of(feeds.normal()), terminal_size=LARGE)


def test_backward_large(snap_compare: Compare) -> None:
    """Backward: magenta BACKWARD block, a pending remote request with c/x keys."""
    assert snap_compare(app_of(feeds.backward()), terminal_size=LARGE)


def test_faulted_large(snap_compare: Compare) -> None:
    """A latched e-stop: the red banner names it and gives the reset steps."""
    assert snap_compare(app_of(feeds.faulted()), terminal_size=LARGE)


def test_compact_normal(snap_compare: Compare) -> None:
    assert snap_compare(app_of(feeds.normal()), terminal_size=COMPACT)


def test_compact_backward(snap_compare: Compare) -> None:
    assert snap_compare(app_of(feeds.backward()), terminal_size=COMPACT)


def test_compact_faulted(snap_compare: Compare) -> None:
    assert snap_compare(app_of(feeds.faulted()), terminal_size=COMPACT)


def test_compact_mph(snap_compare: Compare) -> None:
    """u: every speed in mph (display only)."""
    assert snap_compare(app_of(feeds.normal()), terminal_size=COMPACT, press=["u"])


def test_compact_ended(snap_compare: Compare) -> None:
    assert snap_compare(app_of(feeds.ended()), terminal_size=COMPACT)


def test_compact_start_dialog(snap_compare: Compare) -> None:
    async def open_dialog(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, DashboardApp)
        checks = app.session.pre_start_checks if app.session else []
        await app.push_screen(StartConfirm(checks, "Segment 1/3: FORWARD at 2.00 km/h."))

    msgs = [
        *feeds.normal()[:-1],
        feeds.status(8.0, mode="stopped", at_standstill=True, actual_kmh=0.0, target_kmh=0.0),
    ]
    assert snap_compare(app_of(msgs), terminal_size=COMPACT, run_before=open_dialog)


def test_compact_connection_lost(snap_compare: Compare) -> None:
    def lose(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, DashboardApp)
        app.link_changed("lost", "/run/treadctl.sock: the controller closed the connection")

    assert snap_compare(app_of(feeds.normal()), terminal_size=COMPACT, run_before=lose)


def test_compact_turnaround_walker_turns(snap_compare: Compare) -> None:
    """A turn-round machine's turnaround: the guide says the walker turns and t confirms."""
    assert snap_compare(app_of(feeds.turnaround()), terminal_size=COMPACT)


def test_compact_turnaround_start_dialog(snap_compare: Compare) -> None:
    """s at the turnaround: the backward segment's own checklist (faces away, key only stop)."""

    async def open_dialog(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, DashboardApp)
        await app.push_screen(StartConfirm(paint.start_checks(app), paint.start_what(app)))

    msgs = feeds.turnaround(turn_pending=False)
    assert snap_compare(app_of(msgs), terminal_size=COMPACT, run_before=open_dialog)
