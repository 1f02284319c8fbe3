"""`treadctl monitor` against a real broker: a real controller with its bridge (tm-01) and
a fake treadmill that publishes retained status and state by hand (tm-02)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from mqtt_broker import Broker
from mqtt_rig import DEADLINE_S, bridge_config, running
from textual.pilot import Pilot
from textual.widgets import DataTable

from treadctl.mqtt.bridge import MqttBridge
from treadctl.mqtt.monitor import MonitorApp, MonitorSettings
from treadctl.mqtt.options import add_monitor_arguments, monitor_settings
from treadctl.mqtt.payloads import Availability, State
from treadctl.mqtt.topics import Topics


def fake_state(name: str, **changes: Any) -> State:
    now = time.time()
    fields: dict[str, Any] = {
        "site": "clinic",
        "treadmill": name,
        "seq": 1,
        "sent_at": now,
        "sampled_at": now,
        "mode": "faulted",
        "direction": "backward",
        "target_kmh": 0.0,
        "setpoint_kmh": 0.0,
        "actual_kmh": 0.0,
        "cap_kmh": 0.0,
        "at_standstill": True,
        "incline_pct": 0.0,
        "heart_rate_bpm": 88.0,
        "cue_spm": None,
        "segment": {"index": 2, "label": "backward bout", "kind": "backward", "target_kmh": 1.0},
        "segment_remaining_s": 60.0,
        "session_elapsed_s": 120.0,
        "session_remaining_s": 300.0,
        "interlock": "fault",
        "reasons": ["estop_chain_open"],
        "latched": True,
        "alarms": [
            {"name": "estop", "label": "E-stop chain", "level": "fault", "text": "OPEN: release"}
        ],
        "operator_present": None,
        "remote_pending": 0,
        "ended": False,
        "dropped_telemetry": 0,
        "dropped_events": 0,
        "detail": "e-stop pressed",
        "warnings": [],
    }
    fields.update(changes)
    return State.model_validate(fields)


def availability(name: str, state: str) -> str:
    return Availability(
        site="clinic", treadmill=name, seq=1, sent_at=time.time(), state=state, reason="by hand"
    ).model_dump_json()


async def until(pilot: Pilot[None], cond: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        await pilot.pause(0.05)


async def test_the_monitor_shows_every_treadmill_and_one_in_detail(
    broker: Broker, tmp_path: Path, short_dir: Path
) -> None:
    t2 = Topics("clinic", "tm-02")
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, username="tm-02", password=broker.users["tm-02"]
    ) as fake:
        await fake.publish(t2.status, availability("tm-02", "online"), qos=1, retain=True)
        await fake.publish(t2.state, fake_state("tm-02").model_dump_json(), qos=1, retain=True)

        bridge = MqttBridge(bridge_config(tmp_path, broker))
        settings = MonitorSettings(
            "127.0.0.1", broker.port, "clinic", "desk", broker.users["desk"], commands=True
        )
        app = MonitorApp(settings, refresh_s=0.1)
        async with (
            running(tmp_path, short_dir, bridge) as rig,
            app.run_test(size=(160, 45)) as pilot,
        ):
            table = app.query_one("#fleet", DataTable)
            await until(pilot, lambda: table.row_count == 2, "two treadmills in the table")
            await until(
                pilot,
                lambda: table.get_row("tm-01")[1:3] == ["online", "running"],
                "tm-01 online and running",
            )
            assert "connected" in app.link_text
            row = table.get_row("tm-02")
            assert row[0] == "tm-02"
            assert row[2:4] == ["FAULTED", "backward"]
            assert row[7:9] == ["FAULT", "E-stop chain"]
            await until(pilot, lambda: "clinic/tm-01: online" in app.detail_text, "tm-01 detail")
            assert "running, forward" in app.detail_text
            assert "segment 1 " in app.detail_text  # numbered from 1, like everywhere

            await pilot.press("down")
            await until(pilot, lambda: "clinic/tm-02" in app.detail_text, "tm-02 in detail")
            assert "FAULT E-stop chain: OPEN: release" in app.detail_text
            assert "heart rate 88 bpm" in app.detail_text
            assert "segment 3 backward bout (backward, 1 km/h)" in app.detail_text

            # the fake treadmill says goodbye: offline
            await fake.publish(t2.status, availability("tm-02", "offline"), qos=1, retain=True)
            await until(pilot, lambda: table.get_row("tm-02")[1] == "offline", "tm-02 offline")

            # stop tm-01 from the monitor (the desk user may write command topics)
            await pilot.press("up")
            await until(pilot, lambda: "clinic/tm-01" in app.detail_text, "tm-01 again")
            await pilot.press("s")
            await until(pilot, lambda: "stop: accepted" in app.detail_text, "stop answered")
            await rig.wait_event("command", command="stop", source="mqtt:monitor-desk")
            await until(
                pilot, lambda: table.get_row("tm-01")[2] in ("stopping", "stopped"), "stopping"
            )
        await fake.publish(t2.status, b"", qos=1, retain=True)
        await fake.publish(t2.state, b"", qos=1, retain=True)


async def test_a_monitor_without_commands_sends_none(
    broker: Broker, tmp_path: Path, short_dir: Path
) -> None:
    bridge = MqttBridge(bridge_config(tmp_path, broker))
    settings = MonitorSettings("127.0.0.1", broker.port, "clinic", "viewer", "viewer-secret")
    app = MonitorApp(settings, refresh_s=0.1)
    async with running(tmp_path, short_dir, bridge) as rig, app.run_test(size=(160, 45)) as pilot:
        table = app.query_one("#fleet", DataTable)
        await until(pilot, lambda: table.row_count == 1, "tm-01 in the table")
        await pilot.press("s")
        await pilot.press("p")
        await until(
            pilot, lambda: table.get_row("tm-01")[2] == "running", "tm-01 running regardless"
        )
    assert bridge.stats.commands == 0
    assert not [r for r in rig.events.records if r.get("source", "").startswith("mqtt:")]


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_monitor_arguments(p)
    return p.parse_args(list(argv))


def test_monitor_options(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("secret\n")
    s = monitor_settings(
        parse(
            "--broker",
            "mq:1884",
            "--site",
            "clinic",
            "--username",
            "desk",
            "--password-file",
            str(pw),
            "--commands",
        )
    )
    assert (s.host, s.port, s.site, s.password, s.commands, s.tls) == (
        "mq",
        1884,
        "clinic",
        "secret",
        True,
        False,
    )
    assert monitor_settings(parse("--broker", "mq", "--site", "c")).port == 1883
    for argv, why in [
        (("--broker", "mq:x", "--site", "c"), "give HOST:PORT"),
        (("--broker", "mq:1", "--site", "c/d"), "one topic level"),
        (("--broker", "mq:1", "--site", "c", "--password-file", str(pw)), "needs --username"),
        (("--broker", "mq:1", "--site", "c", "--tls-ca", str(tmp_path / "no")), "no such file"),
        (("--broker", "mq:1", "--site", "c", "--tls-cert", str(pw)), "go together"),
    ]:
        with pytest.raises(ValueError, match=why):
            monitor_settings(parse(*argv))
