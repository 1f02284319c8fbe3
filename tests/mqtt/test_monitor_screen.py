"""`treadctl monitor` at 80x24, fed by hand (no broker needed): what the operator reads."""

from __future__ import annotations

import html
import re
import time

from test_monitor import availability, fake_state

from treadctl.mqtt.fleet import Fleet
from treadctl.mqtt.monitor import MonitorApp, MonitorSettings
from treadctl.mqtt.topics import Topics
from treadctl.safety.types import Reason


def svg_text(svg: str) -> str:
    """The text of a Textual SVG screenshot, row by row (as tests/tui/tui_rig.py)."""
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


def feed(fleet: Fleet, name: str, link: str, **state: object) -> None:
    t = Topics("clinic", name)
    now = time.time()
    fleet.update(t.state, fake_state(name, **state).model_dump_json().encode(), now)
    fleet.update(t.status, availability(name, link).encode(), now)


POWER_ON = {
    "mode": "faulted",
    "reasons": [Reason.POWER_ON.value],
    "latched": True,
    "interlock": "ok",
    "alarms": [],
}


def test_the_power_on_latch_is_not_a_fault() -> None:
    fleet = Fleet("clinic")
    feed(fleet, "tm-01", "online", **POWER_ON)
    feed(fleet, "tm-02", "online")  # a real latched fault (the e-stop)
    now = time.time()
    assert fleet.row("tm-01", now)[2] == "reset required"
    assert fleet.row("tm-02", now)[2] == "FAULTED"
    assert any("reset required (power-on)" in line for line in fleet.detail("tm-01", now))
    assert not any("power-on" in line for line in fleet.detail("tm-02", now))


async def test_at_80x24_without_commands_link_and_power_on_read_whole() -> None:
    """No Stop/Pause key that would only say "commands are off"; "offline" in full in the
    Link column; the power-on latch as "reset required", never FAULTED beside "ok"."""
    settings = MonitorSettings("127.0.0.1", 1, "clinic")  # nothing listens: no broker
    app = MonitorApp(settings, refresh_s=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        feed(app.fleet, "tm-01", "offline", **POWER_ON)
        app.refresh_view()
        await pilot.pause()
        feed(app.fleet, "tm-01", "online", **POWER_ON)
        app.refresh_view()
        await pilot.pause()
        feed(app.fleet, "tm-01", "offline", **POWER_ON)  # wider than the first word seen
        app.refresh_view()
        await pilot.pause()
        shown = svg_text(app.export_screenshot())
        row = next(line for line in shown.splitlines() if "tm-01" in line)
        assert " offline " in row, shown
        assert "reset required" in row, shown
        assert "FAULTED" not in shown, shown
        assert "Stop" not in shown, shown
        assert "Pause" not in shown, shown
        assert "commands off" in shown, shown
        await pilot.press("s")
        await pilot.pause()
        assert not app._notifications  # no toast that only says commands are off
