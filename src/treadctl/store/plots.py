"""The report's plots as PNG bytes: matplotlib on the Agg canvas, no display, no pyplot.

matplotlib is imported only when a plot is drawn (it takes about 0.1 s), so importing
this module (and the report, and the CLI) stays cheap. Each figure gets its own Agg
canvas: the backend is explicit, and no global pyplot state (figure managers, the
current figure) is touched.
Every stored string drawn on a plot is drawn with math text off, so a `$` in a label
or a reason is shown as written.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 150
SPEED_SIZE_IN = (10.0, 5.2)  # 1500 x 780 pixels
SPEED_INCLINE_SIZE_IN = (10.0, 7.0)  # with the incline under the speed: 1500 x 1050 pixels
INCLINE_HEIGHT_SHARE = 0.5  # the incline's axes are this high against the speed's
INCLINE_COLOUR = "#009E73"
INCLINE_AXIS_LABEL = "incline (%)"
PROGRESSION_SIZE_IN = (10.0, 4.2)  # 1500 x 630 pixels
SECONDS_AXIS_UP_TO_S = 180.0  # longer sessions are drawn in minutes
LONG_SAMPLES = 3000  # above this (5 min at 10 Hz) the belt's line is drawn thinner

# Okabe-Ito colours (readable with the common colour-vision deficiencies); the stops also
# differ in line style and marker, not only in colour.
TARGET_COLOUR = "#444444"
BELT_COLOUR = "#0072B2"
BACKWARD_SHADE = "#56B4E9"
STOP_COLOUR = "#E69F00"
FAULT_COLOUR = "#D55E00"
ACHIEVED_COLOUR = "#0072B2"
HEADROOM = 1.9  # the y axis reaches this times the peak: the stops' labels stand above the data
LABEL_WRAP = 34  # characters per line of a stop's reason on the plot (two lines at most)
LABEL_GAP = 0.035  # a stop closer than this (share of the time axis) to the last labelled
# one shows its number only; the report's table of stops has every one in full


@dataclass(frozen=True, slots=True)
class SpeedSeries:
    """The 10 Hz samples: seconds since the start, km/h (None: no drive reading)."""

    t_s: Sequence[float]
    target_kmh: Sequence[float]
    actual_kmh: Sequence[float | None]
    backward: Sequence[bool]  # the commanded belt direction is backward


@dataclass(frozen=True, slots=True)
class InclineSeries:
    """The powered incline at the speed's sample times: target and measured % (None: no
    reading, or no target recorded)."""

    target_pct: Sequence[float | None]
    actual_pct: Sequence[float | None]


@dataclass(frozen=True, slots=True)
class StopMark:
    number: int  # as in the report's table of stops
    t_s: float
    latched: bool  # a latched fault (else a controlled stop)
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProgressionPoint:
    session_id: int
    date: str  # YYYY-MM-DD
    target_kmh: float | None  # the session's highest backward target; None: none planned
    achieved_kmh: float | None  # mean moving belt speed backward; None: it never moved backward
    unplanned_stops: int  # every stop but the profile's own (turnarounds, the end)
    latched_faults: int


def _figure(size_in: tuple[float, float]) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 - see module doc
    from matplotlib.figure import Figure  # noqa: PLC0415 - see module doc

    fig = Figure(figsize=size_in, dpi=DPI)
    FigureCanvasAgg(fig)  # attaches itself: the backend is Agg, whatever the default
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    # no Software/date metadata: the same data gives the same bytes
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _runs(flags: Sequence[bool]) -> list[tuple[int, int]]:
    """(first, last) index of each run of True."""
    out: list[tuple[int, int]] = []
    start: int | None = None
    for i, flag in enumerate(flags):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            out.append((start, i - 1))
            start = None
    if start is not None:
        out.append((start, len(flags) - 1))
    return out


def stop_label(stop: StopMark) -> str:
    """The number, the kind and the first reason, wrapped: 'n latched fault:' then the reason
    (each line a column of the vertical label)."""
    head = f"{stop.number} {'latched fault' if stop.latched else 'stop'}:"
    first = stop.reasons[0] if stop.reasons else "-"
    lines = textwrap.wrap(first, LABEL_WRAP) or ["-"]
    if len(lines) > 2:
        lines = [lines[0], textwrap.shorten(" ".join(lines[1:]), LABEL_WRAP, placeholder="...")]
    if len(stop.reasons) > 1:
        lines.append(f"(+{len(stop.reasons) - 1} more)")
    return "\n".join([head, *lines])


def speed_plot(
    series: SpeedSeries,
    stops: Sequence[StopMark],
    title: str,
    incline: InclineSeries | None = None,
) -> bytes:
    """Target and measured belt speed over time, backward time shaded, every stop marked;
    with `incline`, the incline's target and measured % under it on the same time axis."""
    from matplotlib.lines import Line2D  # noqa: PLC0415 - see module doc
    from matplotlib.patches import Patch  # noqa: PLC0415 - see module doc

    fig = _figure(SPEED_INCLINE_SIZE_IN if incline is not None else SPEED_SIZE_IN)
    inc_ax: Axes | None = None
    if incline is None:
        ax: Axes = fig.add_subplot()
    else:
        grid = fig.add_gridspec(2, 1, height_ratios=(1.0, INCLINE_HEIGHT_SHARE), hspace=0.08)
        ax = fig.add_subplot(grid[0])
        inc_ax = fig.add_subplot(grid[1], sharex=ax)
    t = list(series.t_s)
    end_s = t[-1] if t else 0.0
    minutes = end_s > SECONDS_AXIS_UP_TO_S
    scale = 60.0 if minutes else 1.0
    x = [v / scale for v in t]
    step = (x[1] - x[0]) if len(x) > 1 else 0.1 / scale

    for first, last in _runs(series.backward):
        ax.axvspan(x[first], x[last] + step, color=BACKWARD_SHADE, alpha=0.25, lw=0)
    # the target on top: over a long session the belt's small ripple draws as a band
    ax.step(x, series.target_kmh, where="post", color=TARGET_COLOUR, ls="--", lw=1.3, zorder=3)
    actual = [math.nan if v is None else v for v in series.actual_kmh]
    ax.plot(x, actual, color=BELT_COLOUR, lw=1.6 if len(x) <= LONG_SAMPLES else 0.9, zorder=2)

    peak = max([0.0, *series.target_kmh, *(v for v in actual if not math.isnan(v))])
    top = max(peak, 0.5) * HEADROOM
    ax.set_ylim(0.0, top)
    right = max(x[-1] + step if x else 1.0, step)
    ax.set_xlim(0.0, right)
    last_labelled = -math.inf
    for stop in stops:
        colour = FAULT_COLOUR if stop.latched else STOP_COLOUR
        sx = stop.t_s / scale
        ax.axvline(
            sx, color=colour, lw=2.2 if stop.latched else 1.4, ls="-" if stop.latched else ":"
        )
        ax.plot([sx], [top], marker="X" if stop.latched else "v", color=colour, ms=8, clip_on=False)
        full = sx - last_labelled >= LABEL_GAP * right
        last_labelled = sx if full else last_labelled
        near_end = sx > 0.93 * right  # the label goes left of the line, inside the axes
        ax.text(
            sx - 0.004 * right if near_end else sx + 0.004 * right,
            top * 0.97,
            stop_label(stop) if full else str(stop.number),
            rotation=90,
            va="top",
            ha="right" if near_end else "left",
            fontsize=7.5,
            color="#000000",
            parse_math=False,
            linespacing=1.1,
        )

    time_label = "time since session start (min)" if minutes else "time since session start (s)"
    if inc_ax is None or incline is None:
        ax.set_xlabel(time_label)
    else:
        _incline_axes(inc_ax, x, incline, stops, scale, time_label)
        ax.tick_params(labelbottom=False)
    ax.set_ylabel("belt speed (km/h)")
    ax.set_title(title, fontsize=11, loc="left").set_parse_math(False)
    ax.grid(True, color="#dddddd", lw=0.6)
    handles = [
        Line2D(
            [],
            [],
            color=TARGET_COLOUR,
            ls="--",
            lw=1.3,
            label="target (km/h)" if incline is None else "target (km/h; incline %)",
        ),
        Line2D([], [], color=BELT_COLOUR, lw=1.6, label="belt, measured (km/h)"),
        Patch(color=BACKWARD_SHADE, alpha=0.25, label="walking backward"),
        Line2D([], [], color=STOP_COLOUR, ls=":", lw=1.4, marker="v", label="stop (controlled)"),
        Line2D([], [], color=FAULT_COLOUR, lw=2.2, marker="X", label="stop (latched fault)"),
    ]
    if incline is None:
        fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=8.5, frameon=False)
        fig.subplots_adjust(left=0.07, right=0.98, top=0.93, bottom=0.17)
        return _png(fig)
    handles.append(Line2D([], [], color=INCLINE_COLOUR, lw=1.6, label="incline, measured (%)"))
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8.5, frameon=False)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.95, bottom=0.17)
    return _png(fig)


