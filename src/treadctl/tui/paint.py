"""Putting the dashboard's state on its widgets (the wording is in `view`).

The functions take a `Board`: what they read of the App, as a Protocol, so that this
module never imports the App (which imports it).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

from rich.text import Text
from textual.geometry import Size
from textual.timer import Timer
from textual.widget import Widget

from treadctl.api.messages import Ended, Role, SessionInfo, Status
from treadctl.metronome.beat import BeatFollower
from treadctl.tui import view
from treadctl.tui.link import STALE_S, Link
from treadctl.tui.widgets import DirectionBadge, EventLog, Interlock, KeyBar, Line, SpeedBox

W = TypeVar("W", bound=Widget)


class Board(Protocol):
    """The dashboard's state and widgets, as painting needs them."""

    socket: Path | None
    link: Link | None
    link_state: str
    link_text: str
    session: SessionInfo | None
    status: Status | None
    ended: Ended | None
    mph: bool
    large: bool
    sim_estop: bool
    sim_key_in: bool
    event_lines: deque[str]
    follower: BeatFollower

    def beat_time(self) -> float | None: ...
    @property
    def size(self) -> Size: ...
    def query_one(self, selector: str, expect_type: type[W]) -> W: ...
    def set_timer(
        self, delay: float, callback: Callable[[], object], *, name: str | None = None
    ) -> Timer: ...


ENDED_STYLE = view.ENDED
BEAT_HOLD_S = 1.0  # the beat runs on this long past the last status (ten are sent a second)


def _line(app: Board, name: str) -> Line:
    return app.query_one(f"#{name}", Line)


def refresh_all(app: Board) -> None:
    show_session(app)
    show_status(app)


def show_session(app: Board) -> None:
    info = app.session
    who = Text()
    if info is None:
        who.append(str(app.socket or "no controller"), "dim")
    else:
        if info.simulated:  # first: a narrow row cuts the profile's name, never the tag
            who.append(" SIM ", "bold #000000 on #bcbcbc")
            who.append(" ")
        who.append(info.patient, "bold")
        who.append(f" · {info.profile}")
        if app.large:
            who.append(f" · {info.machine}")
    _line(app, "who").show(who)
    progression = info.progression if info is not None else ""
    session = _line(app, "session")
    session.show(Text(f"PLAN {progression}") if progression else Text(""))
    session.set_class(not progression, "-empty")
    show_keys(app)


def show_status(app: Board) -> None:
    st = app.status
    show_header(app)
    show_banner(app)
    show_guide(app)
    show_limit(app)
    show_keys(app)
    show_pace(app)
    if st is None:
        return
    mph = app.mph
    app.query_one("#actual", SpeedBox).show(st.actual_kmh, mph)
    app.query_one("#target", SpeedBox).show(st.target_kmh, mph)
    app.query_one("#direction", DirectionBadge).set_direction(st.direction, view.badge_note(st))
    cues = Text("incline ")
    cues.append(f"{st.incline_pct:.1f}%", "bold")
    cues.append("  cue ")
    cues.append(f"{st.cue_spm:.0f}/min" if st.cue_spm else "off", "bold")
    cues.append("  cap ")
    cues.append(view.speed_digits(st.cap_kmh, mph), "bold")
    if st.heart_rate_bpm is not None:
        cues.append(f"  ♥ {st.heart_rate_bpm:.0f}", "bold")
    _line(app, "cues").show(cues)
    total = len(app.session.segments) if app.session is not None else 0
    _line(app, "seg-now").show(view.segment_line("NOW", st.segment, total, mph, st.operator_kmh))
    _line(app, "seg-next").show(view.segment_line("NEXT", st.next_segment, total, mph))
    # the bars take what the panel leaves after "SEG  " and " 00:00 left of 00:00"
    room = app.query_one("#segments", Widget).content_size.width - 26
    width = max(10, min(60, room)) if room > 0 else 30
    _line(app, "seg-time").show(
        view.countdown_line("SEG", st.segment_elapsed_s, st.segment_remaining_s, width)
    )
    _line(app, "ses-time").show(
        view.countdown_line("ALL", st.session_elapsed_s, st.session_remaining_s, width)
    )
    app.query_one("#interlock", Interlock).show(st.indicators)
    remote = _line(app, "remote")
    if st.remote_requests:
        oldest = min(st.remote_requests, key=lambda r: r.ref)
        remote.show(view.remote_text(oldest, len(st.remote_requests) - 1, mph))
    else:
        remote.show("")
    remote.display = bool(st.remote_requests)
    warnings = _line(app, "warnings")
    warnings.show(Text("▲ " + "; ".join(st.warnings), view.WARN) if st.warnings else "")
    warnings.display = bool(st.warnings)


def show_pace(app: Board) -> None:
    """The incline and the visible beat, on one row: there for the whole session when
    the machine drives the incline (the layout stays put), else while a beat runs."""
    st = app.status
    shown = st is not None and not st.ended and app.ended is None
    t = app.beat_time() if shown else None
    beat = Text("")
    if st is not None and t is not None:
        f = app.follower
        lit = f.showing(t)
        if f.cadence_spm is not None or lit:
            beat = view.beat_text(f.cadence_spm, lit, f.count(t), st.metronome_sound)
    inc = view.incline_text(st.incline if st is not None and shown else None)
    line = _line(app, "pace")
    line.show(view.pace_line(inc, beat))
    line.display = shown and (bool(beat.plain) or (st is not None and st.incline is not None))


def show_guide(app: Board) -> None:
    total = len(app.session.segments) if app.session is not None else 0
    text = view.guide(app.status, total, app.mph, app.ended is not None)
    if app.link_state in ("lost", "exited"):
        text = Text("")
    line = _line(app, "guide")
    line.show(text)
    line.display = bool(text.plain)


