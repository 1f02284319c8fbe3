"""A bridge the broker refuses (wrong password): an event, retries, and a belt that runs on."""

from __future__ import annotations

from pathlib import Path

from mqtt_broker import Broker
from mqtt_rig import bridge_config, running

from treadctl.mqtt.bridge import MqttBridge


async def test_a_wrong_password_is_an_event_not_a_fault(
    broker: Broker, tmp_path: Path, short_dir: Path
) -> None:
    cfg = bridge_config(tmp_path, broker)
    assert cfg.broker.password_file is not None
    Path(cfg.broker.password_file).write_text("not-the-password\n")
    bridge = MqttBridge(cfg)
    async with running(tmp_path, short_dir, bridge) as rig:
        rec = await rig.wait_event("broker_unreachable")
        assert "not authori" in rec["reason"].lower() or "bad user" in rec["reason"].lower(), rec
        await rig.wait_event("transition", new="running")
        # one event per outage, not one per attempt
        assert [r["kind"] for r in rig.events.records].count("broker_unreachable") == 1
        # the password file is read at every attempt: fixing it lets the bridge in
        Path(cfg.broker.password_file).write_text(broker.users["tm-01"] + "\n")
        await rig.wait_event("broker_connected")
    assert bridge.stats.connections == 1
