"""Remote commands through a real broker: what is accepted, what is refused and why.

Refusals the bridge sees are answered on `.../command/result` with the request's id. A
command the broker's ACL refuses never reaches the bridge: there is nothing to answer,
and the tests show it had no effect (a later, allowed command's answer arrives first).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from mqtt_broker import Broker
from mqtt_rig import Collector, bridge_config, is_on, running, write_machine

from treadctl.api.client import ControllerClient
from treadctl.api.messages import Action, Role
from treadctl.mqtt.bridge import MqttBridge
from treadctl.mqtt.payloads import CommandResult, Telemetry

BASE = "treadctl/clinic/tm-01"
COMMAND = f"{BASE}/command"


def result_for(rid: str | None):  # type: ignore[no-untyped-def]
    return lambda r: r.topic == f"{COMMAND}/result" and r.json().get("id") == rid


async def test_stop_is_accepted_and_bad_commands_are_refused_with_reasons(
    broker: Broker, tmp_path: Path, short_dir: Path
) -> None:
    bridge = MqttBridge(bridge_config(tmp_path, broker))
    async with Collector(broker, "desk", (f"{BASE}/#",)) as desk:
        # a retained command waiting on the broker before the bridge connects: refused,
        # never replayed into a session
        await desk.publish(COMMAND, json.dumps({"id": "old", "action": "stop"}), retain=True)
        async with running(tmp_path, short_dir, bridge) as rig:
            got = await desk.wait_for(result_for("old"), "the retained command's refusal")
            res = CommandResult.model_validate_json(got.payload)
            assert not res.accepted
            assert "retained" in res.text
            await desk.publish(COMMAND, b"", retain=True)  # clear it on the broker

            await desk.wait_for(is_on("telemetry", mode="running"), "the belt running")
            now = time.time()
            cases = {
                "bad-action": ({"action": "fly"}, "action"),
                "no-speed": ({"action": "speed"}, "speed needs speed_kmh"),
                "neg-speed": ({"action": "speed", "speed_kmh": -1.0}, "speed_kmh"),
                "extra": ({"action": "stop", "force": True}, "force: unknown field"),
                "stale": ({"action": "start", "sent_at": 1000.0}, "stale"),
                "future": ({"action": "start", "sent_at": now + 1e9}, "in the future"),
                "undated": ({"action": "start"}, "start needs sent_at"),
                "speed-off": (
                    {"action": "speed", "speed_kmh": 1.5, "sent_at": now},
                    "remote speed is not enabled in the machine file",
                ),
                "start-off": ({"action": "start", "sent_at": now}, "remote start is not enabled"),
            }
            for rid, (body, _) in cases.items():
                await desk.publish(COMMAND, json.dumps({"id": rid, **body}))
            await desk.publish(COMMAND, b"this is not json")
            await desk.publish(COMMAND, json.dumps(["id", "x"]))
            for rid, (_, why) in cases.items():
                got = await desk.wait_for(result_for(rid), f"the answer to {rid}")
                res = CommandResult.model_validate_json(got.payload)
                assert not res.accepted, rid
                assert why in res.text, (rid, res.text)
            for why in ("refused: not JSON (Expecting value", "refused: not a JSON object"):
                await desk.wait_for(
                    lambda r, why=why: (
                        is_on("command/result", id=None)(r) and r.json()["text"].startswith(why)
                    ),
                    why,
                )
            # the belt ran on through all of that
            assert rig.controller.api is not None
            assert rig.controller.api.loop.snapshot.outputs is not None
            assert rig.controller.api.loop.snapshot.outputs.mode.value == "running"

            # neither stop nor pause is refused for its age: a late one is still executed
            # (a late start is not: "stale" above), and the answer says so
            await desk.publish(COMMAND, json.dumps({"id": "late", "action": "pause",
                                                    "sent_at": 1000.0}))  # fmt: skip
            got = await desk.wait_for(result_for("late"), "the answer to the late pause")
            res = CommandResult.model_validate_json(got.payload)
            assert res.accepted
            assert "stale" in res.text
            await rig.wait_event("command", command="pause", source="mqtt:remote")

            await desk.publish(
                COMMAND, json.dumps({"id": "s1", "action": "stop", "origin": "desk-anna"})
            )
            got = await desk.wait_for(result_for("s1"), "the answer to stop")
            res = CommandResult.model_validate_json(got.payload)
            assert res.accepted
            assert res.action == "stop"
            rec = await rig.wait_event("command", command="stop", source="mqtt:desk-anna")
            assert rec["accepted"]
            await desk.wait_for(
                lambda r: (
                    r.topic.endswith("/state") and r.json()["mode"] in ("stopping", "stopped")
                ),
                "the belt stopping",
            )
            refused = [r for r in rig.events.records if r["kind"] == "remote_refused"]
            assert {r["id"] for r in refused} >= {"old", *cases}
    assert bridge.stats.commands_refused >= len(cases) + 3


async def test_the_acl_keeps_a_read_only_monitor_and_other_treadmills_out(
    broker: Broker, tmp_path: Path, short_dir: Path
) -> None:
    bridge = MqttBridge(bridge_config(tmp_path, broker))
    async with (
        Collector(broker, "desk", (f"{BASE}/#",)) as desk,
        Collector(broker, "viewer", (f"{BASE}/#",)) as viewer,
        Collector(broker, "tm-02", ("treadctl/clinic/tm-02/command",)) as other,
        running(tmp_path, short_dir, bridge) as rig,
    ):
        await desk.wait_for(is_on("telemetry", mode="running"), "the belt running")
        # QoS 1: each publish below is acknowledged by the broker (and, where the ACL
        # refuses it, dropped) before the next one is sent
        await viewer.publish(COMMAND, json.dumps({"id": "v1", "action": "stop"}))
        await other.publish(COMMAND, json.dumps({"id": "t2", "action": "stop"}))
        fake = json.dumps({"state": "offline", "reason": "impostor"})
        await other.publish(f"{BASE}/status", fake, retain=True)
        await desk.publish(COMMAND, json.dumps({"id": "d1", "action": "pause"}))
        got = await desk.wait_for(result_for("d1"), "the desk's pause answered")
        assert CommandResult.model_validate_json(got.payload).accepted
        ids = [r.json().get("id") for r in desk.on("command/result")]
        assert "v1" not in ids
        assert "t2" not in ids
        # the pause is decided at the loop's next cycle: wait for its record
        await rig.wait_event("command", command="pause", source="mqtt:remote")
        stops = [r for r in rig.events.records if r["kind"] == "command" and r["command"] == "stop"]
        assert stops == []  # neither refused stop reached the controller
        assert all(b"impostor" not in r.payload for r in desk.seen + viewer.seen)
    assert bridge.stats.commands == 1


async def test_remote_speed_waits_for_the_local_operators_confirmation(
    broker: Broker, tmp_path: Path, short_dir: Path
) -> None:
    machine = write_machine(tmp_path, speed=True)
    bridge = MqttBridge(bridge_config(tmp_path, broker))
    async with (
        Collector(broker, "desk", (f"{BASE}/#",)) as desk,
        running(tmp_path, short_dir, bridge, machine=machine) as rig,
    ):
        await desk.wait_for(is_on("telemetry", mode="running"), "the belt running")
        ask = {"action": "speed", "speed_kmh": 1.5, "origin": "desk"}
        await desk.publish(COMMAND, json.dumps({"id": "r1", **ask, "sent_at": time.time()}))
        res = CommandResult.model_validate_json(
            (await desk.wait_for(result_for("r1"), "r1 answered")).payload
        )
        assert not res.accepted
        assert "no local operator console attached" in res.text
        turn = {"action": "direction", "direction": "backward", "sent_at": time.time()}
        await desk.publish(COMMAND, json.dumps({"id": "r2", **turn}))
        res = CommandResult.model_validate_json(
            (await desk.wait_for(result_for("r2"), "r2 answered")).payload
        )
        assert not res.accepted
        assert "remote direction is not enabled" in res.text

        console = ControllerClient(short_dir / "ctl.sock", Role.OPERATOR, "test-console")
        await console.connect()
        try:
            await desk.publish(COMMAND, json.dumps({"id": "r3", **ask, "sent_at": time.time()}))
            res = CommandResult.model_validate_json(
                (await desk.wait_for(result_for("r3"), "r3 answered")).payload
            )
            assert res.accepted
            assert "waiting for the local operator's confirmation" in res.text
            held = await desk.wait_for(
                lambda r: r.topic.endswith("/telemetry") and r.json()["remote_pending"] == 1,
                "the held request in the telemetry",
            )
            assert Telemetry.model_validate_json(held.payload).target_kmh == 2.0  # not yet
            await rig.wait_until(
                lambda: console.status is not None and bool(console.status.remote_requests),
                "the request on the operator's console",
            )
            assert console.status is not None
            ref = console.status.remote_requests[0].ref
            reply = await console.command(Action.CONFIRM_REMOTE, ref=ref)
            assert reply.accepted, reply.text
            await desk.wait_for(is_on("telemetry", target_kmh=1.5), "the confirmed speed")
            rec = await rig.wait_event("command", command="set_speed")
            assert rec["source"] == "mqtt:desk (confirmed by test-console)"
        finally:
            await console.close()
