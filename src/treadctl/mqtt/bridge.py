"""The controller's MQTT bridge: a thread with its own event loop, fed through bounded queues.

The control loop's thread only appends: the API server's 10 Hz status listener appends
the Status (every Nth for the telemetry rate) to a deque, the event-log sink appends the
record to another. Both deques have a maximum length, so while the broker is slow or
down the oldest entries fall out (counted, reported in every telemetry message and in
the `broker_connected` event). Everything else, connecting, JSON, publishing, commands,
happens in the bridge's thread. aiomqtt does not reconnect by itself: `_main` does, with
capped exponential backoff and jitter; a lost or unreachable broker is an event in the
controller's event log (written in the loop's thread via call_soon_threadsafe), never a
fault, and nothing the bridge does can raise into the control loop.

Commands: MQTT v5, QoS 1, a persistent session (clean start only at the bridge's first
connection, then resumed with a session expiry of SESSION_EXPIRY_S), subscribed with
"retain as published" so that a retained command is seen as retained even when it is
delivered live. Received messages go to the bridge's own `Inbox`, which outlives a
connection; one worker task decides them in order, each one guarded so that nothing a
payload does can end the worker or the connection. Answers wait in a bounded queue and
are published (first, before events and telemetry) whenever the bridge is connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from treadctl.api.messages import Action, Status
from treadctl.api.server import STATUS_HZ
from treadctl.config.mqtt import NODELAY, MqttConfig
from treadctl.control.priority import helper_priority
from treadctl.mqtt import topics
from treadctl.mqtt.commands import (
    MAX_COMMAND_BYTES,
    RecentIds,
    Refusal,
    oversized_marker,
    parse_command,
    subscription_refused,
    timing_note,
)
from treadctl.mqtt.inbox import Inbox, Incoming
from treadctl.mqtt.outbox import DropQueue, Stamper
from treadctl.mqtt.payloads import Payload, session_ref, state_key
from treadctl.mqtt_client import queue_class
from treadctl.safety.types import Direction
from treadctl.untrusted import printable

if TYPE_CHECKING:
    from treadctl.api.server import ApiServer

ANSWER_TIMEOUT_S = 2.0  # the controller answers a remote command within this
STOP_TIMEOUT_S = 5.0  # stop() waits this long for the goodbye (summary, offline status)
# The broker keeps the bridge's session (its subscription and the QoS 1 commands that
# arrive meanwhile) this long after a connection drops; a longer outage loses them.
SESSION_EXPIRY_S = 600
# Maximum Packet Size sent in CONNECT: the broker never sends the bridge a larger packet
# (it drops it; the sender gets no answer). Payloads up to here are read and refused.
# The largest packet the broker may send the bridge (MQTT v5 Maximum Packet Size): one
# larger is dropped by the broker unanswered, so this is far above a command's own limit
# (MAX_COMMAND_BYTES, 4 KiB): a larger payload reaches the bridge and is refused with an
# answer, held only as its size (the clinic's broker limits publishers itself: examples/).
MAX_PACKET_BYTES = 16 * 1024 * 1024
RESULT_QUEUE = 1000  # answers held while the broker is away
# At the session's end, what was already received is decided and answered before the
# goodbye, for at most this long: an executed stop is never left without its answer.
FINAL_ANSWERS_S = 1.0


@dataclass
class BridgeStats:
    connected: bool = False
    connections: int = 0
    telemetry_published: int = 0
    events_published: int = 0
    commands: int = 0
    commands_refused: int = 0
    duplicates: int = 0  # replayed ids answered as duplicates
    inbox_evicted: int = 0  # pushed out of a full inbox, refused unread
    command_errors: int = 0  # a payload whose handling raised (refused, never fatal)


class MqttBridge:
    def __init__(self, config: MqttConfig, stop_timeout_s: float = STOP_TIMEOUT_S) -> None:
        self.config = config
        self.topics = topics.Topics(config.site, config.treadmill)
        self.stop_timeout_s = stop_timeout_s
        self.stats = BridgeStats()
        self._every = max(1, round(STATUS_HZ / config.telemetry.rate_hz))
        self._ticks = 0
        self._telemetry_seq = 0
        self._telemetry = DropQueue(config.telemetry.queue)  # (seq, sampled_at, Status)
        self._events = DropQueue(config.telemetry.event_queue)  # event-log records
        self._latest: tuple[float, Status] | None = None
        self._state_key: tuple[Any, ...] | None = None
        self._stamp = Stamper(config.site, config.treadmill)
        self._summary: tuple[str, list[str]] | None = None
        self._api: ApiServer | None = None
        self._ctl: asyncio.AbstractEventLoop | None = None  # the controller's loop
        self._aio: asyncio.AbstractEventLoop | None = None  # the bridge's own loop
        self._wake: asyncio.Event | None = None
        self._stop_evt: asyncio.Event | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._outage_logged = False
        self._inbox: Inbox | None = None
        self._results = DropQueue(RESULT_QUEUE)  # command/result payloads (JSON text)
        self._deciding = False  # the command worker is deciding one now
        self._recent = RecentIds()

    # -- the controller's thread: return at once, never raise --------------------------

    def start(self, api: ApiServer) -> None:
        try:
            self._api = api
            self._ctl = asyncio.get_running_loop()
            self._stamp.session = session_ref(api.welcome.session, self.config.publish_patient)
            name = api.loop.p.patient_name
            if not self.config.publish_patient and len(name) >= 2 and name != "-":
                self._stamp.withhold = name
            api.status_listeners.append(self._on_status)
            api.loop.p.events.add_sink(self._on_event)
            self._thread = threading.Thread(
                target=self._run_thread, name=f"mqtt-{self.config.treadmill}", daemon=True
            )
            self._thread.start()
        except Exception as exc:
            with contextlib.suppress(Exception):
                api.loop.log_event("warning", text=f"MQTT bridge not started: {exc!r}")

    def _on_status(self, status: Status) -> None:
        """The API server's status listener (10 Hz, the loop's thread)."""
        try:
            sampled = time.time()
            self._latest = (sampled, status)
            self._ticks += 1
            if self._ticks % self._every == 0:
                self._telemetry_seq += 1
                self._telemetry.append((self._telemetry_seq, sampled, status))
            self._wake_up()
        except Exception:
            return

    def _on_event(self, record: dict[str, Any]) -> None:
        """The event-log sink (whichever thread writes the record)."""
        try:
            self._events.append(record)
            self._wake_up()
        except Exception:
            return

    def _wake_up(self) -> None:
        aio, wake = self._aio, self._wake
        if aio is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the bridge's loop has closed
                aio.call_soon_threadsafe(wake.set)

    async def stop(self) -> None:
        """The session has ended (api.ended is set): publish the last events, the summary,
        the final state and `offline`, disconnect cleanly (no Last Will), end the thread."""
        thread, api = self._thread, self._api
        if thread is None or api is None:
            return
        try:
            with contextlib.suppress(ValueError):
                api.status_listeners.remove(self._on_status)
            if api.ended is not None:
                self._summary = (api.ended.outcome, list(api.ended.summary))
            final = api.builder.build(api.loop.snapshot, api.desk.listing(), ended=True)
            if final is not None:
                self._ticks = self._every - 1  # the final status goes out as telemetry too
                self._on_status(final)
            self._stopping.set()
            aio = self._aio
            if aio is not None:
                with contextlib.suppress(RuntimeError):
                    aio.call_soon_threadsafe(self._stop_in_loop)
            await asyncio.to_thread(thread.join, self.stop_timeout_s)
            if thread.is_alive():
                api.loop.log_event(
                    "warning", text=f"MQTT bridge: no goodbye within {self.stop_timeout_s:g} s"
                )
        except Exception as exc:
            with contextlib.suppress(Exception):
                api.loop.log_event("warning", text=f"MQTT bridge stop: {exc!r}")

    def _log(self, kind: str, **fields: Any) -> None:
        """An event in the controller's log, written in the controller's thread."""
        ctl, api = self._ctl, self._api
        if ctl is None or api is None:
            return

        def write() -> None:
            with contextlib.suppress(Exception):
                api.loop.log_event(kind, **fields)

        with contextlib.suppress(RuntimeError):  # the controller's loop has closed
            ctl.call_soon_threadsafe(write)

    # -- the bridge's thread ---------------------------------------------------------

    @property
    def dropped_telemetry(self) -> int:
        return self._telemetry.dropped

    @property
    def dropped_events(self) -> int:
        return self._events.dropped

    def _drops(self) -> tuple[int, int]:
        return self.dropped_telemetry, self.dropped_events

    def _run_thread(self) -> None:
        helper_priority()  # below the loop, never behind a busy process mid-lock
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._log("warning", text=f"MQTT bridge stopped: {exc!r}")

    def _stop_in_loop(self) -> None:
        if self._stop_evt is not None and self._wake is not None:
            self._stop_evt.set()
            self._wake.set()

    async def _main(self) -> None:
        self._wake = asyncio.Event()
        self._stop_evt = asyncio.Event()
        self._aio = asyncio.get_running_loop()
        self._inbox = Inbox()
        if self._stopping.is_set():
            self._stop_in_loop()
        worker = asyncio.create_task(self._command_worker(), name="mqtt-commands")
        try:
            await self._connect_loop()
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker

    async def _connect_loop(self) -> None:
        assert self._stop_evt is not None
        cfg = self.config.reconnect
        delay = cfg.initial_s
        tried_goodbye = False
        while True:
            final = self._stopping.is_set()
            if final and tried_goodbye:
                return
            tried_goodbye = final
            connections = self.stats.connections
            try:
                if final:  # stopping while disconnected: one short try to say goodbye
                    async with asyncio.timeout(min(2.0, self.stop_timeout_s / 2)):
                        await self._connection()
                else:
                    await self._connection()
                return  # said goodbye: the session has ended
            except Exception as exc:
                self._lost(exc)
            if self._stopping.is_set():
                continue
            if self.stats.connections != connections:
                delay = cfg.initial_s  # it had connected: start the backoff again
            wait = delay * random.uniform(0.8, 1.2)
            delay = min(delay * 2, cfg.max_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_evt.wait(), wait)

    def _lost(self, exc: BaseException) -> None:
        reason = str(exc) or type(exc).__name__
        if exc.__cause__ is not None:
            reason += f" ({exc.__cause__})"
        b = self.config.broker
        if self.stats.connected:
            self.stats.connected = False
            self._outage_logged = True
            self._log("broker_lost", host=b.host, port=b.port, reason=reason)
        elif not self._outage_logged:
            self._outage_logged = True
            self._log("broker_unreachable", host=b.host, port=b.port, reason=reason)

    def _client(self) -> aiomqtt.Client:
        b = self.config.broker
        will = self._stamp.availability("offline", "connection lost (Last Will)", will=True)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        props.MaximumPacketSize = MAX_PACKET_BYTES
        # A clean start only at the bridge's first connection: commands queued for an
        # earlier process are not this session's. After that the session is resumed, so
        # QoS 1 commands published while the bridge was away are delivered at reconnect.
        clean_start = self.stats.connections == 0
        return aiomqtt.Client(
            b.host,
            b.port,
            username=b.username,
            password=b.password(),
            identifier=self.config.client_id,
            will=aiomqtt.Will(self.topics.status, will.model_dump_json(), qos=1, retain=True),
            keepalive=b.keepalive_s,
            timeout=b.timeout_s,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=clean_start,
            properties=props,
            tls_context=b.tls.context() if b.tls is not None else None,
            queue_type=queue_class(self._receive),
            socket_options=[NODELAY],
        )

    async def _connection(self) -> None:
        """One connection, until it breaks (raises) or the session ends (returns)."""
        assert self._wake is not None
        async with self._client() as client:
            self.stats.connected = True
            self.stats.connections += 1
            self._outage_logged = False
            b = self.config.broker
            self._log(
                "broker_connected",
                host=b.host,
                port=b.port,
                tls=b.tls is not None,
                dropped_telemetry=self.dropped_telemetry,
                dropped_events=self.dropped_events,
            )
            # retain as published: a retained command delivered live keeps its flag (and
            # is refused); MQTT 3.1.1 would clear it. Online is announced only once the
            # broker has granted the command subscription: a command published on seeing
            # "online" must reach the bridge and be answered.
            granted = await client.subscribe(
                self.topics.command, options=SubscribeOptions(qos=1, retainAsPublished=True)
            )
            refused = subscription_refused(granted)
            if refused is not None:
                raise aiomqtt.MqttError(f"the command subscription was refused: {refused}")
            online = self._stamp.availability("online", "connected")
            await self._publish(client, topics.STATUS, online)
            self._state_key = None  # publish the state again on every connection
            watch = asyncio.create_task(self._watch(client), name="mqtt-watch")
            wake = self._wake
            watch.add_done_callback(lambda _task: wake.set())
            try:
                await self._publisher(client, watch)
            finally:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await watch
            self.stats.connected = False

    @staticmethod
    async def _watch(client: aiomqtt.Client) -> None:
        """Ends (raises) when the connection does. Messages never wait in aiomqtt's queue
        (they go to the inbox), so this only waits for the disconnection."""
        async for _ in client.messages:
            pass
        raise aiomqtt.MqttError("the message stream ended")

    async def _publisher(self, client: aiomqtt.Client, watch: asyncio.Task[None]) -> None:
        wake, stop = self._wake, self._stop_evt
        assert wake is not None
        assert stop is not None
        while True:
            if watch.done():
                exc = None if watch.cancelled() else watch.exception()
                raise exc or aiomqtt.MqttError("the connection ended")
            wake.clear()
            await self._flush(client)
            if stop.is_set():
                await self._settle_commands()
                await self._flush(client)
                await self._goodbye(client)
                return
            if not (self._results.items or self._events.items or self._telemetry.items):
                await wake.wait()

    async def _settle_commands(self) -> None:
        """Wait (bounded) until every command received so far has been decided.

        A stop that ends the session (the belt was already slow) is executed at once; its
        answer must still go out before `offline`, not be cut off by the goodbye.
        """
        inbox = self._inbox
        give_up = time.monotonic() + FINAL_ANSWERS_S
        while (self._deciding or (inbox is not None and len(inbox) > 0)) and (
            time.monotonic() < give_up
        ):
            await asyncio.sleep(0.01)

    async def _flush(self, client: aiomqtt.Client) -> None:
        while self._results.items:  # answers first: a stop's answer before any telemetry
            data = self._results.items[0]
            await self._send(client, topics.RESULT, data)
            self._results.pop()  # taken only once the broker has it (QoS 1)
        while self._events.items:
            record = self._events.pop()
            try:
                data = self._stamp.event(record).model_dump_json()
            except Exception:  # a record that will not serialise: skip it, never reconnect
                self._events.lost += 1
                continue
            try:
                await self._send(client, topics.EVENTS, data)
            except BaseException:
                self._events.lost += 1
                raise
            self.stats.events_published += 1
        while self._telemetry.items:
            seq, sampled, status = self._telemetry.pop()
            try:
                msg = self._stamp.telemetry(seq, sampled, status, self._drops())
                await self._publish(client, topics.TELEMETRY, msg)
            except BaseException:
                self._telemetry.lost += 1
                raise
            self.stats.telemetry_published += 1
        latest = self._latest
        if latest is not None:
            key = state_key(latest[1])
            if key != self._state_key:
                state = self._stamp.state(*latest, self._drops())
                await self._publish(client, topics.STATE, state)
                self._state_key = key

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        summary = self._summary
        if summary is not None:
            outcome, lines = summary
            await self._publish(client, topics.SUMMARY, self._stamp.summary(outcome, lines))
        reason = f"session ended: {summary[0]}" if summary is not None else "bridge stopped"
        await self._publish(client, topics.STATUS, self._stamp.availability("offline", reason))

    async def _publish(self, client: aiomqtt.Client, leaf: topics.Leaf, msg: Payload) -> None:
        await self._send(client, leaf, msg.model_dump_json())

    async def _send(self, client: aiomqtt.Client, leaf: topics.Leaf, data: str) -> None:
        await client.publish(self.topics.of(leaf), data, qos=leaf.qos, retain=leaf.retain)

    # -- commands ---------------------------------------------------------------------

    @staticmethod
    def _bounded_payload(payload: object) -> bytes:
        """The payload for the inbox: one larger than a command may be is kept as its size
        alone, so the refusal can be answered without holding megabytes."""
        if isinstance(payload, bytes | bytearray):
            raw = bytes(payload) if len(payload) <= MAX_COMMAND_BYTES else None
            size = len(payload)
        else:
            text = "" if payload is None else str(payload)
            raw = text.encode("utf-8", "replace") if len(text) <= MAX_COMMAND_BYTES else None
            size = len(text)
        return raw if raw is not None else oversized_marker(size)

    def _receive(self, message: aiomqtt.Message) -> None:
        """aiomqtt's on_message, in the bridge's loop thread: into the inbox. Never raises
        (an exception here would end the connection)."""
        try:
            inbox = self._inbox
            if inbox is None or not message.topic.matches(self.topics.command):
                return
            raw = self._bounded_payload(message.payload)
            pushed_out = inbox.put(raw, bool(message.retain))
            if pushed_out is not None:
                self.stats.inbox_evicted += 1
                self._answer(
                    self._refuse(None, None, "refused: too many commands at once (dropped unread)")
                )
        except Exception:
            self.stats.command_errors += 1

    async def _command_worker(self) -> None:
        """Decides every received command in order, for the bridge's whole life."""
        inbox = self._inbox
        assert inbox is not None
        while True:
            item = inbox.pop()
            if item is None:
                await inbox.ready.wait()
                continue
            self._deciding = True
            try:
                self._answer(await self._handle(item))
            finally:
                self._deciding = False

    def _answer(self, data: str) -> None:
        self._results.append(data)
        if self._wake is not None:
            self._wake.set()

    async def _handle(self, item: Incoming) -> str:
        """The answer to one message, as JSON text. Never raises (but for cancellation):
        one bad payload cannot end the worker, the connection or the session."""
        try:
            return await self._decide(item.payload, item.retain)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.stats.command_errors += 1
            text = f"refused: could not be handled ({type(exc).__name__})"
            with contextlib.suppress(Exception):
                self._log("warning", text=f"MQTT command {text}")
            return self._refuse(None, None, text)

    def _refuse(self, rid: str | None, action: str | None, text: str) -> str:
        self.stats.commands_refused += 1
        rid = None if rid is None else printable(rid, 64)
        action = None if action is None else printable(action, 32)
        text = printable(text, 300)
        self._log("remote_refused", id=rid, action=action, reason=text)
        return self._result(rid, action, False, text)

    def _result(self, rid: str | None, action: str | None, accepted: bool, text: str) -> str:
        try:
            return self._stamp.result(rid, action, accepted, text).model_dump_json()
        except Exception:  # cannot happen with clean text; never lose the answer's slot
            fallback = "refused: the answer could not be written"
            return self._stamp.result(None, None, False, fallback).model_dump_json()

    async def _decide(self, raw: bytes, retained: bool) -> str:
        self.stats.commands += 1
        now = time.time()
        parsed = parse_command(raw, retained, now)
        if isinstance(parsed, Refusal):
            return self._refuse(parsed.id, parsed.action, parsed.text)
        mono = time.monotonic()
        duplicate = self._recent.duplicate(parsed, raw, mono)
        if duplicate is not None:
            self.stats.duplicates += 1
            return self._refuse(parsed.id, parsed.action, duplicate)
        accepted, text = await self._ask(
            f"mqtt:{parsed.origin}", parsed.api_action, parsed.speed_kmh, parsed.api_direction
        )
        self._recent.remember(parsed, raw, accepted, text, mono)
        if not accepted:
            return self._refuse(parsed.id, parsed.action, text)
        note = timing_note(parsed, now) if parsed.urgent else None
        if note is not None:
            text = f"{text} ({note})"
        return self._result(parsed.id, parsed.action, True, printable(text, 300))

    async def _ask(
        self, origin: str, action: Action, speed: float | None, direction: Direction | None
    ) -> tuple[bool, str]:
        api = self._api
        if api is None:
            return False, "the controller is not running"
        try:
            future = api.remote_threadsafe(origin, action, speed, direction)
            return await asyncio.wait_for(asyncio.wrap_future(future), ANSWER_TIMEOUT_S)
        except TimeoutError:
            return False, "no answer from the controller in time: check its state first"
        except Exception as exc:
            return False, f"the controller could not take it: {exc!r}"


__all__ = ["BridgeStats", "MqttBridge"]
