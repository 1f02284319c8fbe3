"""The dashboard's connection to the controller: connect, pump messages, heartbeat.

Heartbeats are sent by the App's own message queue (a timer only posts a Beat message;
the App's handler writes the heartbeat), so a dashboard whose UI stops processing
messages stops heartbeating, and a supervised controller stops the belt.
"""

from __future__ import annotations

import asyncio
import os
import socket as _socket
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from textual.timer import Timer

from treadctl.api.client import ApiError, ControllerClient, ServerMsg
from treadctl.api.messages import Reply, Role

RETRY_S = 1.0  # between connection attempts
STALE_S = 1.5  # no Status for this long while connected: the screen says so, in red


class LinkHost(Protocol):
    """What the link needs of the screen it feeds (the App; not imported: no cycle)."""

    def link_changed(self, state: str, text: str) -> None: ...
    def apply(self, msg: ServerMsg) -> None: ...
    def post_beat(self) -> None: ...
    def set_interval(
        self, interval: float, callback: Callable[[], object], *, name: str | None = None
    ) -> Timer: ...


class ControllerExit(Protocol):
    """The controller process this dashboard started (`treadctl run`), if any."""

    def exited(self) -> tuple[int, str] | None:
        """(exit code, why in words) once it has exited; None while it runs."""
        ...


def no_controller_reason(path: Path, exc: ApiError) -> str:
    """Why nobody answers on the socket, in words (the cause, not only an errno)."""
    cause = exc.__cause__
    if isinstance(cause, FileNotFoundError):
        return f"no socket at {path}: the controller is not running (or has exited)"
    if isinstance(cause, ConnectionRefusedError):
        return f"{path} refuses connections: its controller has exited"
    if isinstance(cause, PermissionError):
        return f"permission denied on {path}"
    if isinstance(cause, TimeoutError):
        return f"{path}: the controller did not answer in time"
    return str(exc)


class Link:
    def __init__(self, path: Path, host: LinkHost) -> None:
        self.path = path
        self.host = host
        self.client: ControllerClient | None = None
        self.state = "connecting"  # connecting, connected, lost, closed
        self.role = Role.OPERATOR
        self.ended = False  # the controller said Ended: a close is expected, not a loss
        self.ever_connected = False  # never: "no controller answers", not "connection lost"
        self.beats = 0
        self.last_status = 0.0
        self._timer: Timer | None = None
        self.name = f"dashboard@{_socket.gethostname()}:{os.getpid()}"

    def _set(self, state: str, text: str = "") -> None:
        self.state = state
        self.host.link_changed(state, text)

    async def run(self) -> None:
        """Connect, pump, and connect again after a loss, until the session has ended."""
        while True:
            client = ControllerClient(self.path, Role.OPERATOR, self.name)
            try:
                welcome = await client.connect(timeout_s=3.0)
            except ApiError as exc:
                self._set("lost", no_controller_reason(self.path, exc))
                await client.close()
                await asyncio.sleep(RETRY_S)
                continue
            self.client = client
            self.ever_connected = True
            self.role = welcome.role
            self.last_status = asyncio.get_running_loop().time()
            self._set("connected", "; ".join(client.notices))
            self.host.apply(welcome)
            self._heartbeat(welcome.session.heartbeat_s)
            try:
                async for msg in client.messages():
                    if isinstance(msg, Reply):
                        continue  # the command that asked for it shows it
                    if msg.type == "status":
                        self.last_status = asyncio.get_running_loop().time()
                    if msg.type == "ended":
                        self.ended = True
                    self.host.apply(msg)
            finally:
                self._stop_heartbeat()
                self.client = None
                await client.close()
            if self.ended:
                self._set("closed", "the controller has finished the session")
                return
            self._set("lost", f"{self.path}: the controller closed the connection")
            await asyncio.sleep(RETRY_S)

    def stale_for(self) -> float:
        """Seconds since the last Status while connected (0 when not connected)."""
        if self.state != "connected" or self.ended:
            return 0.0
        return asyncio.get_running_loop().time() - self.last_status

    def _heartbeat(self, period_s: float) -> None:
        self._stop_heartbeat()
        self.beat()  # at once: the controller counts presence from the hello
        self._timer = self.host.set_interval(period_s, self.host.post_beat, name="heartbeat")

    def _stop_heartbeat(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def beat(self) -> None:
        """Send one heartbeat (called from the App's message handler)."""
        client = self.client
        if client is None:
            return
        try:
            client.heartbeat()
            self.beats += 1
        except ApiError:
            pass  # the pump sees the close and says so
