"""TLS to the broker: the bridge verifies the broker's certificate against ca_file."""

from __future__ import annotations

from pathlib import Path

from mqtt_broker import Broker, make_tls
from mqtt_rig import Collector, bridge_config, is_on, running

from treadctl.mqtt.bridge import MqttBridge

BASE = "treadctl/clinic/tm-01"


async def test_telemetry_over_tls(tmp_path: Path, short_dir: Path) -> None:
    tls = make_tls(tmp_path)
    with Broker(tmp_path / "broker", tls=tls) as broker:
        cfg = bridge_config(tmp_path, broker, broker_extra=f'[broker.tls]\nca_file = "{tls.ca}"\n')
        assert cfg.broker.tls is not None
        bridge = MqttBridge(cfg)
        async with (
            Collector(broker, "desk", (f"{BASE}/#",), tls_ca=tls.ca) as sub,
            running(tmp_path, short_dir, bridge) as rig,
        ):
            await sub.wait_for(is_on("status", state="online"), "online over TLS")
            await sub.wait_for(is_on("telemetry", mode="running"), "telemetry over TLS")
            rec = await rig.wait_event("broker_connected")
            assert rec["tls"] is True


async def test_a_broker_with_an_unknown_certificate_is_refused(
    tmp_path: Path, short_dir: Path
) -> None:
    tls = make_tls(tmp_path / "real")
    other = make_tls(tmp_path / "other")  # a CA that did not sign the broker's certificate
    with Broker(tmp_path / "broker", tls=tls) as broker:
        extra = f'[broker.tls]\nca_file = "{other.ca}"\n'
        bridge = MqttBridge(bridge_config(tmp_path, broker, broker_extra=extra))
        async with running(tmp_path, short_dir, bridge) as rig:
            rec = await rig.wait_event("broker_unreachable")
            assert "certificate verify failed" in rec["reason"], rec
            await rig.wait_until(lambda: bridge.stats.connections == 0, "never connected")
            mode = rig.controller.api.loop.snapshot.outputs  # type: ignore[union-attr]
            assert mode is not None
