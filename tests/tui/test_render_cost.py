"""What a status costs the dashboard (issue 27: at most 15 % of one core while attached).

Ten statuses a second change the speeds, the countdowns and the beat; none of them may lay
out the whole screen again (that, at every countdown and beat, was most of its work).
"""

from __future__ import annotations

from typing import Any

import pytest
import tui_feeds as feeds
from textual.widget import Widget

from treadctl.api.messages import Status
from treadctl.tui.app import DashboardApp
from treadctl.tui.widgets import Line


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
