"""The controller's local socket: many clients, none of them able to stall the loop.

Runs in the control loop's own event loop under strict per-turn budgets (docs/api.md
says why not a thread): each client is served one line per turn of the event loop,
read in bounded chunks, so the loop's timer is never queued behind more than one
short step per client; at most `max_clients` connections and `ACCEPT_BACKLOG` accepts
per turn; whatever is sent to many clients is encoded once. Nothing here is awaited by
a cycle: the loop calls `on_cycle` (replies to decided commands) and the event-log sink
(events), both of which only append to transports. A client that does not read has its
status messages dropped past a high-water mark and is cut off when it stays there
`STALL_S` or passes a hard limit, so memory per client is bounded.

`ApiServer` holds the clients and the session's end and puts the parts together, each a
module of its own: `budgets` (the limits), `listener` (the socket file and the accept
rate), `connection` (one client's bytes), `greeting` (parsing a line, the hello and the
operator role), `broadcast` (what every client receives, encoded once), `admission`
(local commands), `sim_panel` (the simulator's inputs) and `remote_commands` (MQTT's).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from treadctl.api.admission import OBSERVER_ACTIONS, SIMPLE, Admission, Pending
from treadctl.api.broadcast import Broadcast
from treadctl.api.budgets import (
    ACCEPT_BACKLOG,
    ACCEPT_BURST,
    ACCEPT_ERROR_PAUSE_S,
    ACCEPTS_PER_S,
    CLOSE_DRAIN_S,
    EVENT_BACKLOG,
    HARD_LIMIT_BYTES,
    HELLO_TIMEOUT_S,
    HIGH_WATER_BYTES,
    MAX_CLIENTS,
    MAX_HELD_HOMES,
    READ_CHUNK_BYTES,
    STALL_S,
    STATUS_HZ,
)
from treadctl.api.connection import Client, ClientProtocol
from treadctl.api.greeting import accept_hello, parse_line
from treadctl.api.listener import Listener
from treadctl.api.messages import (
    MAX_CLIENT_LINE_BYTES,
    Action,
    CommandRequest,
    Ended,
    Error,
    Heartbeat,
    Hello,
    Role,
    SimControl,
    Welcome,
)
from treadctl.api.remote import RemoteDesk
from treadctl.api.remote_commands import remote_command
from treadctl.api.sim_panel import sim_input
from treadctl.api.socket_lock import SocketLock
from treadctl.api.status import StatusBuilder
from treadctl.control.loop import ControlLoop, LoopSnapshot
from treadctl.safety.types import Direction
from treadctl.sim.world import BeltSim

__all__ = [
    "ACCEPTS_PER_S",
    "ACCEPT_BACKLOG",
    "ACCEPT_BURST",
    "ACCEPT_ERROR_PAUSE_S",
    "CLOSE_DRAIN_S",
    "EVENT_BACKLOG",
    "HARD_LIMIT_BYTES",
    "HELLO_TIMEOUT_S",
    "HIGH_WATER_BYTES",
    "MAX_CLIENTS",
    "MAX_HELD_HOMES",
    "OBSERVER_ACTIONS",
    "READ_CHUNK_BYTES",
    "SIMPLE",
    "STALL_S",
    "STATUS_HZ",
    "ApiServer",
    "Pending",
]


@dataclass
class ApiServer:
    loop: ControlLoop
    builder: StatusBuilder
    welcome: Welcome
    belt: BeltSim | None = None  # the built-in simulator, when there is one
    desk: RemoteDesk = field(default_factory=RemoteDesk)
    clients: list[Client] = field(default_factory=list)
    operator: Client | None = None
    ended: Ended | None = None
    status_listeners: list[Callable[[Any], None]] = field(default_factory=list)
    high_water_bytes: int = HIGH_WATER_BYTES
    hard_limit_bytes: int = HARD_LIMIT_BYTES
    stall_s: float = STALL_S
    max_clients: int = MAX_CLIENTS
    refused_lines: int = 0  # lines refused since the start (all clients)
    broadcast: Broadcast = field(default_factory=Broadcast)
    admission: Admission = field(init=False)
    listener: Listener = field(init=False)
    _ticker: asyncio.Task[None] | None = None
    _aio: asyncio.AbstractEventLoop | None = None

    def __post_init__(self) -> None:
        self.admission = Admission(self.loop, self.desk)
        self.listener = Listener(self._protocol)

    @property
    def path(self) -> Path | None:
        """The socket file, once started."""
        return self.listener.path

    async def start(self, path: Path, lock: SocketLock | None = None) -> None:
        """Listen on `path`: under `lock` if the caller holds it, else under one taken
        here (ControllerRunningError if another controller holds it)."""
        aio = self._aio = asyncio.get_running_loop()
        self.listener.open(aio, path, lock)
        self.loop.listeners.append(self.on_cycle)
        self.loop.p.events.add_sink(self.on_event_record)
        self._ticker = asyncio.create_task(self._tick(), name="api-status")

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        self.listener.stop()
        # One second, all together, for the last messages (the ended summary) to go out;
        # then every connection is cut, so nothing waits on a client that never reads.
        clients = list(self.clients)
        give_up = time.monotonic() + CLOSE_DRAIN_S
        while any(c.pending_bytes() for c in clients) and time.monotonic() < give_up:
            await asyncio.sleep(0.02)
        for client in clients:
            client.cut()
        await self.listener.close()

    # -- from the control loop (must return at once) -------------------------------

    def on_cycle(self, snap: LoopSnapshot) -> None:
        self.admission.on_cycle(snap)

    def on_event_record(self, record: dict[str, Any]) -> None:
        """Event-log sink: may run in any thread; hands the record to the event loop."""
        aio = self._aio
        if aio is not None and not aio.is_closed():
            with contextlib.suppress(RuntimeError):
                aio.call_soon_threadsafe(self._event, record)

    def _event(self, record: dict[str, Any]) -> None:
        self.broadcast.event(record, self.clients)

    def finish(self, outcome: str, summary: list[str]) -> None:
        """The session ended: tell every client (the loop has stopped)."""
        self.ended = Ended(outcome=outcome, summary=summary)
        status = self.builder.build(self.loop.snapshot, self.desk.listing(), ended=True)
        for client in self.clients:
            if status is not None:
                client.send(status)
            client.send(self.ended)

    # -- clients ----------------------------------------------------------------------

    async def _tick(self) -> None:
        period = 1.0 / STATUS_HZ
        while True:
            await asyncio.sleep(period)
            self.desk.expire(self.loop.p.clock.now())
            now = time.monotonic()
            for client in list(self.clients):
                if client.closed:
                    self._drop(client)
                elif client.stalled(now) or (
                    not client.greeted and now - client.connected_at > HELLO_TIMEOUT_S
                ):
                    client.cut()  # it may reconnect to a fresh welcome, backlog and status
                    self._drop(client)
            status = self.builder.build(self.loop.snapshot, self.desk.listing())
            if status is None:
                continue
            for listener in self.status_listeners:
                listener(status)
            self.broadcast.status(status, self.clients)

    def _drop(self, client: Client) -> None:
        if client in self.clients:
            self.clients.remove(client)
        if self.operator is client:
            self.operator = None
            self.loop.log_event("operator_detached", client=client.name)

    def _make_room(self) -> None:
        """At the limit, the oldest client that is not the operator console makes room.

        Never the operator: a local process that opens many connections can push out
        monitors, never the console whose heartbeats keep the belt allowed to run.
        """
        while len(self.clients) >= self.max_clients:
            victim = next((c for c in self.clients if c is not self.operator), None)
            if victim is None:
                return
            victim.send(Error(text=f"too many clients ({self.max_clients}): closing the oldest"))
            victim.close()
            self._drop(victim)

    # -- connections (ClientProtocol calls these) ------------------------------------------

    def attach(self, client: Client) -> None:
        self._make_room()
        self.clients.append(client)

    def line(self, client: Client, line: bytes | None) -> None:
        if line is not None:
            self._handle(client, line)
            return
        self.refused_lines += 1
        client.send(
            Error(
                text=f"refused: line longer than {MAX_CLIENT_LINE_BYTES} bytes "
                "(discarded up to its end)"
            )
        )

    def detach(self, client: Client) -> None:
        self._drop(client)

    def _protocol(self) -> ClientProtocol:
        return ClientProtocol(
            self,
            chunk_bytes=READ_CHUNK_BYTES,
            max_line_bytes=MAX_CLIENT_LINE_BYTES,
            high_water=self.high_water_bytes,
            hard_limit=self.hard_limit_bytes,
            stall_s=self.stall_s,
        )

    def _handle(self, client: Client, line: bytes) -> None:
        msg = parse_line(line)
        if isinstance(msg, Error):
            self.refused_lines += 1
            client.send(msg)
        elif isinstance(msg, Hello):
            self._hello(client, msg)
        elif not client.greeted:
            client.send(Error(text="say hello first"))
        elif isinstance(msg, Heartbeat):
            if client is self.operator:
                self.loop.operator_heartbeat()
        elif isinstance(msg, CommandRequest):
            self.admission.command(client, msg, ended=self.ended is not None)
        elif isinstance(msg, SimControl):
            sim_input(self.belt, self.loop, client, msg)

    def _hello(self, client: Client, msg: Hello) -> None:
        if not accept_hello(client, msg, self.operator):
            return
        if client.role is Role.OPERATOR:
            self.operator = client
            self.loop.operator_heartbeat()
            self.loop.log_event("operator_attached", client=client.name)
        client.greeted = True
        self.broadcast.catch_up(
            client,
            self.welcome,
            self.ended,
            lambda: self.builder.build(
                self.loop.snapshot, self.desk.listing(), self.ended is not None
            ),
        )

    # -- in-process use (the MQTT bridge) ---------------------------------------------

    def remote(
        self,
        origin: str,
        action: Action,
        speed_kmh: float | None = None,
        direction: Direction | None = None,
    ) -> tuple[bool, str]:
        """A remote command (MQTT); call it in the control loop's thread.

        Stop and pause are submitted at once, always. Start, speed and direction are
        refused unless the machine file enables them and a local operator console is
        attached; then they are held until the operator at the belt confirms them.
        """
        if self.ended is not None:
            return False, "the session has ended"
        return remote_command(
            self.loop, self.desk, self.operator is not None, origin, action, speed_kmh, direction
        )

    def remote_threadsafe(
        self,
        origin: str,
        action: Action,
        speed_kmh: float | None = None,
        direction: Direction | None = None,
    ) -> concurrent.futures.Future[tuple[bool, str]]:
        """`remote` from another thread (the MQTT bridge's): the answer as a future."""
        aio = self._aio
        if aio is None or aio.is_closed():
            done: concurrent.futures.Future[tuple[bool, str]] = concurrent.futures.Future()
            done.set_result((False, "the controller is not running"))
            return done

        async def ask() -> tuple[bool, str]:
            return self.remote(origin, action, speed_kmh, direction)

        return asyncio.run_coroutine_threadsafe(ask(), aio)
