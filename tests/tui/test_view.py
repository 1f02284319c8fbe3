"""The dashboard's wording, chart and layout switch, without a controller."""

from __future__ import annotations

import pytest
import tui_feeds as feeds
from rich.text import Text
from textual.widgets import RichLog
from tui_rig import line, screen

from treadctl.api.messages import Event, Level, Status
from treadctl.safety.types import Reason
from treadctl.tui import chart, view
from treadctl.tui.app import DashboardApp
from treadctl.tui.widgets import EventLog, KeyBar, Line


def test_speeds_and_units() -> None:
    assert view.speed_digits(1.609344, mph=True) == "1.00"
    assert view.speed_digits(2.0, mph=False) == "2.00"
    assert view.speed_digits(None, mph=False) == "-.--"
    assert view.speed_text(3.2186880, mph=True) == "2.00 mph"
    assert view.unit(True) == "mph"
    assert view.unit(False) == "km/h"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "00:00"), (59.4, "00:59"), (61, "01:01"), (3725, "1:02:05"), (-3, "00:00")],
)
def test_clock(seconds: float, text: str) -> None:
    assert view.clock(seconds) == text


def test_bar() -> None:
    assert view.bar(0.0, 4) == "░░░░"
    assert view.bar(1.0, 4) == "████"
    assert view.bar(0.5, 4) == "██░░"
    assert view.bar(0.5 + 1 / 8, 4) == "██▌░"  # half a cell more: a half block
    assert len(view.bar(0.37, 30)) == 30


def test_mode_badge_words() -> None:
    running = feeds.status(1.0)
    assert view.mode_badge(running, "connected").plain.strip() == "RUNNING"
    assert view.mode_badge(running, "lost").plain.strip() == "NO CONTROLLER"
    assert view.mode_badge(None, "connecting").plain.strip() == "CONNECTING"
    power_on = feeds.status(0.0, mode="faulted", latched=True, reasons=[Reason.POWER_ON.value])
    assert view.mode_badge(power_on, "connected").plain.strip() == "RESET REQUIRED"
    paused = feeds.status(1.0, mode="stopped", reasons=[Reason.OPERATOR_PAUSE.value])
    assert view.mode_badge(paused, "connected").plain.strip() == "PAUSED"
    assert view.mode_badge(paused, "connected", ended=True).plain.strip() == "SESSION ENDED"


def test_latched_banner_names_the_trip_and_the_reset_steps() -> None:
    st = feeds.status(
        1.0,
        mode="faulted",
        latched=True,
        reasons=[Reason.SAFETY_KEY_PULLED.value],
        detail="key input low",
        indicators=feeds.indicators(key=(Level.FAULT, "PULLED: clip the key back in")),
    )
    style, lines = view.latched_banner(st)
    assert style == view.FAULT
    assert lines[0] == "LATCHED FAULT: safety key pulled"
    assert "detail: key input low" in lines
    assert any("PULLED: clip the key back in" in x for x in lines)
    assert lines[-1] == view.RESET_STEPS
    power_on = st.model_copy(update={"reasons": [Reason.POWER_ON.value]})
    style, lines = view.latched_banner(power_on)
    assert style == view.WARN
    assert "press r" in lines[-1]


def test_direction_has_its_own_colours() -> None:
    back, fwd = view.direction_badge("backward"), view.direction_badge("forward")
    assert back[0] == "BACKWARD"
    assert fwd[0] == "FORWARD"
    health = {view.OK, view.WARN, view.FAULT}
    assert back[1] not in health
    assert fwd[1] not in health
    assert back[1] != fwd[1]


def test_nice_ceiling() -> None:
    assert [chart.nice_ceiling(v) for v in (0, 0.3, 1.0, 1.05, 2.2, 4.0, 7.0, 12.0)] == [
        1.0, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 20.0,
    ]  # fmt: skip


def test_plot_draws_both_series_at_the_size_asked() -> None:
    samples: list[chart.Sample] = [(t * 0.1, 2.0, min(2.0, t * 0.01)) for t in range(600)]
    lines = chart.plot(samples, 40, 10, 180.0)
    assert len(lines) == 10
    assert all(len(x.plain) <= 40 for x in lines)
    assert "target" in lines[0].plain
    assert "actual" in lines[0].plain
    styles = {str(span.style) for x in lines[1:] for span in x.spans}
    assert view.SERIES_TARGET in styles
    assert view.SERIES_ACTUAL in styles
    assert lines[1].plain.startswith(" 2.5┤")  # 2.0 * 1.05 rounds up to 2.5
    assert chart.plot([], 40, 10, 180.0)[0].plain.startswith("── target")
    assert len(chart.plot(samples, 3, 1, 180.0)) == 1  # too small: the legend only


