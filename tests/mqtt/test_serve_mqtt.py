"""`treadctl serve --mqtt FILE` as a process: online, telemetry, a remote stop, and on
SIGTERM the session's summary and a clean `offline` (not the Last Will)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mqtt_broker import Broker
from mqtt_rig import DEADLINE_S, PATIENT, SIM_MACHINE, Collector, is_on, write_mqtt, write_profile

from treadctl.mqtt.payloads import Availability, CommandResult, Summary

BASE = "treadctl/clinic/tm-01"


def serve_has_mqtt() -> bool:
    out = subprocess.run(
        [sys.executable, "-m", "treadctl.cli", "serve", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    return "--mqtt" in out.stdout


async def test_serve_with_mqtt(broker: Broker, tmp_path: Path, short_dir: Path) -> None:
    if not serve_has_mqtt():
        pytest.skip(
            "NOT WIRED: `treadctl serve` has no --mqtt option yet (the lead adds it: "
            "MqttBridge(load_mqtt_config(path)) in Controller(bridges=[...]))"
        )
    mqtt = write_mqtt(tmp_path, broker)
    argv = [
        sys.executable, "-m", "treadctl.cli", "serve",
        "--machine", str(SIM_MACHINE),
        "--profile", str(write_profile(tmp_path)),
        "--patient", str(PATIENT),
        "--events", str(tmp_path / "events.jsonl"),
        "--db", str(tmp_path / "sessions.db"),
        "--socket", str(short_dir / "ctl.sock"),
        "--operator", "auto",
        "--mqtt", str(mqtt),
    ]  # fmt: skip
    async with Collector(broker, "desk", (f"{BASE}/#",)) as desk:
        proc = subprocess.Popen(
            argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            try:
                await desk.wait_for(is_on("status", state="online"), "online")
                await desk.wait_for(is_on("telemetry", mode="running"), "the belt running")
            except AssertionError:
                proc.kill()
                out = proc.communicate(timeout=30)[0]
                raise AssertionError(f"serve --mqtt never came online; it said:\n{out}") from None
            body = {"id": "stop-1", "action": "stop", "origin": "desk"}
            await desk.publish(f"{BASE}/command", json.dumps(body))
            got = await desk.wait_for(is_on("command/result", id="stop-1"), "stop answered")
            assert CommandResult.model_validate_json(got.payload).accepted
            await desk.wait_for(
                lambda r: (
                    r.topic.endswith("/state") and r.json()["mode"] in ("stopping", "stopped")
                ),
                "the belt stopping",
            )

            proc.send_signal(signal.SIGTERM)
            out, _ = await asyncio.to_thread(proc.communicate, None, DEADLINE_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)
        assert proc.returncode in (0, 4), out
        summary = await desk.wait_for(lambda r: r.topic.endswith("/summary"), "the summary")
        assert Summary.model_validate_json(summary.payload).lines
        off = await desk.wait_for(is_on("status", state="offline"), "offline")
        status = Availability.model_validate_json(off.payload)
        assert not status.will
        assert status.reason.startswith("session ended")
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    kinds = [e["kind"] for e in events]
    assert "broker_connected" in kinds
    assert any(e["kind"] == "command" and e["source"] == "mqtt:desk" for e in events)