def _incline_axes(
    ax: Axes,
    x: Sequence[float],
    incline: InclineSeries,
    stops: Sequence[StopMark],
    scale: float,
    time_label: str,
) -> None:
    """The incline's target (dashed steps) and measured % under the speed, stops marked."""
    nan = math.nan
    target = [nan if v is None else v for v in incline.target_pct]
    actual = [nan if v is None else v for v in incline.actual_pct]
    ax.step(x, target, where="post", color=TARGET_COLOUR, ls="--", lw=1.3, zorder=3)
    ax.plot(x, actual, color=INCLINE_COLOUR, lw=1.6 if len(x) <= LONG_SAMPLES else 0.9)
    values = [v for v in (*target, *actual) if not math.isnan(v)]
    low = min([0.0, *values])
    high = max([1.0, *values])
    ax.set_ylim(low - 0.05 * (high - low), high * 1.15)
    for stop in stops:
        colour = FAULT_COLOUR if stop.latched else STOP_COLOUR
        ax.axvline(
            stop.t_s / scale,
            color=colour,
            lw=2.2 if stop.latched else 1.4,
            ls="-" if stop.latched else ":",
        )
    ax.set_xlabel(time_label)
    ax.set_ylabel(INCLINE_AXIS_LABEL)
    ax.grid(True, color="#dddddd", lw=0.6)


