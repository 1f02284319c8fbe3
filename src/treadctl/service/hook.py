"""The service's side of the control loop: READY=1 at the first cycle, WATCHDOG=1 fed
by completed cycles, a rate-limited STATUS=, and STOPPING=1 on the way out.

Pings come only from the loop's own cycles: a loop that stalls (a blocking call, a
stopped process) stops pinging, and systemd kills and restarts the controller, which
starts latched (power-on) like any start, so the belt never moves until an operator
resets it at standstill.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from treadctl.control.loop import LoopSnapshot
from treadctl.safety.types import Mode
from treadctl.service.notify import Notifier, watchdog_interval_s
from treadctl.untrusted import printable

STATUS_INTERVAL_S = 1.0  # STATUS= at most once a second: systemd keeps only the last
MAX_STATUS_CHARS = 120


def status_text(snap: LoopSnapshot, segments: int) -> str:
    """A short human state: "latched: power-on, belt 0.0 km/h", "running segment 2/5"."""
    out = snap.outputs
    if out is None:
        return "starting"
    speed = snap.drive.actual_speed_kmh if snap.drive is not None else snap.setpoint_kmh
    belt = f"belt {speed:.1f} km/h" if math.isfinite(speed) else "belt speed unknown"
    segment = f"segment {min(snap.segment_index + 1, segments)}/{segments}"
    why = ", ".join(r.name.lower().replace("_", "-") for r in out.reasons)
    if out.mode is Mode.FAULTED:
        text = f"latched: {why or 'fault'}, {belt}"
    elif out.mode is Mode.STOPPING:
        text = f"stopping: {why or 'stop'}, {belt}"
    elif out.mode is Mode.RUNNING:
        text = f"running {segment}, {belt}"
    else:
        text = f"stopped at {segment}, {belt}"
    return one_line(text)


def one_line(text: str) -> str:
    """Text for one sd_notify assignment: control characters (newlines) become spaces."""
    return "".join(
        c if c >= " " and c != "\x7f" else " " for c in printable(text, MAX_STATUS_CHARS)
    )


class ServiceHook:
    """Fed by the loop after each cycle (LoopParts.on_cycle): returns at once, never raises."""

    def __init__(
        self,
        notifier: Notifier,
        watchdog_s: float | None,
        snapshot: Callable[[], LoopSnapshot] | None = None,
        segments: int = 1,
    ) -> None:
        self.notifier = notifier
        self.watchdog_s = watchdog_s  # the ping interval: WATCHDOG_USEC / 2
        self.snapshot = snapshot
        self.segments = max(segments, 1)
        self.ready = False
        self.pings = 0
        self.errors = 0  # our own bugs, swallowed so the loop never sees them
        self._last_ping: float | None = None
        self._last_status_at: float | None = None
        self._last_status = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServiceHook:
        return cls(Notifier.from_env(env), watchdog_interval_s(env))

    @property
    def enabled(self) -> bool:
        return self.notifier.enabled

    def on_cycle(self, now: float) -> None:
        if not self.notifier.enabled:
            return
        try:
            self._cycle(now)
        except Exception:  # a bug here must never stop the belt's loop
            self.errors += 1

    def _cycle(self, now: float) -> None:
        if not self.ready:
            # the first completed cycle: the drive is connected (its watchdog armed) and
            # the API socket listens (it is opened before the loop runs)
            self.ready = True
            self._last_status = self._status()
            self._last_status_at = now
            self.notifier.send(f"READY=1\nSTATUS={self._last_status}")
        wd = self.watchdog_s
        if wd is not None and (self._last_ping is None or now - self._last_ping >= wd):
            self._last_ping = now
            if self.notifier.send("WATCHDOG=1"):
                self.pings += 1
        last = self._last_status_at
        if last is None or now - last >= STATUS_INTERVAL_S:
            self._last_status_at = now
            text = self._status()
            if text != self._last_status:
                self._last_status = text
                self.notifier.send(f"STATUS={text}")

    def _status(self) -> str:
        return "running" if self.snapshot is None else status_text(self.snapshot(), self.segments)

    def stopping(self, why: str) -> None:
        """STOPPING=1 with the reason as the last status: sent once, never waited for."""
        if self.notifier.enabled:
            self.notifier.send(f"STOPPING=1\nSTATUS={one_line(why)}")

    def close(self) -> None:
        self.notifier.close()


def chain_cycle(
    first: Callable[[float], None] | None, second: Callable[[float], None] | None
) -> Callable[[float], None] | None:
    """Both hooks, in order (the scenario's fault injection first): None when neither."""
    if first is None:
        return second
    if second is None:
        return first

    def both(now: float) -> None:
        first(now)
        second(now)

    return both
