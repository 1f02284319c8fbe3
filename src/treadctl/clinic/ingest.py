"""`treadctl records serve`: the ingester between the clinic's broker and PostgreSQL.

It subscribes to every treadmill's records topic, checks each batch (bounded before
parsing: treadctl.clinic.wire), refuses a batch whose treadmill id is not the topic's (the
broker's ACL lets each treadmill's user write only its own topic, so the topic names the
sender), writes it with the shipper's keyed writes (treadctl.clinic.ship.write_batch: a
batch sent twice is stored once) and answers on the treadmill's ack topic only after the
transaction committed. Records that are down get an answer "retry": the shipper keeps the
batch and sends it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import aiomqtt
import psycopg

from treadctl.clinic.connect import ClinicUnreachableError, Conn, connect, redact
from treadctl.clinic.schema import migrate
from treadctl.clinic.ship import write_batch
from treadctl.clinic.wire import (
    RECORDS_FILTER,
    Ack,
    WireBatch,
    ack_topic,
    batch_of,
    decode_batch,
    encode_ack,
    topic_treadmill,
)
from treadctl.config.mqtt import NODELAY, BrokerConfig
from treadctl.untrusted import InputRefusedError, printable

RECONNECT_S = 1.0
WORKERS = 4  # batches written at once, each on its own PostgreSQL connection
QUEUE_BATCHES = 1_000  # received, not yet written: the broker holds the rest

log = logging.getLogger("treadctl.clinic.ingest")


@dataclass
class IngestStats:
    batches: int = 0
    samples: int = 0
    refused: int = 0
    retried: int = 0


class Ingester:
    def __init__(self, broker: BrokerConfig, url: str, client_id: str = "treadctl-ingester"):
        self.broker = broker
        self.url = url
        self.client_id = broker.client_id or client_id
        self.stats = IngestStats()
        self._conns: list[Conn | None] = [None] * WORKERS

    def _store(self, slot: int, treadmill: str, wire: WireBatch) -> Ack:
        """One batch into PostgreSQL (runs in a worker thread, on its slot's connection).

        Batches of different treadmills are written at once; two copies of one batch at
        once are still stored once (the keys; a session row by its local version)."""
        conn = self._conns[slot]
        try:
            if conn is None or conn.closed:
                conn = connect(self.url)
                self._conns[slot] = conn
                migrate(conn)
            write_batch(conn, treadmill, batch_of(wire))
        except (psycopg.IntegrityError, psycopg.DataError) as exc:
            return Ack(batch=wire.batch, ok=False, reason=_line(exc))
        except (psycopg.Error, ClinicUnreachableError) as exc:
            if conn is not None:
                conn.close()
            self._conns[slot] = None
            return Ack(batch=wire.batch, ok=False, retry=True, reason=_line(exc))
        return Ack(batch=wire.batch, ok=True)

    async def handle(self, topic: str, payload: bytes, slot: int = 0) -> tuple[str, Ack] | None:
        """The answer to one message and where it goes (None: nothing to answer)."""
        where = topic_treadmill(topic)
        if where is None:
            return None
        site, treadmill = where
        try:
            wire = decode_batch(payload)
        except InputRefusedError as exc:
            self.stats.refused += 1
            log.warning("records from %s refused: %s", printable(treadmill), exc)
            return None  # no batch id to answer to
        answer_to = ack_topic(site, treadmill)
        if wire.treadmill != treadmill:
            self.stats.refused += 1
            reason = f"treadmill {wire.treadmill} did not send this (topic of {treadmill})"
            log.warning("records refused: %s", printable(reason))
            return answer_to, Ack(batch=wire.batch, ok=False, reason=reason[:500])
        ack = await asyncio.to_thread(self._store, slot, treadmill, wire)
        if ack.ok:
            self.stats.batches += 1
            self.stats.samples += len(wire.samples)
        elif ack.retry:
            self.stats.retried += 1
        else:
            self.stats.refused += 1
        return answer_to, ack

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set; the broker is reconnected to after any loss."""
        while not stop.is_set():
            try:
                session = asyncio.ensure_future(self._session(stop))
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait({session, stopping}, return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if not session.done():
                    session.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await session
                    break
                session.result()
            except aiomqtt.MqttError as exc:
                log.warning("ingester: broker %s:%s: %s", self.broker.host, self.broker.port, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RECONNECT_S)
        for conn in self._conns:
            if conn is not None:
                conn.close()

    async def _session(self, stop: asyncio.Event) -> None:
        b = self.broker
        tls = await asyncio.to_thread(b.tls.context) if b.tls is not None else None
        password = await asyncio.to_thread(b.password)
        async with aiomqtt.Client(
            b.host,
            b.port,
            username=b.username,
            password=password,
            identifier=self.client_id,
            keepalive=b.keepalive_s,
            timeout=b.timeout_s,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=True,
            tls_context=tls,
            socket_options=[NODELAY],
            max_queued_incoming_messages=10_000,
        ) as client:
            await client.subscribe(RECORDS_FILTER, qos=1)
            log.info("ingester: subscribed to %s, writing to %s", RECORDS_FILTER, redact(self.url))
            queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(QUEUE_BATCHES)
            workers = [
                asyncio.ensure_future(self._worker(client, queue, i)) for i in range(WORKERS)
            ]
            try:
                async for message in client.messages:
                    if stop.is_set():
                        return
                    payload = message.payload
                    if isinstance(payload, bytes | bytearray):
                        await queue.put((str(message.topic), bytes(payload)))
            finally:
                for w in workers:
                    w.cancel()
                await asyncio.gather(*workers, return_exceptions=True)

    async def _worker(
        self, client: aiomqtt.Client, queue: asyncio.Queue[tuple[str, bytes]], slot: int
    ) -> None:
        while True:
            topic, payload = await queue.get()
            answer = await self.handle(topic, payload, slot)
            if answer is not None:
                await client.publish(answer[0], encode_ack(answer[1]), qos=1)


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:400]
