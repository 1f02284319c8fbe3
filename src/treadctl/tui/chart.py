"""A small two-series line chart (target and actual speed) drawn in braille dots.

`plot` is pure: samples in, rich Text lines out. `SpeedChart` keeps the samples of the
last `window_s` seconds of session time (the Status messages' own clock, so the chart
is the same whatever the screen's frame rate) and draws them at its current size, every
`REDRAW_S` of session time (a column is half a second or more: ten redraws a second
were most of the dashboard's work).
"""

from __future__ import annotations

import math
from collections import deque

from rich.text import Span, Text
from textual.widget import Widget

from treadctl.tui.view import SERIES_ACTUAL, SERIES_TARGET, clock, speed_value, unit

# braille dot bits by (x, y) inside a 2 x 4 cell, y from the top
_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
AXIS_W = 5  # "12.5┤"
Sample = tuple[float, float, float | None]  # t_s, target, actual (None: no reading)
REDRAW_S = 0.5  # session seconds between two redraws of the chart


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
    samples: list[Sample], t0: float, dt: float, n: int
) -> tuple[list[float | None], list[float | None], float]:
    """The last target and the last actual in each of `n` time columns starting at t0
    (gaps stay None), and the highest speed of all the samples (km/h, at least 0).

    One pass over the samples in km/h: a redraw converts only what it draws."""
    target: list[float | None] = [None] * n
    actual: list[float | None] = [None] * n
    peak = 0.0
    for t, tg, a in samples:
        i = int((t - t0) / dt)
        inside = 0 <= i < n
        if inside:
            target[i] = tg
        peak = max(peak, tg)
        if a is not None:
            if inside:
                actual[i] = a
            peak = max(peak, a)
    return target, actual, peak


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
    target, actual, peak = _columns(samples, t0, dt, n)
    # the unit's conversion keeps the order of speeds: converting the peak is the same
    # as taking the peak of the converted speeds
    top = nice_ceiling(max(1.0, speed_value(peak, mph) or 0.0) * 1.05)
    g_target = _raster([speed_value(v, mph) for v in target], top, rows)
    g_actual = _raster([speed_value(v, mph) for v in actual], top, rows)
    for r in range(rows):
        if r == 0:
            label = f"{top:4.1f}┤"
        elif r == rows - 1:
            label = f"{0.0:4.1f}┤"
        elif rows >= 5 and r == rows // 2:
            label = f"{top * (1 - r / (rows - 1)):4.1f}┤"
        else:
            label = "    │"
        lines.append(_row(label, g_actual[r], g_target[r]))
    return lines


def _row(label: str, actual: list[int], target: list[int]) -> Text:
    """One plot row: the axis label, then a cell per column, each drawn cell with its
    colour (the Text that appending cell by cell made, built without Text.append)."""
    cells: list[str] = []
    spans: list[Span] = []
    for x, (a, b) in enumerate(zip(actual, target, strict=True), start=len(label)):
        if a or b:
            cells.append(chr(0x2800 | a | b))
            # where both pass through a cell, the cell takes the actual's colour
            spans.append(Span(x, x + 1, SERIES_ACTUAL if a else SERIES_TARGET))
        else:
            cells.append(" ")
    return Text(label + "".join(cells), "dim", spans=spans)


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
        self.drawn_t: float | None = None  # the session time of the last redraw asked for

    def add(self, t_s: float, target_kmh: float, actual_kmh: float | None) -> None:
        if self.samples and t_s < self.samples[-1][0]:
            self.samples.clear()  # a new controller, a new clock
            self.drawn_t = None
        self.samples.append((t_s, target_kmh, actual_kmh))
        while self.samples and self.samples[0][0] < t_s - self.window_s:
            self.samples.popleft()
        # drawn again every REDRAW_S of session time, not on each of the ten statuses a
        # second: a column of the chart is half a second or more
        if self.drawn_t is None or t_s - self.drawn_t >= REDRAW_S:
            self.drawn_t = t_s
            self.refresh()

    def set_units(self, mph: bool) -> None:
        self.mph = mph
        self.refresh()

    def render(self) -> Text:
        w, h = self.content_size
        lines = plot(list(self.samples), w, h, self.window_s, self.mph)
        return Text("\n").join(lines)