def test_chart_keeps_only_its_window() -> None:
    c = chart.SpeedChart(window_s=10.0)
    for i in range(100):
        c.add(i * 0.5, 1.0, 1.0)
    assert c.samples[0][0] >= 49.5 - 10.0
    c.add(0.0, 1.0, None)  # a new controller's clock: start again
    assert list(c.samples) == [(0.0, 1.0, None)]


def test_keybar_shows_simulator_and_remote_keys_only_when_they_apply() -> None:
    shown: list[str] = []

    class Probe(KeyBar):
        def show(self, text: str | Text) -> None:
            shown.append(text.plain if isinstance(text, Text) else text)

    bar = Probe()
    bar.set_keys(compact=True, simulated=False, remote=False, estop=False, key_in=True)
    # the simulated e-stop pressed: a latched fault
    bar.set_keys(
        compact=True, simulated=True, remote=True, estop=True, key_in=False, state="latched"
    )
    assert "estop" not in shown[0]
    assert "confirm" not in shown[0]
    assert "q quit" in shown[0]
    assert "e release" in shown[1]
    assert "k key in" in shown[1]
    assert "c confirm" in shown[1]
    assert all(len(s) <= 80 and s.startswith("SPACE STOP ") for s in shown)


def test_keybar_is_one_row_and_drops_the_least_urgent_keys_first() -> None:
    """Every key asked for at once at 80 columns: the stop and what is asked now stay."""
    shown: list[str] = []

    class Probe(KeyBar):
        def show(self, text: str | Text) -> None:
            shown.append(text.plain if isinstance(text, Text) else text)

    bar = Probe()
    for state in ("idle", "running", "latched", "ended"):
        bar.set_keys(
            compact=True, simulated=True, remote=True, estop=False, key_in=True, turn=True,
            state=state, width=80,
        )  # fmt: skip
    idle, running, latched, ended = shown
    assert all(len(s) <= 80 and s.startswith("SPACE STOP ") for s in shown)
    asked = ("t turned", "c confirm", "x reject")  # what waits for the operator now
    assert all(k in s for k in asked for s in (idle, running, latched))
    assert "s start" in idle
    assert "u units" not in idle
    assert "p pause +/- speed" in running
    assert "e estop" not in running  # the simulator's keys give way first
    assert "r reset" in latched
    assert "e estop" in latched
    assert ended == "SPACE STOP u units q exit"
    for width in (10, 30, 60):  # narrower still: the stop always, alone if need be
        bar.set_keys(
            compact=True, simulated=True, remote=True, estop=False, key_in=True, state="idle",
            width=width,
        )  # fmt: skip
        assert shown[-1].startswith("SPACE STOP")
        assert len(shown[-1]) <= max(width, len("SPACE STOP"))


async def test_layout_follows_the_terminal_size() -> None:
    app = DashboardApp(feed=feeds.normal())
    async with app.run_test(size=(80, 24)) as pilot:
        main = app.query_one("#main")
        assert main.has_class("compact")
        assert not main.has_class("large")
        await pilot.resize_terminal(140, 42)
        await pilot.pause()
        assert main.has_class("large")
        assert not main.has_class("compact")
        assert "Simulated treadmill" in line(app, "who")  # more room, more words
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        assert main.has_class("compact")


async def test_without_a_controller_every_command_is_refused_visibly() -> None:
    app = DashboardApp(feed=feeds.normal())
    async with app.run_test(size=(80, 24)) as pilot:
        for key, what in [("space", "STOP"), ("s", "start"), ("r", "reset"), ("e", "e-stop")]:
            await pilot.press(key)
            await pilot.pause()
            assert "REFUSED" in line(app, "notice")
            assert what in line(app, "notice")
            # a toast for each, the newest replacing the older: never a stale one beside it
            toasts = list(app._notifications)
            assert len(toasts) == 1
            assert what in toasts[0].title
        await pilot.press("u")
        assert app.mph
        assert app.query_one("#actual").query_one(Line).plain == "ACTUAL mph"
        await pilot.press("q")  # no controller: nothing to end, q leaves
        await pilot.pause()
    assert app.return_value == 0


def test_the_guide_leads_through_a_turnaround_on_a_turn_round_machine() -> None:
    (*_, pending) = feeds.turnaround(turn_pending=True)
    assert isinstance(pending, Status)
    assert view.guide(pending, 3, mph=False).plain.strip() == (
        "▶ walker turns round to face AWAY from the console: press t when turned"
    )
    turned = pending.model_copy(update={"turn_pending": False})
    assert view.guide(turned, 3, mph=False).plain.strip() == (
        "▶ press s to start segment 2/3 BACKWARD at 1.00 km/h  · space ends session"
    )
    stopping = pending.model_copy(
        update={"mode": "stopping", "at_standstill": False, "direction": "forward"}
    )
    assert view.guide(stopping, 3, mph=False).plain.strip() == (
        "▶ belt stopping for the turnaround: wait for standstill"
    )
    not_set = pending.model_copy(update={"direction": "forward", "turn_pending": False})
    assert "the profile sets BACKWARD" in view.guide(not_set, 3, mph=False).plain
    running = turned.model_copy(update={"mode": "running", "at_standstill": False})
    assert "the clip-on key is their only stop" in view.guide(running, 3, mph=False).plain
    assert view.guide(running.model_copy(update={"ended": True}), 3, mph=False).plain == ""


