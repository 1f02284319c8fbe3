"""The operator dashboard: `treadctl dashboard --socket PATH`.

`DashboardApp(socket)` connects to the controller as its operator console; with no
socket it connects to nothing and shows what `apply` is fed (tests, screenshots). Every
key becomes one command to the controller, and every answer is shown: a refusal is a
red line and a notification, never silence. The screen never decides what is safe; the
controller does, and the screen says what it decided.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.timer import Timer

from treadctl.api.client import ServerMsg
from treadctl.api.messages import (
    Action,
    Ended,
    Error,
    Event,
    Reply,
    Role,
    SessionInfo,
    Status,
    Welcome,
)
from treadctl.metronome.beat import BeatFollower, wanted_cadence
from treadctl.tui import commands, paint, terminal
from treadctl.tui.chart import SpeedChart
from treadctl.tui.dialogs import StartConfirm
from treadctl.tui.link import STALE_S, ControllerExit, Link
from treadctl.tui.widgets import DirectionBadge, EventLog, Interlock, KeyBar, Line, SpeedBox

LOG_LINES = 1000
STOP_ENDS_SESSION = "a stop ends the session (p pauses)"
LARGE_MIN = (120, 34)  # columns, rows: at least this much room gets the large layout
BEAT_FRAME_S = 0.04  # the visible beat is repainted this often (a flash lasts 0.12 s)


class DashboardApp(App[int]):
    CSS_PATH = "dashboard.tcss"
    TITLE = "treadctl"
    ENABLE_COMMAND_PALETTE = False  # an operator console: no ctrl+p palette
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "stop", "STOP", priority=True),  # every screen, every dialog
        Binding("s", "start", "start"),
        Binding("p", "pause", "pause"),
        Binding("plus,equals_sign", "speed(1)", "faster"),  # = : + without shift
        Binding("minus", "speed(-1)", "slower"),
        Binding("r", "reset", "reset"),
        Binding("t", "turned", "walker turned"),
        Binding("d", "direction", "direction"),
        Binding("u", "units", "units"),
        Binding("q", "quit", "quit"),
        Binding("c", "remote(True)", "confirm remote"),
        Binding("x", "remote(False)", "reject remote"),
        Binding("h", "incline_home", "incline home"),
        Binding("e", "sim_estop", "sim e-stop"),
        Binding("k", "sim_key", "sim key"),
    ]

    class Beat(Message):
        """The heartbeat timer's tick, handled in the App's own message queue."""

    def __init__(
        self,
        socket: Path | None = None,
        feed: Iterable[ServerMsg] = (),
        controller: ControllerExit | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """`clock`: local seconds, for the beat between two statuses (tests step it);
        None: the monotonic clock with a controller, and no time between statuses for a
        fed screen (its picture does not depend on when it is taken)."""
        super().__init__()
        self.clock = clock or (time.monotonic if socket is not None else None)
        self.follower = BeatFollower()  # the visible beat, on the clicks' grid
        self.status_at = 0.0  # self.clock() when the last status arrived
        self.beat_timer: Timer | None = None
        self.socket = socket
        self.controller = controller  # the controller process `treadctl run` started
        self.controller_code: int | None = None  # its exit code, once it has exited
        self.link = Link(socket, self) if socket is not None else None
        self.link_state = "offline" if socket is None else "connecting"
        self.link_text = ""
        self.session: SessionInfo | None = None
        self.status: Status | None = None
        self.ended: Ended | None = None
        self.mph = False
        self.large = False
        self.quitting = False
        self.sim_estop = False  # what this dashboard set on the simulator
        self.sim_key_in = True
        self.event_lines: deque[str] = deque(maxlen=LOG_LINES)  # what the log pane holds
        self._feed = list(feed)
        self._restore_signals: Callable[[], None] | None = None

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="main"):
            with Horizontal(id="top"):
                yield Line(id="mode")
                yield Line(id="who")
            yield Line(id="why")
            yield Line(id="banner")
            yield Line(id="guide")
            yield Line(id="limit")
            with Horizontal(id="speeds"):
                yield SpeedBox("ACTUAL", id="actual")
                yield SpeedBox("TARGET", id="target")
                with Vertical(id="dirbox"):
                    yield DirectionBadge(id="direction")
                    yield Line(id="cues")
            yield Line(id="pace")
            yield Line(id="notice")
            yield Line(id="remote")
            yield Line(id="warnings")
            with Horizontal(id="middle"):
                with Vertical(id="segments"):
                    for name in ("seg-now", "seg-next", "seg-time", "ses-time", "session"):
                        yield Line(id=name)
                yield Interlock(id="interlock")
            with Horizontal(id="bottom"):
                yield EventLog(id="log", max_lines=LOG_LINES)
                yield SpeedChart(id="chart")
            yield KeyBar(id="keys")

    def on_mount(self) -> None:
        self._layout(self.size.width, self.size.height)
        self.query_one("#interlock").border_title = "INTERLOCK"
        self.query_one("#log").border_title = "EVENTS"
        self.query_one("#chart").border_title = "SPEED"
        paint.refresh_all(self)
        for msg in self._feed:
            self.apply(msg)
        self._feed.clear()
        # painted only while a beat runs (paused otherwise: nothing to repaint)
        self.beat_timer = self.set_interval(BEAT_FRAME_S, self.show_beat, name="beat", pause=True)
        if self.link is not None:
            self.run_worker(self.link.run(), name="link", group="link", exit_on_error=False)
            self.set_interval(0.5, self._check_stale, name="stale")
        if not self.is_headless:
            self._restore_signals = terminal.own_stop_signals(self.screen.refresh)

    def on_unmount(self) -> None:
        if self._restore_signals is not None:
            self._restore_signals()

    def on_resize(self, event: events.Resize) -> None:
        self._layout(event.size.width, event.size.height)

    def _layout(self, width: int, height: int) -> None:
        large = width >= LARGE_MIN[0] and height >= LARGE_MIN[1]
        if large != self.large or not self.query_one("#main").has_class("compact", "large"):
            self.large = large
            main = self.query_one("#main")
            main.set_class(large, "large")
            main.set_class(not large, "compact")
            paint.refresh_all(self)
            self.call_after_refresh(paint.refresh_all, self)  # sizes known after layout

    # -- messages from the controller ----------------------------------------------------

    def apply(self, msg: ServerMsg) -> None:
        """Show one message from the controller (the link calls this; so can tests)."""
        if isinstance(msg, Welcome):
            self.session = msg.session
            self.follower = BeatFollower()  # a (new) session's time starts again
            paint.show_session(self)
        elif isinstance(msg, Status):
            self.status = msg
            self.status_at = self.clock() if self.clock is not None else 0.0
            self._follow_beat(msg)
            self.query_one(SpeedChart).add(msg.t_s, msg.target_kmh, msg.actual_kmh)
            paint.show_status(self)
        elif isinstance(msg, Event):
            paint.log_line(self, msg.text)
        elif isinstance(msg, Ended):
            self.ended = msg
            paint.log_line(self, f"SESSION ENDED: {msg.outcome}")
            for line in msg.summary:
                paint.log_line(self, line)
            paint.refresh_all(self)
            if self.quitting:
                self.exit(0)
        elif isinstance(msg, Error):
            self.refused("controller", msg.text)
        elif isinstance(msg, Reply):
            self.answered(f"request {msg.id}", msg)

    def _follow_beat(self, status: Status) -> None:
        try:
            self.follower.update(wanted_cadence(status), status.t_s)
        except ValueError:  # a cadence outside the metronome's range: no beat, not a crash
            with contextlib.suppress(ValueError):
                self.follower.update(None, status.t_s)
        if self.follower.cadence_spm is not None and self.beat_timer is not None:
            self.beat_timer.resume()

    def beat_time(self) -> float | None:
        """Session time now, for the beat: the last status's plus the local time since it
        arrived; None once the statuses are stale (a beat for a silent controller lies)."""
        st = self.status
        if st is None or self.link_state in ("lost", "exited"):
            return None
        since = self.clock() - self.status_at if self.clock is not None else 0.0
        return st.t_s + since if 0 <= since <= paint.BEAT_HOLD_S else None

    def show_beat(self) -> None:
        with contextlib.suppress(NoMatches):  # a tick while the app shuts down
            paint.show_pace(self)
        t = self.beat_time()
        idle = self.follower.cadence_spm is None and (t is None or not self.follower.showing(t))
        if idle and self.beat_timer is not None:
            self.beat_timer.pause()  # the next status with a cadence resumes it

    def link_changed(self, state: str, text: str) -> None:
        self.link_state = state
        self.link_text = text
        if state in ("lost", "exited") and self.quitting:
            self.exit(self.controller_code if self.controller_code is not None else 1)
            return
        if state == "connected" and text:
            self.refused("connect", text)  # e.g. demoted to observer: say it loudly
        paint.refresh_all(self)

    def _check_stale(self) -> None:
        self._check_controller()
        if self.link is not None and self.link.stale_for() > STALE_S:
            # a tick while the app shuts down finds its widgets gone: nothing to show then
            with contextlib.suppress(NoMatches):
                paint.refresh_all(self)

    def _check_controller(self) -> None:
        """The controller process has exited (without ending the session): stop
        retrying, say why, and leave with its exit code on q."""
        if self.controller is None or self.controller_code is not None or self.ended:
            return
        if self.link_state == "connected":
            return  # still talking to it: the link sees the close first
        gone = self.controller.exited()
        if gone is None:
            return
        self.controller_code, why = gone
        self.workers.cancel_group(self, "link")
        if self.link is not None:
            self.link.state = "exited"
        with contextlib.suppress(NoMatches):
            self.link_changed("exited", why)

    def post_beat(self) -> None:
        self.post_message(self.Beat())

    def on_dashboard_app_beat(self, _: DashboardApp.Beat) -> None:
        if self.link is not None:
            self.link.beat()

    # -- answers ---------------------------------------------------------------------------

    def answered(self, what: str, reply: Reply) -> None:
        if reply.accepted:
            self.clear_notifications()  # an older refusal's toast is stale now
            tail = f" · {STOP_ENDS_SESSION}" if what == "STOP" else ""
            paint.notice(self, f"✓ {what}: {reply.text}{tail}", "#00d700")
        else:
            self.refused(what, reply.text)

    def refused(self, what: str, text: str) -> None:
        paint.notice(self, f"✗ REFUSED {what}: {text}", "bold #ffffff on #d70000")
        self.clear_notifications()  # the newest refusal replaces the older toast
        self.notify(text, title=f"{what}: refused", severity="error", timeout=8, markup=False)

    def _command(self, what: str, action: Action, **kw: Any) -> None:
        commands.send(self, what, action, **kw)

    def _sim(self, what: str, name: str, value: float) -> None:
        commands.sim(self, what, name, value)

    # -- keys ------------------------------------------------------------------------------

    def action_stop(self) -> None:
        if isinstance(self.screen, StartConfirm):
            self.screen.dismiss(False)  # a stop also means "do not start"
        self._command("STOP", Action.STOP)
        if self.link is not None and self.link.client is not None and self.ended is None:
            paint.notice(self, f"… STOP: sent · {STOP_ENDS_SESSION}", "bold")

    def action_start(self) -> None:
        if self.ended is not None:
            self.refused("start", "the session has ended")
            return
        if self.link is None or self.link.client is None:
            self.refused("start", "not connected to the controller")
            return
        checks = paint.start_checks(self)

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._command("start", Action.START)
            else:
                paint.notice(self, "start cancelled", "dim")

        self.push_screen(StartConfirm(checks, paint.start_what(self)), confirmed)

    def action_pause(self) -> None:
        self._command("pause", Action.PAUSE)

    def action_speed(self, steps: int) -> None:
        self._command("faster" if steps > 0 else "slower", Action.SPEED_STEP, steps=steps)

    def action_reset(self) -> None:
        self._command("reset", Action.RESET)

    def action_direction(self) -> None:
        if self.status is None:
            self.refused("direction", "no status from the controller yet")
            return
        other = "forward" if self.status.direction == "backward" else "backward"
        self._command(f"direction {other}", Action.DIRECTION, direction=other)

    def action_turned(self) -> None:
        """t: the walker has turned round to face the way the status shows them walking."""
        if self.status is None:
            self.refused("walker turned", "no status from the controller yet")
            return
        direction = self.status.direction
        self._command(f"walker turned ({direction})", Action.CONFIRM_TURN, direction=direction)

    def action_units(self) -> None:
        self.mph = not self.mph
        self.query_one(SpeedChart).set_units(self.mph)
        paint.refresh_all(self)

    def action_remote(self, confirm: bool) -> None:
        what = "confirm remote" if confirm else "reject remote"
        pending = self.status.remote_requests if self.status is not None else []
        if not pending:
            self.refused(what, "no remote request is waiting")
            return
        oldest = min(pending, key=lambda r: r.ref)
        action = Action.CONFIRM_REMOTE if confirm else Action.REJECT_REMOTE
        self._command(f"{what} {oldest.ref}", action, ref=oldest.ref)

    def action_incline_home(self) -> None:
        """h: the powered incline back to 0 % (belt stopped; where the machine allows it)."""
        inc = self.status.incline if self.status is not None else None
        if inc is None:
            self.refused("incline home", "no powered incline on this machine")
            return
        self._command("incline home", Action.INCLINE_HOME)

    def action_sim_estop(self) -> None:
        press = not self.sim_estop
        self._sim("simulated e-stop " + ("press" if press else "release"), "estop", float(press))

    def action_sim_key(self) -> None:
        pull = self.sim_key_in
        self._sim("simulated key " + ("pull" if pull else "insert"), "key", float(not pull))

    async def action_quit(self) -> None:
        """q (and ctrl+q): end the session, only once the controller agrees."""
        client = self.link.client if self.link is not None else None
        if self.controller_code is not None and self.ended is None:
            self.exit(self.controller_code)  # `run`: the controller's own exit code
            return
        if client is None or self.ended is not None or self.link_state != "connected":
            self.exit(0 if self.ended is not None or self.link is None else 1)
            return
        if self.link is not None and self.link.role is Role.OBSERVER:
            self.exit(0)  # an observer ends nothing: it only leaves
            return
        self._command("quit", Action.QUIT)


def run_dashboard(
    socket: Path, *, print_summary: bool = True, controller: ControllerExit | None = None
) -> int:
    """Run the dashboard in this terminal; the exit status for the shell (0: the session
    ended, or the dashboard was never the operator's; 1: it left without an end; 2: no
    terminal to run in, refused before connecting; with `controller` (`treadctl run`):
    that process's exit code once it has exited without ending the session)."""
    why = terminal.missing_terminal()
    if why is not None:
        print(
            f"treadctl dashboard: needs a terminal: {why}.\n"
            "  Run it in a terminal (over SSH: ssh -t). For a one-off reading without a "
            f"terminal: treadctl status --socket {socket}",
            file=sys.stderr,
        )
        return terminal.EXIT_NO_TERMINAL
    app = DashboardApp(socket, controller=controller)
    code = app.run()
    if app.ended is not None and print_summary:
        print(f"session ended: {app.ended.outcome}")
        for line in app.ended.summary:
            print(line)
    elif app.link_text:
        print(f"treadctl dashboard: {app.link_text}", file=sys.stderr)
    return code if code is not None else 1
