"""A controller with its MQTT bridge in a process of its own, for the Last Will test.

    python bridge_child.py MQTT_TOML WORKDIR SOCKET_DIR

Runs the simulator session until killed; prints "ready" once the bridge is connected.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from mqtt_rig import running

from treadctl.config.mqtt import load_mqtt_config
from treadctl.mqtt.bridge import MqttBridge


async def main(mqtt: Path, work: Path, sock: Path) -> None:
    bridge = MqttBridge(load_mqtt_config(mqtt))
    async with running(work, sock, bridge) as rig:
        await rig.wait_until(lambda: bridge.stats.connected, "bridge connected")
        print("ready", flush=True)
        await rig.task


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
