"""Shipping over the clinic's MQTT broker: a Sink for treadctl.clinic.ship.Shipper.

Each batch is published with QoS 1 on `treadctl/<site>/<treadmill>/records`; the batch
counts as shipped only when the ingester's answer with the same batch id arrives on
`.../records/ack`, which it sends after its PostgreSQL transaction committed (a PUBACK
only says the broker has it). No answer within the timeout, a broker that is down, or an
answer "retry" (the records are down): ClinicUnreachableError, the marks do not move and
the shipper sends the batch again after its back-off; the ingester's keys store it once.

paho-mqtt's own network thread keeps the connection (and reconnects); the shipper's
thread only waits on events, each wait bounded.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from treadctl.clinic.connect import ClinicUnreachableError
from treadctl.clinic.ship import Batch, BatchRefusedError
from treadctl.clinic.wire import (
    Ack,
    ack_topic,
    decode_ack,
    encode_batch,
    new_batch_id,
    records_topic,
)
from treadctl.config.mqtt import BrokerConfig
from treadctl.untrusted import InputRefusedError

ACK_TIMEOUT_S = 30.0  # the ingester's commit of one batch, broker round trips included
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 5

log = logging.getLogger("treadctl.clinic.mqtt_ship")


class MqttSink:
    """Publishes batches and waits for the ingester's committed answer."""

    def __init__(
        self,
        broker: BrokerConfig,
        site: str,
        treadmill_id: str,
        *,
        ack_timeout_s: float = ACK_TIMEOUT_S,
    ) -> None:
        self.broker = broker
        self.treadmill_id = treadmill_id
        self.topic = records_topic(site, treadmill_id)
        self.ack_topic = ack_topic(site, treadmill_id)
        self.ack_timeout_s = ack_timeout_s
        self._lock = threading.Lock()
        self._ready = threading.Event()  # connected and subscribed to the answers
        self._answer = threading.Event()
        self._waiting: str | None = None
        self._ack: Ack | None = None
        self._problem = "not connected yet"
        self._client: mqtt.Client | None = None

    @property
    def where(self) -> str:
        return f"mqtt://{self.broker.host}:{self.broker.port}/{self.topic}"

    def _start(self) -> mqtt.Client:
        if self._client is not None:
            return self._client
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.broker.client_id or f"treadctl-ship-{self.treadmill_id}",
            protocol=mqtt.MQTTv5,
        )
        if self.broker.username is not None:
            client.username_pw_set(self.broker.username, self.broker.password())
        if self.broker.tls is not None:
            client.tls_set_context(self.broker.tls.context())
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.connect_async(self.broker.host, self.broker.port, self.broker.keepalive_s)
        client.loop_start()
        self._client = client
        return client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()
        self._ready.clear()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        if rc.is_failure:
            self._problem = f"broker refused the connection: {rc}"
            return
        client.subscribe(self.ack_topic, qos=1)

    def _on_subscribe(
        self, _c: mqtt.Client, _u: Any, _mid: int, codes: list[ReasonCode], _p: Any
    ) -> None:
        if codes and not codes[0].is_failure:
            self._ready.set()
        else:
            self._problem = f"broker refused the answers' topic {self.ack_topic}"

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self._ready.clear()
        self._problem = f"broker connection lost: {rc}"
        self._answer.set()  # a batch waiting for its answer fails now, not at the timeout

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            ack = decode_ack(bytes(message.payload))
        except InputRefusedError as exc:
            log.warning("clinic records: an answer refused: %s", exc)
            return
        with self._lock:
            if ack.batch == self._waiting:
                self._ack = ack
                self._answer.set()

    def write(self, batch: Batch) -> None:
        client = self._start()
        if not self._ready.wait(self.broker.timeout_s):
            raise ClinicUnreachableError(self.where, self._problem)
        batch_id = new_batch_id()
        with self._lock:
            self._waiting = batch_id
            self._ack = None
            self._answer.clear()
        payload = encode_batch(batch, self.treadmill_id, batch_id, time.time())
        info = client.publish(self.topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise ClinicUnreachableError(
                self.where, f"cannot publish: {mqtt.error_string(info.rc)}"
            )
        if not self._answer.wait(self.ack_timeout_s):
            raise ClinicUnreachableError(
                self.where, f"no answer from the ingester within {self.ack_timeout_s:g} s"
            )
        with self._lock:
            ack, self._waiting = self._ack, None
        if ack is None:
            raise ClinicUnreachableError(self.where, self._problem)
        if ack.ok:
            return
        if ack.retry:
            raise ClinicUnreachableError(self.where, f"ingester: {ack.reason}")
        raise BatchRefusedError(f"ingester refused the batch: {ack.reason}")
