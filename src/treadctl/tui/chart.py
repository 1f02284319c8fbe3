"""A small two-series line chart (target and actual speed) drawn in braille dots.

`plot` is pure: samples in, rich Text lines out. `SpeedChart` keeps the samples of the
last `window_s` seconds of session time (the Status messages' own clock, so the chart
is the same whatever the screen's frame rate) and draws them at its current size.
"""

from __future__ import annotations

import math
from collections import deque

from rich.text import Text
from textual.widget import Widget

from treadctl.tui.view import SERIES_ACTUAL, SERIES_TARGET, clock, speed_value, unit

# braille dot bits by (x, y) inside a 2 x 4 cell, y from the top
_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
AXIS_W = 5  # "12.5┤"
Sample = tuple[float, float, float | None]  # t_s, target, actual (None: no reading)


def nice_ceiling(value: float) -> float:
    """The axis top: 1, 2, 2.5 or 5 times a power of ten, at least `value`."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if step * power >= value - 1e-9:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def _columns(
    samples: list[tuple[float, float | None]], t0: float, dt: float, n: int
) -> list[float | None]:
    """The last value in each of `n` time columns starting at t0; gaps stay None."""
    cols: list[float | None] = [None] * n
    for t, v in samples:
        i = int((t - t0) / dt)
        if 0 <= i < n and v is not None:
            cols[i] = v
    return cols


def _raster(cols: list[float | None], top: float, rows: int) -> list[list[int]]:
    """Braille bits per cell (rows x cells), consecutive points joined vertically."""
    cells = (len(cols) + 1) // 2
    grid = [[0] * cells for _ in range(rows)]
    dots = rows * 4
    prev: int | None = None
    for x, v in enumerate(cols):
        if v is None:
            prev = None
            continue
        y = dots - 1 - round(max(0.0, min(v, top)) / top * (dots - 1))
        lo, hi = (y, y) if prev is None else (min(prev, y), max(prev, y))
        for yy in range(lo, hi + 1):
            grid[yy // 4][x // 2] |= _BITS[x % 2][yy % 4]
        prev = y
    return grid


def span_s(samples: list[Sample], window_s: float, least_s: float = 60.0) -> float:
    """The time the x axis spans: grows with the session from a minute to the window."""
    if not samples:
        return min(least_s, window_s)
    return max(min(least_s, window_s), min(window_s, samples[-1][0] - samples[0][0]))


def plot(
    samples: list[Sample], width: int, height: int, window_s: float, mph: bool = False
) -> list[Text]:
    """`height` lines of `width` cells: a legend line, then the plot with a y axis."""
    window_s = span_s(samples, window_s)
    legend = Text()
    legend.append("── target", SERIES_TARGET)
    legend.append(" ")
    legend.append("── actual", SERIES_ACTUAL)
    legend.append(f" {unit(mph)}, last {clock(window_s)}", "dim")
    lines = [legend]
    rows = height - 1
    plot_w = width - AXIS_W
    if rows < 1 or plot_w < 2:
        return lines[:height]
    n = plot_w * 2
    end = samples[-1][0] if samples else 0.0
    t0 = end - window_s
    dt = window_s / n
    target = [(t, speed_value(tg, mph)) for t, tg, _ in samples]
    actual = [(t, speed_value(a, mph)) for t, _, a in samples]
    top = nice_ceiling(max([1.0] + [v for _, v in target + actual if v is not None]) * 1.05)
    g_target = _raster(_columns(target, t0, dt, n), top, rows)
    g_actual = _raster(_columns(actual, t0, dt, n), top, rows)
    for r in range(rows):
        if r == 0:
            label = f"{top:4.1f}┤"
        elif r == rows - 1:
            label = f"{0.0:4.1f}┤"
        elif rows >= 5 and r == rows // 2:
            label = f"{top * (1 - r / (rows - 1)):4.1f}┤"
        else:
            label = "    │"
        line = Text(label, "dim")
        for c in range(plot_w):
            a, b = g_actual[r][c], g_target[r][c]
            if a or b:
                # where both pass through a cell, the cell takes the actual's colour
                line.append(chr(0x2800 | a | b), SERIES_ACTUAL if a else SERIES_TARGET)
            else:
                line.append(" ")
        lines.append(line)
    return lines


class SpeedChart(Widget):
    """Target and actual belt speed over the last few minutes."""

    DEFAULT_CSS = """
    SpeedChart { height: 1fr; min-height: 3; }
    """

    def __init__(self, window_s: float = 180.0, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.window_s = window_s
        self.mph = False
        self.samples: deque[Sample] = deque()

    def add(self, t_s: float, target_kmh: float, actual_kmh: float | None) -> None:
        if self.samples and t_s < self.samples[-1][0]:
            self.samples.clear()  # a new controller, a new clock
        self.samples.append((t_s, target_kmh, actual_kmh))
        while self.samples and self.samples[0][0] < t_s - self.window_s:
            self.samples.popleft()
        self.refresh()

    def set_units(self, mph: bool) -> None:
        self.mph = mph
        self.refresh()

    def render(self) -> Text:
        w, h = self.content_size
        lines = plot(list(self.samples), w, h, self.window_s, self.mph)
        return Text("\n").join(lines)
