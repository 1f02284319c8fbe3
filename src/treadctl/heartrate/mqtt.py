"""Heart rate from an MQTT topic where a BLE-to-MQTT gateway publishes a strap's rate.

Payloads understood (docs/heart-rate.md lists them with examples):
- a plain number: `72` or `72.5` (gateways with a "raw value" topic, Node-RED flows);
- a JSON number, or an object with one of the keys "heart_rate", "hr", "bpm",
  "heartrate", "heartRate" (checked in that order): `{"heart_rate": 72}`, `{"hr": 72}`;
- gateway device messages that carry the strap's address in "id" next to the rate, e.g.
  OpenMQTTGateway / Theengs Gateway BTtoMQTT messages `{"id": "E1:CA:72:48:C4:E8",
  "rssi": -61, "hr": 72}`: with `device_id` set, messages for other devices are ignored.

Each message is received in aiomqtt's callback (no queue: a flood cannot build a backlog
of old rates) and bounded before decoding: size first, then depth, then strict JSON
without NaN or Infinity; the rate must be a finite number in the plausible range. A
retained message is refused: its age is unknown. Anything refused clears the reading
with the reason logged; `read_bpm` never waits on the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

import aiomqtt

from treadctl.config.heartrate import MqttSourceConfig
from treadctl.config.mqtt import NODELAY
from treadctl.heartrate.backoff import Backoff
from treadctl.heartrate.base import BackgroundHeartRate
from treadctl.heartrate.latest import Latest
from treadctl.mqtt_client import queue_class
from treadctl.untrusted import InputRefusedError, decode_json, printable

log = logging.getLogger(__name__)

RATE_KEYS = ("heart_rate", "hr", "bpm", "heartrate", "heartRate")
_PLAIN_NUMBER = re.compile(rb"^\s*-?[0-9]{1,6}(\.[0-9]{1,6})?\s*$")


class OtherDeviceError(Exception):
    """A gateway message about another device on a shared topic: ignored, not refused."""


def _normal_id(value: str) -> str:
    return value.upper().replace("-", ":").removesuffix("/P")


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputRefusedError(f"{where} is not a number ({type(value).__name__})")
    return float(value)


def parse_rate(payload: bytes, config: MqttSourceConfig) -> float:
    """The rate in one payload; InputRefusedError says why not; OtherDeviceError for other devices.

    Range checks are the caller's (Latest.offer); this only finds the number.
    """
    if len(payload) > config.max_payload_bytes:
        raise InputRefusedError(
            f"payload of {len(payload)} bytes is over the {config.max_payload_bytes} byte limit"
        )
    if _PLAIN_NUMBER.match(payload):
        return float(payload)
    data = decode_json(payload, max_bytes=config.max_payload_bytes, max_depth=config.max_depth)
    if not isinstance(data, dict):
        return _number(data, "the payload")
    if config.device_id is not None:
        device = data.get("id")
        if not isinstance(device, str) or _normal_id(device) != _normal_id(config.device_id):
            raise OtherDeviceError(printable(str(device), 40))
    for key in RATE_KEYS:
        if key in data:
            return _number(data[key], f'"{key}"')
    raise InputRefusedError("no heart-rate field (" + ", ".join(RATE_KEYS) + ")")


class MqttHeartRate(BackgroundHeartRate):
    def __init__(self, config: MqttSourceConfig) -> None:
        self.config = config
        self.latest = Latest(f"mqtt {config.topic}", config.plausible, log)
        self.connections = 0
        self.failures = 0
        self.ignored = 0  # messages about other devices on a shared topic
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def read_bpm(self) -> float | None:
        """The latest rate (never awaits the broker)."""
        return self.latest.read()

    def age_s(self) -> float | None:
        return self.latest.age_s()

    def start(self) -> None:
        if self._task is None:
            name = f"heart rate {self.config.topic}"
            self._task = asyncio.get_running_loop().create_task(self._run(), name=name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.latest.clear("source stopped")

    def receive(self, message: aiomqtt.Message) -> None:
        """One message, in aiomqtt's callback: must not raise."""
        if message.retain:
            self.latest.clear("refused a retained message (its age is unknown)")
            return
        payload = message.payload
        if not isinstance(payload, bytes | bytearray):
            self.latest.clear("refused a payload that is not bytes")
            return
        try:
            bpm = parse_rate(bytes(payload), self.config)
        except OtherDeviceError:
            self.ignored += 1
            return
        except InputRefusedError as exc:
            self.latest.clear(f"refused a message: {exc}")
            return
        self.latest.offer(bpm)

    def _client(self) -> aiomqtt.Client:
        b = self.config.broker
        return aiomqtt.Client(
            b.host,
            b.port,
            username=b.username,
            password=b.password(),
            identifier=b.client_id,
            keepalive=b.keepalive_s,
            timeout=b.timeout_s,
            protocol=aiomqtt.ProtocolVersion.V5,
            tls_context=b.tls.context() if b.tls is not None else None,
            queue_type=queue_class(self.receive),
            socket_options=[NODELAY],
        )

    async def _run(self) -> None:
        backoff = Backoff(self.config.reconnect)
        while True:
            try:
                async with self._client() as client:
                    await client.subscribe(self.config.topic, qos=0)
                    self.connections += 1
                    self.connected.set()
                    backoff.reset()
                    async for _ in client.messages:  # every message goes to receive()
                        pass
            except asyncio.CancelledError:
                raise
            except (aiomqtt.MqttError, OSError) as exc:
                self.failures += 1
                self.latest.clear(f"broker: {exc}")
            except Exception as exc:  # a password file gone, a TLS file refused ...: retry
                self.failures += 1
                self.latest.clear(f"broker: {type(exc).__name__}: {exc}")
            finally:
                self.connected.clear()
            await asyncio.sleep(backoff.next_s())