def progression_plot(points: Sequence[ProgressionPoint], current_id: int, title: str) -> bytes:
    """Backward target and achieved backward speed per session, stops marked."""
    from matplotlib.lines import Line2D  # noqa: PLC0415 - see module doc

    fig = _figure(PROGRESSION_SIZE_IN)
    ax: Axes = fig.add_subplot()
    x = list(range(len(points)))
    nan = math.nan
    target = [nan if p.target_kmh is None else p.target_kmh for p in points]
    achieved = [nan if p.achieved_kmh is None else p.achieved_kmh for p in points]
    ax.plot(x, target, color=TARGET_COLOUR, ls="--", marker="s", ms=5, lw=1.2)
    ax.plot(x, achieved, color=ACHIEVED_COLOUR, marker="o", ms=6, lw=1.6)
    values = [v for v in (*target, *achieved) if not math.isnan(v)]
    top = max([1.0, *values]) * 1.35
    ax.set_ylim(0.0, top)
    for i, p in enumerate(points):
        if p.session_id == current_id:
            ax.axvspan(i - 0.4, i + 0.4, color="#eeeeee", lw=0, zorder=0)
        if p.unplanned_stops == 0:
            continue
        colour = FAULT_COLOUR if p.latched_faults else STOP_COLOUR
        y = achieved[i] if not math.isnan(achieved[i]) else 0.0
        ax.plot([i], [y], marker="X" if p.latched_faults else "v", color=colour, ms=11, ls="")
        n = p.unplanned_stops
        ax.annotate(
            f"{n} stop{'s' if n != 1 else ''}",
            (i, y),
            xytext=(0, -16),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            color=colour,
        )
    ax.set_xticks(x, [f"{p.date}\n#{p.session_id}" for p in points], fontsize=8)
    if len(points) > 12:
        for label in ax.get_xticklabels():
            label.set_rotation(60)
    ax.set_xlim(-0.6, max(len(points) - 0.4, 0.6))
    ax.set_xlabel("session date (UTC) and session id; the shaded one is this report's session")
    ax.set_ylabel("backward speed (km/h)")
    ax.set_title(title, fontsize=11, loc="left").set_parse_math(False)
    ax.grid(True, axis="y", color="#dddddd", lw=0.6)
    handles = [
        Line2D([], [], color=TARGET_COLOUR, ls="--", marker="s", label="backward target (km/h)"),
        Line2D(
            [],
            [],
            color=ACHIEVED_COLOUR,
            marker="o",
            label="achieved: mean moving belt speed (km/h)",
        ),
        Line2D([], [], color=STOP_COLOUR, marker="v", ls="", label="unplanned stop(s)"),
        Line2D([], [], color=FAULT_COLOUR, marker="X", ls="", label="latched fault"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8.5, frameon=False)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.92, bottom=0.27)
    return _png(fig)
