"""Hostile commands through the real broker: refused one by one, the connection kept, and
a stop right after them (or sent while the bridge was cut off) executed."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from pathlib import Path

import pytest
from cutter import Cutter
from mqtt_broker import Broker
from mqtt_rig import Collector, Received, bridge_config, is_on, running, write_machine

from treadctl.api.client import ControllerClient
from treadctl.api.messages import Role
from treadctl.mqtt.bridge import MAX_PACKET_BYTES, MqttBridge
from treadctl.mqtt.commands import MAX_AGE_S
from treadctl.mqtt.payloads import CommandResult

BASE = "treadctl/clinic/tm-01"
COMMAND = f"{BASE}/command"
RESULT = f"{COMMAND}/result"


def stop_body(rid: str) -> dict[str, object]:
    return {"id": rid, "action": "stop", "origin": "desk"}


def hostile(now: float) -> list[tuple[bytes, bool, str]]:
    """(payload, retained, a words of the refusal it must get)."""
    stop = json.dumps(stop_body("enc"))
    rng = random.Random(17)
    return [
        (b"[" * 2000, False, "nested deeper than"),
        (b'{"a":' * 600 + b"1" + b"}" * 600, False, "nested deeper than"),
        (b'{"id":"x","action":"\\ud800"}', False, "not valid Unicode"),
        (b'{"id":"x","action":"\xed\xa0\x80"}', False, "not UTF-8"),
        (b'{"id":"n","action":"speed","speed_kmh":NaN}', False, "NaN is not a number"),
        (b'{"id":"i","action":"speed","speed_kmh":Infinity}', False, "Infinity is not a number"),
        (b'{"id":"e","action":"speed","speed_kmh":1e999}', False, "not finite"),
        (b'{"id":"m","action":"stop","sent_at":-Infinity}', False, "-Infinity is not a number"),
        (b'{"id":"h","action":"stop","sent_at":' + b"9" * 400 + b"}", False, "400 digits"),
        (b"\xef\xbb\xbf" + stop.encode(), False, "byte-order mark"),
        (stop.encode("utf-16"), False, "byte-order mark"),
        (stop.encode("utf-16-le"), False, "not JSON"),
        (stop.encode("utf-32-be"), False, "not JSON"),
        (b"[]", False, "not a JSON object"),
        (b'"stop"', False, "not a JSON object"),
        (b"42", False, "not a JSON object"),
        (b"null", False, "not a JSON object"),
        (b"", False, "not JSON"),
        (b'{"id":"o","action":"stop","origin":"' + b"a" * 5000 + b'"}', False, "larger than"),
        (rng.randbytes(1000), False, "not UTF-8"),
        (bytes(range(256)), False, "not UTF-8"),
        (
            json.dumps({"id": "f", "action": "start", "sent_at": now + 1e9}).encode(),
            False,
            "in the future",
        ),
        (
            json.dumps({"id": "u", "action": "stop", "eject": True}).encode(),
            False,
            "unknown field",
        ),
        # a stop padded with a long field, 64 KB to 10 MB: refused for its size, answered
        # (null id: it is not read), held by the bridge only as its size
        *(
            (
                json.dumps({**stop_body("big"), "pad": "x" * size}).encode(),
                False,
                "bytes, larger than 4096 (not read)",
            )
            for size in (64 * 1024, 1024 * 1024, 10 * 1024 * 1024)
        ),
        (b'{"id":"' + b"7" * 100_000 + b'","action":"stop"}', False, "larger than 4096"),
        (json.dumps(stop_body("ret")).encode(), True, "retained"),  # delivered live
        (b"", True, "not JSON"),  # clears the retained one (delivered as a message too)
    ]


def results(desk: Collector) -> list[Received]:
    return [r for r in desk.seen if r.topic == RESULT]


async def test_hostile_payloads_are_refused_and_the_stop_after_them_is_executed(
    broker: Broker, tmp_path: Path, short_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bridge = MqttBridge(bridge_config(tmp_path, broker))
    async with (
        Collector(broker, "desk", (f"{BASE}/#",)) as desk,
        running(tmp_path, short_dir, bridge) as rig,
    ):
        await desk.wait_for(is_on("telemetry", mode="running"), "the belt running")
        batch = hostile(time.time())
        # larger than the Maximum Packet Size the bridge announced: the broker drops it
        # for the bridge (no answer), and nothing else changes
        await desk.publish(COMMAND, b"{" * (MAX_PACKET_BYTES + 10))
        for payload, retained, _ in batch:
            await desk.publish(COMMAND, payload, retain=retained)
        await desk.publish(COMMAND, json.dumps(stop_body("final-stop")))

        got = await desk.wait_for(
            lambda r: r.topic == RESULT and r.json().get("id") == "final-stop", "the stop answered"
        )
        assert CommandResult.model_validate_json(got.payload).accepted
        await rig.wait_event("command", command="stop", source="mqtt:desk")

        answers = [CommandResult.model_validate_json(r.payload) for r in results(desk)]
        assert [a.id for a in answers][-1] == "final-stop"
        refusals = answers[:-1]
        assert len(refusals) == len(batch)  # one answer each, in order, and no more
        for (payload, _, why), res in zip(batch, refusals, strict=True):
            assert not res.accepted, payload[:60]
            assert res.text.startswith("refused: "), res.text
            assert why in res.text, (payload[:60], res.text)
            if "(not read)" in res.text:
                assert res.id is None, res  # never read: a null id and the reason
        # the connection was never dropped, nothing raised
        assert bridge.stats.connections == 1
        kinds = [r["kind"] for r in rig.events.records]
        assert "broker_lost" not in kinds
        assert bridge.stats.command_errors == 0
        refused = [r for r in rig.events.records if r["kind"] == "remote_refused"]
        assert len(refused) == len(batch)
        for r in refused:
            json.dumps(r, ensure_ascii=False).encode("utf-8")  # clean text in the log
    warnings = [r for r in rig.events.records if r["kind"] == "warning"]
    assert warnings == []
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert "Traceback" not in caplog.text


async def test_a_stop_sent_while_the_bridge_is_cut_off_is_executed_at_reconnection(
    broker: Broker, tmp_path: Path, short_dir: Path
) -> None:
    async with Cutter(broker.host, broker.port) as cutter:
        bridge = MqttBridge(bridge_config(tmp_path, broker, port=cutter.port))
        async with (
            Collector(broker, "desk", (f"{BASE}/#",)) as desk,
            running(tmp_path, short_dir, bridge) as rig,
        ):
            await desk.wait_for(is_on("telemetry", mode="running"), "the belt running")
            await rig.wait_event("broker_connected")
            cutter.cut()
            await rig.wait_event("broker_lost")
            assert not bridge.stats.connected
            # QoS 1, acknowledged by the broker while the bridge is away: held in its session
            late_start = {"id": "late-start", "action": "start", "origin": "desk",
                          "sent_at": time.time() - MAX_AGE_S - 5}  # fmt: skip
            await desk.publish(COMMAND, json.dumps(late_start))
            await desk.publish(
                COMMAND, json.dumps({**stop_body("cut-stop"), "sent_at": time.time()})
            )
            await rig.wait_until(lambda: cutter.refused >= 1, "the bridge trying to come back")
            await asyncio.sleep(0.5)
            assert rig.controller.api is not None
            assert rig.controller.api.loop.snapshot.outputs is not None
            assert rig.controller.api.loop.snapshot.outputs.mode.value == "running"  # not yet
            assert not [r for r in results(desk) if r.json().get("id") == "cut-stop"]

            cutter.mend()
            got = await desk.wait_for(
                lambda r: r.topic == RESULT and r.json().get("id") == "cut-stop",
                "the stop answered after the reconnection",
            )
            assert CommandResult.model_validate_json(got.payload).accepted
            await rig.wait_event("command", command="stop", source="mqtt:desk")
            late = next(r for r in results(desk) if r.json().get("id") == "late-start")
            res = CommandResult.model_validate_json(late.payload)
            assert not res.accepted
            assert "stale" in res.text
            assert bridge.stats.connections == 2
            await desk.wait_for(
                lambda r: (
                    r.topic.endswith("/state") and r.json()["mode"] in ("stopping", "stopped")
                ),
                "the belt stopping",
            )


async def test_a_replayed_id_is_one_request_and_a_stop_reusing_it_still_stops(
    broker: Broker, tmp_path: Path, short_dir: Path
) -> None:
    machine = write_machine(tmp_path, start=True)
    bridge = MqttBridge(bridge_config(tmp_path, broker))
    async with (
        Collector(broker, "desk", (f"{BASE}/#",)) as desk,
        running(tmp_path, short_dir, bridge, machine=machine) as rig,
    ):
        await desk.wait_for(is_on("telemetry", mode="running"), "the belt running")
        console = ControllerClient(short_dir / "ctl.sock", Role.OPERATOR, "test-console")
        await console.connect()
        try:
            start = json.dumps({"id": "r", "action": "start", "origin": "desk",
                                "sent_at": time.time()})  # fmt: skip
            for _ in range(40):
                await desk.publish(COMMAND, start)
            await rig.wait_until(
                lambda: len([r for r in results(desk) if r.json().get("id") == "r"]) == 40,
                "40 answers",
            )
            answers = [CommandResult.model_validate_json(r.payload) for r in results(desk)]
            assert sum(a.accepted for a in answers) == 1
            assert "waiting for the local operator's confirmation" in answers[0].text
            assert all("duplicate id" in a.text for a in answers[1:])
            await rig.wait_until(
                lambda: console.status is not None and bool(console.status.remote_requests),
                "the request on the console",
            )
            assert console.status is not None
            assert len(console.status.remote_requests) == 1
            assert len([r for r in rig.events.records if r["kind"] == "remote_request"]) == 1
            assert bridge.stats.duplicates == 39

            # a stop that reuses the id is not a replay of it: executed
            await desk.publish(COMMAND, json.dumps(stop_body("r")))
            await rig.wait_event("command", command="stop", source="mqtt:desk")
        finally:
            await console.close()


async def test_a_stop_that_ends_the_session_at_once_is_still_answered(
    broker: Broker, tmp_path: Path, short_dir: Path
) -> None:
    """At standstill a stop ends the session within a cycle: the bridge's goodbye must
    not cut off the stop's own answer (CI saw it lost once, the stop executed)."""
    bridge = MqttBridge(bridge_config(tmp_path, broker))
    async with (
        Collector(broker, "desk", (f"{BASE}/#",)) as desk,
        running(tmp_path, short_dir, bridge, operator=False) as rig,
    ):
        await desk.wait_for(is_on("status", state="online"), "the bridge online")
        for payload, retained, _ in hostile(time.time()):  # keep the bridge busy answering
            await desk.publish(COMMAND, payload, retain=retained)
        await desk.publish(COMMAND, json.dumps(stop_body("at-rest")))
        summary = await asyncio.wait_for(rig.task, 30)
        assert summary.outcome == "stopped by mqtt:desk"
        await desk.wait_for(is_on("status", state="offline"), "the bridge's goodbye")
        topics_seen = [r.topic for r in desk.seen]
        answer = next(r for r in desk.seen if r.topic == RESULT and r.json().get("id") == "at-rest")
        assert CommandResult.model_validate_json(answer.payload).accepted
        offline = next(i for i, r in enumerate(desk.seen) if is_on("status", state="offline")(r))
        assert topics_seen.index(RESULT) < offline  # answered before the goodbye


async def test_a_command_sent_on_seeing_online_is_answered(
    broker: Broker, tmp_path: Path, short_dir: Path
) -> None:
    """The bridge says online only once the broker has granted its command subscription:
    a remote desk that sends on seeing "online" is never unheard (1 in 60 was, before)."""
    bridge = MqttBridge(bridge_config(tmp_path, broker))
    async with (
        Collector(broker, "desk", (f"{BASE}/#",)) as desk,
        running(tmp_path, short_dir, bridge, operator=False),
    ):
        await desk.wait_for(is_on("status", state="online"), "the bridge online")
        await desk.publish(COMMAND, json.dumps({"id": "first", "action": "pause"}))
        got = await desk.wait_for(
            lambda r: r.topic == RESULT and r.json().get("id") == "first", "the first answered"
        )
        assert CommandResult.model_validate_json(got.payload).id == "first"
