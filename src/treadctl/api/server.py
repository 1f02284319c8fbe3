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
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from treadctl.api.connection import Client, ClientProtocol, TokenBucket
from treadctl.api.messages import (
    MAX_CLIENT_DEPTH,
    MAX_CLIENT_LINE_BYTES,
    PROTOCOL_VERSION,
    Action,
    CommandRequest,
    Ended,
    Error,
    Event,
    Heartbeat,
    Hello,
    Reply,
    Role,
    SimControl,
    Welcome,
    client_message,
    encode,
)
from treadctl.api.remote import RemoteDesk
from treadctl.api.status import StatusBuilder, incline_home_refusal, is_moving
from treadctl.control.loop import ControlLoop, LoopSnapshot
from treadctl.safety.types import Command, CommandKind, Direction, Mode
from treadctl.sim.world import BeltSim
from treadctl.store.timeline import format_event
from treadctl.untrusted import InputRefusedError, decode_json, printable

STATUS_HZ = 10.0
HIGH_WATER_BYTES = 64 * 1024  # past this a client's status messages are dropped
HARD_LIMIT_BYTES = 512 * 1024  # past this the client is disconnected at once
STALL_S = 3.0  # a client whose buffer stays past the high-water mark this long is cut off
READ_CHUNK_BYTES = 4096  # received at once per client; the rest waits in the kernel
MAX_CLIENTS = 16  # connections at once; past it the oldest non-operator client makes room
ACCEPT_BACKLOG = 16  # connections waiting in the kernel to be accepted
ACCEPTS_PER_S = 20.0  # new connections accepted per second, after a burst of ...
ACCEPT_BURST = 10
ACCEPT_ERROR_PAUSE_S = 0.1  # after an accept error (out of file descriptors, say)
CLOSE_DRAIN_S = 1.0  # at the end, for the last messages to go out
HELLO_TIMEOUT_S = 5.0  # a connection that has not said hello by then is closed
EVENT_BACKLOG = 200  # events a newly attached client receives
MAX_HELD_HOMES = 16  # incline_home requests waiting for the next cycle's decision

SIMPLE = {
    Action.START: CommandKind.START,
    Action.STOP: CommandKind.STOP,
    Action.PAUSE: CommandKind.PAUSE,
    Action.RESET: CommandKind.RESET,
}
OBSERVER_ACTIONS = frozenset({Action.STOP, Action.PAUSE})


@dataclass
class Pending:
    command: Command
    client: Client
    request_id: int