def test_the_guide_on_a_reversing_belt_asks_only_for_the_start() -> None:
    (*_, pending) = feeds.turnaround(turn_pending=False)
    assert isinstance(pending, Status)
    belt = pending.model_copy(
        update={"backward_walking": "belt_reverses", "belt_direction": "backward"}
    )
    assert view.guide(belt, 3, mph=True).plain.strip() == (
        "▶ press s to start segment 2/3 BACKWARD at 0.62 mph  · space ends session"
    )
    running = belt.model_copy(update={"mode": "running", "at_standstill": False})
    assert view.guide(running, 3, mph=False).plain == ""
    paused = belt.model_copy(update={"reasons": [Reason.OPERATOR_PAUSE.value]})
    assert "press s to resume segment 2/3" in view.guide(paused, 3, mph=False).plain


def test_keybar_offers_t_only_while_a_turn_waits_and_never_d() -> None:
    shown: list[str] = []

    class Probe(KeyBar):
        def show(self, text: str | Text) -> None:
            shown.append(text.plain if isinstance(text, Text) else text)

    bar = Probe()
    bar.set_keys(compact=True, simulated=True, remote=False, estop=False, key_in=True)
    bar.set_keys(compact=True, simulated=False, remote=False, estop=False, key_in=True, turn=True)
    assert " t " not in shown[0]
    assert "t turned" in shown[1]
    assert all(" d " not in s and "dir" not in s for s in shown)
    assert len(shown[1]) <= 80  # a real machine's keys fit one row of 80 columns


def test_the_now_line_shows_the_operators_speed_at_once() -> None:
    """After + the NOW line shows the new speed (and the plan's), not the plan's alone."""
    seg = feeds.welcome().session.segments[1]
    planned = view.segment_line("NOW", seg, 3, mph=False).plain
    assert f"{seg.target_kmh:.2f} km/h for" in planned
    faster = view.segment_line("NOW", seg, 3, mph=False, operator_kmh=seg.target_kmh + 0.1)
    assert f"{seg.target_kmh + 0.1:.2f} km/h (plan {seg.target_kmh:.2f}) for" in faster.plain
    same = view.segment_line("NOW", seg, 3, mph=False, operator_kmh=seg.target_kmh)
    assert same.plain == planned


async def test_the_event_log_keeps_its_newest_line_in_view_when_the_fault_banner_appears() -> None:
    """80x24: the fault's event, then the status with the latched fault; the banner takes
    rows from the log, and the log's newest line (the fault) must still be in view."""
    msgs = feeds.faulted()
    before = msgs[:-3]
    app = DashboardApp(feed=before)
    async with app.run_test(size=(80, 24)) as pilot:
        for n in range(30):  # a log longer than its pane
            app.apply(Event(t_s=1.0, kind="notice", text=f"00:01.0  notice    filler {n}"))
        await pilot.pause()
        event, *fault = msgs[-3:]
        app.apply(event)  # the fault's event first, drawn with the log at its full height
        await pilot.pause()
        for msg in fault:
            app.apply(msg)  # then the status with the latched fault: the banner
        await pilot.pause()
        await pilot.pause()
        log = app.query_one("#log", RichLog)
        assert app.query_one("#banner").display
        assert log.scroll_y == log.max_scroll_y
        shown = screen(app)
        assert "running -> faulted" in shown, shown


async def test_event_lines_wrap_and_wrap_again_when_the_pane_widens() -> None:
    """80 columns leave the event pane about 44: a long line wraps, never cut; wider,
    the same line takes fewer rows (rewrapped from the lines kept, not the old rows)."""
    long_line = "00:09.1  command   set_direction backward from profile: accepted: " + (
        "direction now backward; the walker turns to face away from the console"
    )
    app = DashboardApp(feed=[*feeds.normal(), Event(t_s=9.1, kind="command", text=long_line)])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        log = app.query_one("#log", EventLog)
        narrow = [strip.text.rstrip() for strip in log.lines]
        assert max(len(r) for r in narrow) <= log.scrollable_content_region.width
        assert " ".join(" ".join(narrow).split()).endswith(" ".join(long_line.split()))
        await pilot.resize_terminal(140, 42)
        await pilot.pause()
        await pilot.pause()
        wide = [strip.text.rstrip() for strip in log.lines]
        assert max(len(r) for r in wide) > max(len(r) for r in narrow)  # wider rows
        assert " ".join(" ".join(wide).split()).endswith(" ".join(long_line.split()))
        assert len(wide) < len(narrow)