def show_limit(app: Board) -> None:
    text = view.limit_line(app.status)
    if app.link_state in ("lost", "exited") or app.ended is not None:
        text = Text("")
    line = _line(app, "limit")
    line.show(text)
    line.display = bool(text.plain)


def show_header(app: Board) -> None:
    st = app.status
    mode = view.mode_badge(st, app.link_state, app.ended is not None)
    if st is not None:
        word, style = view.direction_badge(st.direction)
        mode.append(" ")
        mode.append(f" {word} ", style)
    mode.append(view.mode_tail(st), "bold")
    _line(app, "mode").show(mode)
    why = _line(app, "why")
    reasons = view.stop_reasons(st)
    why.show(Text(reasons, "bold #ffaf00"))
    why.display = bool(reasons)


def banner_lines(app: Board) -> tuple[str, list[str]]:
    """(style, lines) of the banner; no lines: no banner."""
    link = app.link
    stale = link.stale_for() if link is not None else 0.0
    if app.link_state == "exited":
        return view.FAULT, [
            "THE CONTROLLER HAS EXITED: this screen is not current",
            app.link_text,
            "Not retrying. q: exit. If the belt moves: use the emergency stop.",
        ]
    if app.link_state == "lost":
        never = link is not None and not link.ever_connected
        head = "NO CONTROLLER ANSWERS" if never else "CONNECTION TO THE CONTROLLER LOST"
        return view.FAULT, [
            f"{head}: this screen is not current",
            app.link_text,
            "Retrying every second. If the belt moves: use the emergency stop.",
        ]
    if stale > STALE_S:
        return view.FAULT, [
            f"NO STATUS FROM THE CONTROLLER FOR {stale:.0f} s: this screen is not current",
            "If the belt moves: use the emergency stop.",
        ]
    if app.ended is not None:
        summary: list[str] = []
        for line in app.ended.summary:
            if line.strip() == "control loop:":
                break
            summary.append(line)
        return ENDED_STYLE, [f"SESSION ENDED: {app.ended.outcome}   (q: exit)", *summary]
    st = app.status
    if st is not None and st.latched:
        return view.latched_banner(st)
    if link is not None and link.role is Role.OBSERVER:
        return view.WARN, [
            "OBSERVER ONLY: another operator console is attached; "
            "this screen can send stop and pause only"
        ]
    return "", []


def show_banner(app: Board) -> None:
    style, lines = banner_lines(app)
    banner = _line(app, "banner")
    # the colour comes from the class (the whole banner, not only its text)
    banner.show(Text("\n".join(lines), "bold"))
    banner.set_class(style == view.FAULT, "-fault")
    banner.set_class(style == view.WARN, "-warn")
    banner.set_class(style == ENDED_STYLE, "-ended")
    banner.set_class(app.link_state == "exited", "-wrap")  # the reason whole, even at 80
    banner.display = bool(lines)
    app.query_one("#main", Widget).set_class(app.ended is not None, "ended")


def show_keys(app: Board) -> None:
    info = app.session
    st = app.status
    if app.ended is not None or (st is not None and st.ended):
        state = "ended"
    elif st is not None and st.latched:
        state = "latched"
    elif st is not None and st.mode in ("running", "stopping"):
        state = "running"
    else:
        state = "idle"
    app.query_one("#keys", KeyBar).set_keys(
        compact=not app.large,
        simulated=info is not None and info.simulated,
        remote=st is not None and bool(st.remote_requests),
        turn=st is not None and st.turn_pending and not st.ended,
        home=st is not None
        and st.incline is not None
        and st.incline.home_allowed
        and not st.incline.faults
        and state == "idle",
        estop=app.sim_estop,
        key_in=app.sim_key_in,
        state=state,
        width=app.size.width,
    )


NOTICE_S = 20.0  # a reply stays this long (a newer one replaces it at once)


def notice(app: Board, text: str, style: str) -> None:
    """The answer line: the last reply or refusal, until the next, or NOTICE_S."""
    line = _line(app, "notice")
    shown = Text(text, style)
    line.show(shown)

    def expire() -> None:
        if line.plain == shown.plain:
            line.show("")

    if app.link is not None:  # a live dashboard; a fed one keeps its picture
        app.set_timer(NOTICE_S, expire)


def log_line(app: Board, line: str) -> None:
    app.event_lines.append(line)
    app.query_one("#log", EventLog).add(Text(line, view.event_style(line)))


def start_what(app: Board) -> str:
    st = app.status
    if st is None or st.segment is None:
        return "No segment to start."
    seg = st.segment
    total = len(app.session.segments) if app.session is not None else 0
    what = (
        f"Segment {seg.index + 1}/{total}: {seg.kind.upper()} at "
        f"{view.speed_text(st.operator_kmh or seg.target_kmh, app.mph)}, "
        f"{view.clock(st.segment_remaining_s)} left."
    )
    if seg.kind in ("forward", "backward") and seg.kind != st.direction:
        what += (
            f" Still set to {st.direction.upper()}: the profile sets {seg.kind.upper()} "
            "at standstill; wait for it."
        )
    elif st.turn_pending:
        what += (
            f" The walker's turn to face {view.facing_words(st.direction)} is not "
            "confirmed: press t first (a start is refused until then)."
        )
    return what


def start_checks(app: Board) -> list[str]:
    """The checklist of the segment about to start (the session's first without status)."""
    st = app.status
    if st is not None and st.segment is not None and st.segment.checklist:
        return st.segment.checklist
    return app.session.pre_start_checks if app.session is not None else []
