"""A controller with its bridge on a real broker: telemetry, retained status, events,
the session's summary and the clean goodbye."""

from __future__ import annotations

import time
from pathlib import Path

from mqtt_broker import Broker
from mqtt_rig import Collector, bridge_config, is_on, running

from treadctl.mqtt.bridge import MqttBridge
from treadctl.mqtt.payloads import (
    SCHEMA_VERSION,
    Availability,
    EventMsg,
    State,
    Summary,
    Telemetry,
)

BASE = "treadctl/clinic/tm-01"


async def test_telemetry_arrives_with_the_documented_schema(
    broker: Broker, tmp_path: Path, short_dir: Path
) -> None:
    bridge = MqttBridge(bridge_config(tmp_path, broker))
    async with (
        Collector(broker, "desk", (f"{BASE}/#",)) as sub,
        running(tmp_path, short_dir, bridge) as rig,
    ):
        moving = await sub.wait_for(
            lambda r: (
                r.topic == f"{BASE}/telemetry"
                and (r.json().get("actual_kmh") or 0) > 0.5
                and r.json().get("mode") == "running"
            ),
            "telemetry of a running belt",
        )
        await rig.wait_event("broker_connected", port=broker.port)
        tel = list(sub.on("telemetry"))
        msgs = [Telemetry.model_validate_json(r.payload) for r in tel]
        for r, m in zip(tel, msgs, strict=True):
            assert m.schema_version == SCHEMA_VERSION
            assert (m.site, m.treadmill) == ("clinic", "tm-01")
            assert not r.retain
            assert m.sampled_at <= m.sent_at <= r.at + 1.0  # one host, one clock
            assert r.at - m.sent_at < 10.0  # gross: a loopback delivery
        seqs = [m.seq for m in msgs]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == len(seqs)
        m = Telemetry.model_validate_json(moving.payload)
        assert m.direction == "forward"
        assert m.segment is not None
        assert m.segment.kind == "forward"
        assert m.target_kmh == 2.0
        assert m.interlock == "ok"
        assert m.reasons == []
        assert m.alarms == []
        assert m.dropped_telemetry == 0
        assert m.heart_rate_bpm is None
        assert m.incline_pct == 0.0

        # the state is retained and was published when the belt started
        states = [State.model_validate_json(r.payload) for r in sub.on("state")]
        assert "running" in [s.mode for s in states]
        assert len(states) < len(msgs)  # on change only, not with every telemetry

        # events: the session's start and the interlock's transitions, as records
        ev = await sub.wait_for(is_on("events", event="session_start"), "session_start event")
        start = EventMsg.model_validate_json(ev.payload)
        assert start.fields["profile"] == "mqtt test walk"
        assert start.fields["patient"] == "(withheld)"  # publish_patient defaults to false
        assert start.text is not None
        assert "DEMO-001" not in start.text

        # a monitor that comes later gets the retained status and state at once
        async with Collector(broker, "viewer", (f"{BASE}/status", f"{BASE}/state")) as late:
            online = await late.wait_for(lambda r: r.topic.endswith("/status"), "status")
            state = await late.wait_for(lambda r: r.topic.endswith("/state"), "state")
            assert online.retain
            assert state.retain
            status = Availability.model_validate_json(online.payload)
            assert status.state == "online"
            assert not status.will
            assert status.session is not None
            assert status.session.machine == "Simulated treadmill"
            assert status.session.patient is None
            assert State.model_validate_json(state.payload).mode == "running"
        # 10 Hz by default: over a few seconds, about ten a second (gross bounds only)
        first, last = msgs[0], msgs[-1]
        span = last.sampled_at - first.sampled_at
        if span > 2.0:
            assert 3.0 < (last.seq - first.seq) / span < 15.0, (last.seq - first.seq) / span
        summary = await rig.quit()

    print(f"telemetry: {len(msgs)} messages; session {summary.outcome}")


async def test_session_end_publishes_summary_and_offline(
    broker: Broker, tmp_path: Path, short_dir: Path
) -> None:
    cfg = bridge_config(tmp_path, broker, extra="publish_patient = true\n")
    bridge = MqttBridge(cfg)
    async with Collector(broker, "desk", (f"{BASE}/#",)) as sub:
        async with running(tmp_path, short_dir, bridge, seconds=3) as rig:
            await sub.wait_for(is_on("status", state="online"), "online")
            summary = await rig.task  # the 3 s profile ends by itself
        assert summary.outcome == "completed"
        got = await sub.wait_for(lambda r: r.topic.endswith("/summary"), "summary")
        s = Summary.model_validate_json(got.payload)
        assert s.outcome == "completed"
        assert any("DEMO-001" in line for line in s.lines)  # publish_patient = true
        off = await sub.wait_for(is_on("status", state="offline"), "offline")
        status = Availability.model_validate_json(off.payload)
        assert not status.will  # a clean goodbye, not the Last Will
        assert status.reason == "session ended: completed"
        assert status.session is not None
        assert status.session.patient == "DEMO-001"
        end = await sub.wait_for(is_on("events", event="session_end"), "session_end event")
        assert EventMsg.model_validate_json(end.payload).fields["outcome"] == "completed"
        final = [State.model_validate_json(r.payload) for r in sub.on("state")][-1]
        assert final.ended
        assert final.mode != "running"
        # the retained ones stay for whoever asks later
        async with Collector(broker, "viewer", (f"{BASE}/summary", f"{BASE}/status")) as late:
            # (a live subscriber gets retain=False; one that subscribes later, True)
            await late.wait_for(lambda r: r.topic.endswith("/summary") and r.retain, "summary")
            off = await late.wait_for(is_on("status", state="offline"), "retained offline")
            assert off.retain
    assert bridge.stats.events_published > 0
    assert not bridge.stats.connected
    assert bridge.dropped_events == 0
    assert bridge.dropped_telemetry == 0
    t = time.time()
    assert t - s.sent_at < 60
