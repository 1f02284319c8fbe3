"""The Last Will: a bridge whose process dies (SIGKILL, no goodbye) is reported offline by
the broker, on the retained status topic."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from mqtt_broker import Broker
from mqtt_rig import DEADLINE_S, Collector, is_on, write_mqtt

from treadctl.mqtt.payloads import Availability

HERE = Path(__file__).resolve().parent
BASE = "treadctl/clinic/tm-01"


async def test_a_killed_bridge_goes_offline_by_its_last_will(
    broker: Broker, tmp_path: Path, short_dir: Path
) -> None:
    mqtt = write_mqtt(tmp_path, broker)
    work = tmp_path / "child"
    work.mkdir()
    async with Collector(broker, "desk", (f"{BASE}/#",)) as sub:
        child = subprocess.Popen(
            [sys.executable, str(HERE / "bridge_child.py"), str(mqtt), str(work), str(short_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            online = await sub.wait_for(is_on("status", state="online"), "online")
            await sub.wait_for(lambda r: r.topic.endswith("/telemetry"), "telemetry")
        except AssertionError:
            child.kill()
            out = child.communicate(timeout=30)[0].decode(errors="replace")
            raise AssertionError(f"the child never came online; it said:\n{out}") from None
        n_seen = len(sub.seen)
        child.kill()  # SIGKILL: no DISCONNECT, no goodbye
        await asyncio.to_thread(child.wait, DEADLINE_S)
        assert child.stdout is not None
        child.stdout.close()
        off = await sub.wait_for(is_on("status", state="offline"), "the Last Will")
        assert sub.seen.index(off) >= n_seen
        will = Availability.model_validate_json(off.payload)
        assert will.will
        assert will.seq == 0
        assert will.reason == "connection lost (Last Will)"
        assert will.sent_at >= Availability.model_validate_json(online.payload).sent_at - 5
    # and it is retained: a monitor that starts now sees the treadmill offline
    async with Collector(broker, "viewer", (f"{BASE}/status",)) as late:
        got = await late.wait_for(lambda r: r.topic.endswith("/status"), "retained status")
        assert got.retain
        assert Availability.model_validate_json(got.payload).will
