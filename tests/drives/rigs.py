"""Drive backends with the simulated world behind them, for the backend suite."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

from treadctl.clock import MonotonicClock
from treadctl.config.machine import SerialLink, SimBelt, TcpLink
from treadctl.drives.base import Drive
from treadctl.drives.link import ModbusLink
from treadctl.drives.modbus import ModbusDrive
from treadctl.drives.regmap import load_map
from treadctl.sim.backends import SimDrive
from treadctl.sim.server import BusFaults, SimServer
from treadctl.sim.world import BeltSim, Panel

KMH_PER_HZ = 0.1
# Functional tests on a possibly busy machine: room for a slow answer, still far below
# pymodbus' default 3 s x 3 retries.
LINK_TIMEOUT_S = 0.25
# A quick belt so each phase of a test settles in a fraction of a second.
FAST_BELT = SimBelt(drive_ramp_kmh_per_s=40.0, belt_time_constant_s=0.02, person_load_kmh=0.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Rig:
    """A drive backend and the simulated world behind it."""

    drive: Drive
    belt: BeltSim
    server: SimServer | None
    link: ModbusLink | None


async def make_rig(
    backend: str, map_name: str, pty: tuple[str, str] | None = None, belt: SimBelt = FAST_BELT
) -> AsyncIterator[Rig]:
    world = BeltSim(belt, Panel())
    if backend == "sim":
        yield Rig(SimDrive(world, MonotonicClock()), world, None, None)
        return
    regmap = load_map(map_name)
    server = SimServer(regmap, world, KMH_PER_HZ, faults=BusFaults())
    link_cfg: TcpLink | SerialLink
    if backend == "tcp":
        port = free_port()
        await server.start_tcp("127.0.0.1", port)
        link_cfg = TcpLink(kind="tcp", host="127.0.0.1", port=port, timeout_s=LINK_TIMEOUT_S)
    else:
        assert pty is not None
        await server.start_rtu(pty[0], 115200)
        # 8N1: a pty refuses parity settings (EINVAL); real RS-485 adapters take 8E1.
        link_cfg = SerialLink(
            kind="rtu", port=pty[1], baudrate=115200, parity="N", timeout_s=LINK_TIMEOUT_S
        )
    ticker = asyncio.create_task(server.tick_forever())
    link = ModbusLink(link_cfg)
    link.users += 1
    drive = ModbusDrive(link, regmap, 1, KMH_PER_HZ)
    try:
        yield Rig(drive, world, server, link)
    finally:
        await drive.close()
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        await server.stop()