@dataclass
class ApiServer:
    loop: ControlLoop
    builder: StatusBuilder
    welcome: Welcome
    belt: BeltSim | None = None  # the built-in simulator, when there is one
    desk: RemoteDesk = field(default_factory=RemoteDesk)
    clients: list[Client] = field(default_factory=list)
    pending: dict[int, Pending] = field(default_factory=dict)
    events: deque[Event] = field(default_factory=lambda: deque(maxlen=EVENT_BACKLOG))
    operator: Client | None = None
    ended: Ended | None = None
    _listener: socket.socket | None = None
    _accepts: TokenBucket | None = None
    _ticker: asyncio.Task[None] | None = None
    _aio: asyncio.AbstractEventLoop | None = None
    _handlers: set[asyncio.Task[Any]] = field(default_factory=set)
    path: Path | None = None
    status_listeners: list[Callable[[Any], None]] = field(default_factory=list)
    high_water_bytes: int = HIGH_WATER_BYTES
    hard_limit_bytes: int = HARD_LIMIT_BYTES
    stall_s: float = STALL_S
    max_clients: int = MAX_CLIENTS
    _status_bytes: bytes | None = None  # the latest status, encoded once for every client
    _event_bytes: deque[bytes] = field(default_factory=lambda: deque(maxlen=EVENT_BACKLOG))
    refused_lines: int = 0  # lines refused since the start (all clients)
    _welcomes: dict[Role, bytes] = field(default_factory=dict)
    # incline_home requests waiting for the incline rules' decision at the next cycle
    _homes: list[tuple[Client, int]] = field(default_factory=list)

    async def start(self, path: Path) -> None:
        aio = self._aio = asyncio.get_running_loop()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if path.is_socket():
                path.unlink()  # a stale socket from a controller that died
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket is the operator's alone: 0600 from its bind on
        try:
            listener.bind(str(path))
        except OSError:
            listener.close()
            raise
        finally:
            os.umask(old)
        listener.listen(ACCEPT_BACKLOG)
        listener.setblocking(False)
        self._listener = listener
        self._accepts = TokenBucket(ACCEPTS_PER_S, ACCEPT_BURST)
        aio.add_reader(listener.fileno(), self._accept_ready)
        self.path = path
        self.loop.listeners.append(self.on_cycle)
        self.loop.p.events.add_sink(self.on_event_record)
        self._ticker = asyncio.create_task(self._tick(), name="api-status")

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        listener = self._listener
        if listener is not None:
            self._listener = None
            if self._aio is not None:
                self._aio.remove_reader(listener.fileno())
            listener.close()
        # One second, all together, for the last messages (the ended summary) to go out;
        # then every connection is cut, so nothing waits on a client that never reads.
        clients = list(self.clients)
        give_up = time.monotonic() + CLOSE_DRAIN_S
        while any(c.pending_bytes() for c in clients) and time.monotonic() < give_up:
            await asyncio.sleep(0.02)
        for client in clients:
            client.cut()
        for task in list(self._handlers):  # connections still being set up
            task.cancel()
        if self._handlers:
            await asyncio.wait(set(self._handlers), timeout=1.0)
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    # -- from the control loop (must return at once) -------------------------------

    def on_cycle(self, snap: LoopSnapshot) -> None:
        if self._homes:
            self._home_replies(snap)
        out = snap.outputs
        if out is None or not out.decisions or not self.pending:
            return
        for decision in out.decisions:
            pending = self.pending.pop(id(decision.command), None)
            if pending is not None and pending.command is decision.command:
                text = decision.detail or ("accepted" if decision.accepted else "refused")
                pending.client.send(
                    Reply(id=pending.request_id, accepted=decision.accepted, text=text)
                )

    def _home_replies(self, snap: LoopSnapshot) -> None:
        """Answer incline_home requests with the incline rules' decision (one per cycle,
        every request since the last cycle shares it)."""
        inc = snap.incline
        if inc is None:
            return
        for what, accepted, detail in inc.decisions:
            if what == "incline_home":
                homes, self._homes = self._homes, []
                for client, request_id in homes:
                    client.send(Reply(id=request_id, accepted=accepted, text=detail))
                return

    def on_event_record(self, record: dict[str, Any]) -> None:
        """Event-log sink: may run in any thread; hands the record to the event loop."""
        aio = self._aio
        if aio is not None and not aio.is_closed():
            with contextlib.suppress(RuntimeError):
                aio.call_soon_threadsafe(self._event, record)

    def _event(self, record: dict[str, Any]) -> None:
        text = format_event(record)
        if text is None:
            return
        event = Event(t_s=float(record["t_s"]), kind=str(record["kind"]), text=printable(text, 500))
        self.events.append(event)
        data = encode(event)
        self._event_bytes.append(data)
        for client in self.clients:
            if client.greeted:
                client.send_bytes(data)

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
            data = self._status_bytes = encode(status)
            for client in self.clients:
                if client.greeted:
                    client.send_bytes(data, droppable=True)

    def _drop(self, client: Client) -> None:
        if client in self.clients:
            self.clients.remove(client)
        if self.operator is client:
            self.operator = None
            self.loop.log_event("operator_detached", client=client.name)

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

    def _accept_ready(self) -> None:
        """Accept what the token bucket allows, then stop listening until a token is due.

        Every connection leaves asyncio garbage in reference cycles behind it (transport,
        protocol): a client that connects and hangs up as fast as it can made the
        collector stop the event loop for 700 ms at a time. Bounding the accept rate
        bounds that garbage; connections past it wait in the kernel's backlog.
        """
        listener, bucket, aio = self._listener, self._accepts, self._aio
        if listener is None or bucket is None or aio is None:
            return
        pause_s = 0.0
        while bucket.take(time.monotonic()):
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                bucket.give_back()
                return
            except OSError:  # e.g. out of file descriptors: try again a little later
                bucket.give_back()
                pause_s = ACCEPT_ERROR_PAUSE_S
                break
            conn.setblocking(False)
            task = aio.create_task(self._connected(conn), name="api-client")
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        aio.remove_reader(listener.fileno())
        aio.call_later(max(pause_s, bucket.wait_s()), self._resume_accepting)

    def _resume_accepting(self) -> None:
        if self._listener is not None and self._aio is not None:
            self._aio.add_reader(self._listener.fileno(), self._accept_ready)

    async def _connected(self, conn: socket.socket) -> None:
        aio = asyncio.get_running_loop()
        try:
            await aio.connect_accepted_socket(self._protocol, sock=conn)
        except (OSError, asyncio.CancelledError):
            conn.close()

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

    def _handle(self, client: Client, line: bytes) -> None:
        try:
            raw = decode_json(line, max_bytes=MAX_CLIENT_LINE_BYTES, max_depth=MAX_CLIENT_DEPTH)
            msg = client_message.validate_python(raw)
        except InputRefusedError as exc:
            self.refused_lines += 1
            client.send(Error(text=f"refused: {exc}"))
            return
        except ValidationError as exc:
            self.refused_lines += 1
            client.send(Error(text=_validation_text(exc)))
            return
        if isinstance(msg, Hello):
            self._hello(client, msg)
        elif not client.greeted:
            client.send(Error(text="say hello first"))
        elif isinstance(msg, Heartbeat):
            if client is self.operator:
                self.loop.operator_heartbeat()
        elif isinstance(msg, CommandRequest):
            self._command(client, msg)
        elif isinstance(msg, SimControl):
            self._sim(client, msg)

    def _hello(self, client: Client, msg: Hello) -> None:
        if client.greeted:
            client.send(Error(text="refused: hello was said already on this connection"))
            return
        if msg.protocol != PROTOCOL_VERSION:
            client.send(
                Error(text=f"protocol {msg.protocol} not spoken here (this is {PROTOCOL_VERSION})")
            )
            client.close()
            return
        client.name = msg.client
        client.role = msg.role
        if msg.role is Role.OPERATOR:
            if not _may_operate(client):
                client.role = Role.OBSERVER
                client.send(
                    Error(
                        text=f"operator role refused: the peer's user id {client.peer_uid} is "
                        "not the controller's: attached as an observer (stop and pause only)"
                    )
                )
            elif self.operator is not None and self.operator is not client:
                client.role = Role.OBSERVER
                client.send(
                    Error(
                        text=f"operator console {self.operator.name!r} is already attached: "
                        "attached as an observer (stop and pause only)"
                    )
                )
            else:
                self.operator = client
                self.loop.operator_heartbeat()
                self.loop.log_event("operator_attached", client=client.name)
        client.greeted = True
        client.send_bytes(self._welcome_bytes(client.role))
        client.send_bytes(b"".join(self._event_bytes))
        if self.ended is not None or self._status_bytes is None:
            status = self.builder.build(
                self.loop.snapshot, self.desk.listing(), self.ended is not None
            )
            if status is not None:
                client.send(status)
        else:
            client.send_bytes(self._status_bytes)
        if self.ended is not None:
            client.send(self.ended)

    def _welcome_bytes(self, role: Role) -> bytes:
        cached = self._welcomes.get(role)
        if cached is None:
            cached = self._welcomes[role] = encode(self.welcome.model_copy(update={"role": role}))
        return cached

    def _reply(self, client: Client, request_id: int, accepted: bool, text: str) -> None:
        client.send(Reply(id=request_id, accepted=accepted, text=text))

    def _submit(self, client: Client, request_id: int, command: Command) -> None:
        if self.ended is not None:
            self._reply(client, request_id, False, "the session has ended")
            return
        self.pending[id(command)] = Pending(command, client, request_id)
        self.loop.submit(command)

    def _command(self, client: Client, msg: CommandRequest) -> None:
        action = msg.action
        who = client.name
        if self.ended is not None:
            self._reply(client, msg.id, False, "the session has ended")
            return
        if client.role is not Role.OPERATOR and action not in OBSERVER_ACTIONS:
            self._reply(
                client,
                msg.id,
                False,
                f"{action.value}: only the operator console may do this (observers: stop, pause)",
            )
            return
        if action in SIMPLE:
            self._submit(client, msg.id, Command(SIMPLE[action], who))
        elif action is Action.SPEED:
            if msg.speed_kmh is None:
                self._reply(client, msg.id, False, "speed: give speed_kmh")
                return
            self._submit(
                client, msg.id, Command(CommandKind.SET_SPEED, who, speed_kmh=msg.speed_kmh)
            )
        elif action is Action.SPEED_STEP:
            if msg.steps is None or msg.steps == 0:
                self._reply(client, msg.id, False, "speed_step: give steps (+1 or -1)")
                return
            wanted = self._wanted_kmh()
            if wanted is None:
                self._reply(client, msg.id, False, "no moving segment: nothing to change")
                return
            step = self.loop.p.machine.speed_step_kmh
            kmh = round(wanted + msg.steps * step, 3)
            self._submit(client, msg.id, Command(CommandKind.SET_SPEED, who, speed_kmh=kmh))
        elif action is Action.DIRECTION:
            if msg.direction is None:
                self._reply(client, msg.id, False, "direction: give forward or backward")
                return
            why_not = self._profile_direction(Direction(msg.direction))
            if why_not:
                self._reply(client, msg.id, False, why_not)
                return
            self._submit(
                client,
                msg.id,
                Command(CommandKind.SET_DIRECTION, who, direction=Direction(msg.direction)),
            )
        elif action is Action.CONFIRM_TURN:
            if msg.direction is None:
                self._reply(
                    client, msg.id, False, "confirm_turn: give the direction the walker now walks"
                )
                return
            self._submit(
                client,
                msg.id,
                Command(CommandKind.CONFIRM_TURN, who, direction=Direction(msg.direction)),
            )
        elif action is Action.QUIT:
            out = self.loop.snapshot.outputs
            if out is None or is_moving(out):
                self._reply(
                    client,
                    msg.id,
                    False,
                    "the belt is not at verified standstill: stop it first (space)",
                )
                return
            self.loop.request_quit(who)
            self._reply(client, msg.id, True, "ending the session")
        elif action in (Action.CONFIRM_REMOTE, Action.REJECT_REMOTE):
            self._confirm(client, msg)
        elif action is Action.INCLINE_HOME:
            self._home(client, msg.id)

    def _home(self, client: Client, request_id: int) -> None:
        """Incline to 0 %: refused here when it can never apply; otherwise the incline
        rules decide at the next cycle (belt stopped, no fault) and the reply says so."""
        why = incline_home_refusal(self.loop)
        if why:
            self._reply(client, request_id, False, why)
            return
        if len(self._homes) >= MAX_HELD_HOMES:
            self._reply(client, request_id, False, "incline_home: already asked, wait")
            return
        self._homes.append((client, request_id))
        self.loop.incline_home()

    def _profile_direction(self, wanted: Direction) -> str:
        """Why the profile forbids turning to `wanted` now ("" when it does not).

        The current segment sets the belt's direction (a rest faces the next moving
        segment) and the sequencer turns the belt to it at standstill: a turn the other
        way would be undone, or leave a start that the interlock refuses.
        """
        snap = self.loop.snapshot
        out = snap.outputs
        if out is None or out.mode in (Mode.RUNNING, Mode.STOPPING):
            return ""  # the interlock refuses it first: stop first
        policy = self.loop.sequencer.policy(snap.sequencer)
        if policy is None or policy.direction is wanted:
            return ""
        seg = self.loop.p.plan.segments[policy.index]
        walks = "rests facing" if not policy.moving else "walks"
        return (
            f"the profile sets the direction: segment {seg.label} {walks} {policy.direction.value}"
        )

    def _wanted_kmh(self) -> float | None:
        """The current segment's wanted speed: the operator's own, else the profile's."""
        snap = self.loop.snapshot
        segs = self.loop.p.plan.segments
        i = snap.segment_index
        if snap.sequencer.ended or i >= len(segs) or segs[i].target_kmh <= 0:
            return None
        il = snap.interlock
        if il.operator_speed_kmh is not None and il.operator_speed_segment == i:
            return il.operator_speed_kmh
        return segs[i].target_kmh

    def _confirm(self, client: Client, msg: CommandRequest) -> None:
        if msg.ref is None:
            self._reply(client, msg.id, False, f"{msg.action.value}: give ref")
            return
        now = self.loop.p.clock.now()
        if msg.action is Action.REJECT_REMOTE:
            found = self.desk.reject(msg.ref, now)
            self._reply(
                client,
                msg.id,
                found is not None,
                "remote request rejected" if found else f"no remote request {msg.ref}",
            )
            return
        command = self.desk.confirm(msg.ref, now, confirmed_by=client.name)
        if command is None:
            self._reply(client, msg.id, False, f"no remote request {msg.ref} (expired?)")
            return
        self._submit(client, msg.id, command)

    def _sim(self, client: Client, msg: SimControl) -> None:
        belt = self.belt
        if belt is None:
            self._reply(client, msg.id, False, "no built-in simulator: this drive is real")
            return
        if client.role is not Role.OPERATOR:
            self._reply(
                client, msg.id, False, "sim: only the operator console may set simulator inputs"
            )
            return
        panel = belt.panel
        on = msg.value != 0
        if msg.input == "estop":
            panel.estop_chain_ok = not on
        elif msg.input == "key":
            panel.key_present = on
        elif msg.input == "rail_left":
            panel.rail_left = on
        elif msg.input == "rail_right":
            panel.rail_right = on
        elif msg.input == "drive_fault":
            if on:
                belt.trip(int(msg.value))
            else:
                belt.reset_fault()
        elif msg.input == "heart_rate":
            panel.heart_rate_bpm = msg.value if on else None
        self.loop.log_event("sim_input", input=msg.input, value=msg.value, client=client.name)
        self._reply(client, msg.id, True, f"simulator: {msg.input} = {msg.value:g}")

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
        if action in (Action.STOP, Action.PAUSE):
            self.loop.submit(Command(SIMPLE[action], origin))
            return True, f"{action.value} submitted"
        allowed = self.loop.p.machine.remote_commands
        enabled = {
            Action.START: allowed.start,
            Action.SPEED: allowed.speed,
            Action.DIRECTION: allowed.direction,
        }
        if action not in enabled:
            return False, f"{action.value}: not a remote command"
        if not enabled[action]:
            return False, (
                f"{action.value}: remote {action.value} is not enabled in the machine file "
                f"(remote_commands.{action.value})"
            )
        if self.operator is None:
            return False, f"{action.value}: no local operator console attached to confirm it"
        if action is Action.SPEED and (speed_kmh is None or not speed_kmh > 0):
            return False, "speed: give a positive speed_kmh"
        if action is Action.DIRECTION and direction is None:
            return False, "direction: give forward or backward"
        ref = self.desk.ask(origin, action, self.loop.p.clock.now(), speed_kmh, direction)
        if ref is None:
            return False, (
                f"{action.value}: {self.desk.max_held} remote requests are waiting for the "
                "local operator already: refused"
            )
        self.loop.log_event(
            "remote_request", origin=origin, action=action.value, ref=ref, speed_kmh=speed_kmh
        )
        return True, f"waiting for the local operator's confirmation (request {ref})"

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


def _may_operate(client: Client) -> bool:
    """The operator role is the controller's own user's (or root's), whatever it says.

    The socket's mode (0600) already keeps other users out; this holds even if someone
    loosens the mode by hand.
    """
    return client.peer_uid is None or client.peer_uid in (os.getuid(), 0)


def _validation_text(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:3]:
        where = ".".join(str(x) for x in err["loc"]) or "message"
        parts.append(f"{where}: {printable(err['msg'], 160)}")
    return "refused: " + "; ".join(parts)
