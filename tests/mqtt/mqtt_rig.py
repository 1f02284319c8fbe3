"""Test helpers: session files, an in-process controller with a bridge, a subscriber.

Every wait here waits for a condition with a generous deadline; nothing asserts on how
long something took.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
from mqtt_broker import Broker

from treadctl.app import load_session
from treadctl.clock import MonotonicClock
from treadctl.config.mqtt import MqttConfig, load_mqtt_config
from treadctl.control.summary import SessionSummary
from treadctl.mqtt.bridge import MqttBridge
from treadctl.mqtt.payloads import AnyPayload, any_payload
from treadctl.serve import Controller
from treadctl.sim.operator import ScriptedOperator
from treadctl.store.eventlog import EventLog

ROOT = Path(__file__).resolve().parents[2]
SIM_MACHINE = ROOT / "src/treadctl/samples/machines/sim.toml"
PATIENT = ROOT / "src/treadctl/samples/patients/demo.toml"
DEADLINE_S = 30.0

PROFILE = """\
name = "mqtt test walk"
supervision = "none"
[[blocks]]
  [[blocks.segments]]
  direction = "forward"
  duration_s = {seconds}
  speed_kmh = 2.0
"""


def write_profile(d: Path, seconds: float = 600) -> Path:
    path = d / "profile.toml"
    path.write_text(PROFILE.format(seconds=seconds))
    return path


def write_machine(d: Path, **remote: bool) -> Path:
    """src/treadctl/samples/machines/sim.toml with a [remote_commands] section."""
    text = SIM_MACHINE.read_text() + "\n[remote_commands]\n"
    text += "".join(f"{k} = {'true' if v else 'false'}\n" for k, v in remote.items())
    path = d / "machine.toml"
    path.write_text(text)
    return path


def write_mqtt(
    d: Path,
    broker: Broker,
    user: str = "tm-01",
    site: str = "clinic",
    extra: str = "",
    broker_extra: str = "",
    port: int | None = None,  # another port than the broker's (a proxy in between)
) -> Path:
    broker.password_file(user)
    path = d / f"mqtt-{user}.toml"
    path.write_text(
        f'site = "{site}"\ntreadmill = "{user}"\n{extra}\n'
        f'[broker]\nhost = "127.0.0.1"\nport = {port or broker.port}\nusername = "{user}"\n'
        f'password_file = "{broker.workdir / (user + ".password")}"\nkeepalive_s = 5\n'
        f"{broker_extra}\n"
        "[reconnect]\ninitial_s = 0.2\nmax_s = 1.0\n"
    )
    return path


def bridge_config(d: Path, broker: Broker, user: str = "tm-01", **kw: Any) -> MqttConfig:
    return load_mqtt_config(write_mqtt(d, broker, user, **kw))


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    at: float  # time.time() when it arrived

    def parsed(self) -> AnyPayload:
        return any_payload.validate_json(self.payload)

    def json(self) -> dict[str, Any]:

        out: dict[str, Any] = json.loads(self.payload)
        return out


@dataclass
class Collector:
    """A subscriber that reconnects by itself (the broker may be restarted under it)."""

    broker: Broker
    user: str = "desk"
    filters: tuple[str, ...] = ("treadctl/#",)
    seen: list[Received] = field(default_factory=list)
    connections: int = 0
    tls_ca: Path | None = None
    _task: asyncio.Task[None] | None = None
    _new: asyncio.Event = field(default_factory=asyncio.Event)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _client: aiomqtt.Client | None = None

    async def __aenter__(self) -> Collector:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), DEADLINE_S)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    self.broker.host,
                    self.broker.port,
                    username=self.user,
                    password=self.broker.users[self.user],
                    tls_params=aiomqtt.TLSParameters(ca_certs=str(self.tls_ca))
                    if self.tls_ca is not None
                    else None,
                ) as client:
                    for f in self.filters:
                        await client.subscribe(f, qos=1)
                    self._client = client
                    self.connections += 1
                    self._ready.set()
                    async for m in client.messages:
                        payload = m.payload if isinstance(m.payload, bytes) else b""
                        self.seen.append(Received(str(m.topic), payload, m.retain, time.time()))
                        self._new.set()
            except aiomqtt.MqttError:
                self._client = None
                await asyncio.sleep(0.2)

    async def publish(self, topic: str, payload: str | bytes, retain: bool = False) -> None:
        """Publish at QoS 1 and wait for the broker's acknowledgement."""
        assert self._client is not None, "not connected"
        await self._client.publish(topic, payload, qos=1, retain=retain)

    async def wait_for(
        self, pred: Callable[[Received], bool], what: str, timeout_s: float = DEADLINE_S
    ) -> Received:
        deadline = time.monotonic() + timeout_s
        i = 0
        while True:
            while i < len(self.seen):
                r = self.seen[i]
                i += 1
                if pred(r):
                    return r
            left = deadline - time.monotonic()
            if left <= 0:
                tail = "\n".join(f"  {r.topic} {r.payload[:160]!r}" for r in self.seen[-15:])
                raise AssertionError(f"never saw {what} in {timeout_s:g} s; last seen:\n{tail}")
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), min(left, 0.5))

    def on(self, topic_end: str) -> list[Received]:
        return [r for r in self.seen if r.topic.endswith("/" + topic_end)]


def is_on(topic_end: str, **fields: Any) -> Callable[[Received], bool]:
    """A predicate: a message on a topic ending so, whose JSON has these field values."""

    def pred(r: Received) -> bool:
        if not r.topic.endswith("/" + topic_end):
            return False
        try:
            data = r.json()
        except ValueError:
            return False
        return all(data.get(k) == v for k, v in fields.items())

    return pred


@dataclass
class Rig:
    controller: Controller
    task: asyncio.Task[SessionSummary]
    events: EventLog
    bridge: MqttBridge | None

    async def wait_event(self, kind: str, timeout_s: float = DEADLINE_S, **fields: Any) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for r in self.events.records:
                if r["kind"] == kind and all(r.get(k) == v for k, v in fields.items()):
                    return r
            if self.task.done():
                self.task.result()
                break
            await asyncio.sleep(0.05)
        kinds = [r["kind"] for r in self.events.records][-20:]
        raise AssertionError(f"no {kind} {fields} event in {timeout_s:g} s; last: {kinds}")

    async def wait_until(self, cond: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError(f"never: {what}")
            await asyncio.sleep(0.05)

    async def quit(self) -> SessionSummary:
        api = self.controller.api
        if api is not None and not self.task.done():
            api.loop.request_quit("test")
        return await asyncio.wait_for(self.task, 60)


@contextlib.asynccontextmanager
async def running(
    tmp: Path,
    sock_dir: Path,
    bridge: MqttBridge | None,
    machine: Path = SIM_MACHINE,
    seconds: float = 600,
    operator: bool = True,
) -> AsyncIterator[Rig]:
    """A controller on the built-in simulator in this event loop, with the bridge."""
    files = load_session(machine, write_profile(tmp, seconds), PATIENT)
    events = EventLog(tmp / "events.jsonl")
    ctl = Controller(
        files,
        MonotonicClock(),
        events,
        sock_dir / "ctl.sock",
        operator=ScriptedOperator(confirm_delay_s=0.2, turnaround_s=0.5) if operator else None,
        bridges=[bridge] if bridge is not None else [],
    )
    rig = Rig(ctl, asyncio.create_task(ctl.run()), events, bridge)
    try:
        await rig.wait_until(lambda: ctl.api is not None or rig.task.done(), "controller up")
        yield rig
    finally:
        try:
            await rig.quit()
        finally:
            events.close()
