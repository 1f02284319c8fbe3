"""What a status costs the dashboard (issue 27: at most 15 % of one core while attached).

Ten statuses a second change the speeds, the countdowns and the beat; none of them may lay
out the whole screen again (that, at every countdown and beat, was most of its work), and
the speed chart is drawn twice a second, not ten times. A status that changes nothing on
the interlock panel or the key bar is not painted on them again; a trip is still shown
by the status that carries it, before the next frame.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import tui_feeds as feeds
from textual.widget import Widget

from treadctl.api.messages import Status
from treadctl.tui.app import DashboardApp
from treadctl.tui.chart import REDRAW_S, SpeedChart
from treadctl.tui.widgets import Interlock, Line


def layouts_asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The widgets that ask for a layout of the screen from now on."""
    asked: list[str] = []
    refresh = Widget.refresh

    def spy(self: Widget, *regions: Any, layout: bool = False, **kw: Any) -> Widget:
        if layout:
            asked.append(f"{type(self).__name__}#{self.id}")
        return refresh(self, *regions, layout=layout, **kw)

    monkeypatch.setattr(Widget, "refresh", spy)
    return asked


def later(last: Status, i: int) -> Status:
    """`last`, i tenths of a second later: the speed, countdowns and bars moved."""
    dt = i * 0.1
    return last.model_copy(
        update={
            "t_s": last.t_s + dt,
            "actual_kmh": 1.9 + (i % 3) * 0.05,
            "segment_elapsed_s": last.segment_elapsed_s + dt,
            "segment_remaining_s": last.segment_remaining_s - dt,
            "session_elapsed_s": last.session_elapsed_s + dt,
            "session_remaining_s": last.session_remaining_s - dt,
        }
    )


@pytest.mark.parametrize("size", [(80, 24), (140, 42)])
async def test_statuses_that_move_numbers_lay_nothing_out(
    monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    msgs = feeds.normal()
    last = msgs[-1]
    assert isinstance(last, Status)
    app = DashboardApp(feed=msgs)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        seg_time = app.query_one("#seg-time", Line).plain
        asked = layouts_asked(monkeypatch)
        for i in range(1, 31):
            app.apply(later(last, i))
            await pilot.pause()
        assert app.query_one("#seg-time", Line).plain != seg_time  # it did move
        assert asked == []


def test_the_chart_is_drawn_every_half_second_of_session_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ten samples a second, one redraw each REDRAW_S: a column of the chart is half a
    second or more, and a redraw takes every sample kept (none is skipped, only drawn
    later)."""
    c = SpeedChart()
    drawn: list[float] = []
    monkeypatch.setattr(c, "refresh", lambda *_, **__: drawn.append(c.samples[-1][0]))
    for i in range(100):  # 10 s of statuses
        c.add(i / 10, 2.0, 1.9)
    assert len(c.samples) == 100
    assert drawn[0] == 0.0
    assert 19 <= len(drawn) <= 21
    assert all(b - a >= REDRAW_S - 1e-9 for a, b in itertools.pairwise(drawn))
    c.add(0.0, 0.0, None)  # a new controller's clock: drawn at once
    assert drawn[-1] == 0.0
    assert list(c.samples) == [(0.0, 0.0, None)]
    before = len(drawn)
    c.set_units(True)  # km/h or mph: at once
    assert len(drawn) == before + 1


async def test_a_trip_is_on_the_panel_and_in_the_banner_with_its_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    msgs = feeds.faulted()
    fault = msgs[-2]
    assert isinstance(fault, Status)
    assert fault.latched
    app = DashboardApp(feed=msgs[:-3])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "OPEN" not in app.query_one(Interlock).plain
        asked = layouts_asked(monkeypatch)
        app.apply(fault)
        # no frame in between: the rows and the banner hold the trip once it is applied
        assert "■ E-stop chain OPEN: release the e-stop" in app.query_one(Interlock).plain
        assert "LATCHED FAULT" in app.query_one("#banner", Line).plain
        assert "Line#banner" in asked  # the banner's rows appear: that is a layout
        row = app.query_one(Interlock).rows[0]
        assert row.has_class("-fault")
        # the trip clears (reset): shown with the status that says so
        app.apply(later(fault, 1).model_copy(update={"indicators": feeds.indicators()}))
        assert "OPEN" not in app.query_one(Interlock).plain
        assert not row.has_class("-fault")
        assert app.query_one(Interlock).rows[0].shown.plain.startswith("●")
