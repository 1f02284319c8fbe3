"""`treadctl sim`: the standalone HIL simulator process."""

from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from treadctl.config.loader import load_model
from treadctl.config.machine import (
    MachineConfig,
    ModbusDriveConfig,
    PositionInclineConfig,
    RelayInclineConfig,
    SimBelt,
    SimDriveConfig,
    SimInclineConfig,
)
from treadctl.drives.regmap import load_map
from treadctl.sim.incline import InclineSim, InclineSimMap
from treadctl.sim.scenario import Scenario
from treadctl.sim.server import BusFaults, SimServer
from treadctl.sim.world import BeltSim, Panel


@dataclass
class SimOptions:
    map_name: str
    kmh_per_hz: float
    tcp: tuple[str, int] | None
    rtu: str | None
    baudrate: int
    parity: str
    wire_timing: bool
    drive_id: int
    io_id: int
    control: tuple[str, int] | None
    scenario: Path | None
    machine: Path | None
    # A real drive's personality, "map" for the map-driven model; None: by the map's name.
    personality: str | None = None


def host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


# The simulated relay module's communication watchdog (a real module's "safe state on
# communication loss", set in the module): a dead controller never leaves a relay on.
RELAY_WATCHDOG_S = 0.5


def incline_for(machine: MachineConfig) -> tuple[InclineSim, InclineSimMap] | None:
    """The lift the machine file's Modbus incline actuator expects, at its addresses."""
    rng = machine.incline
    act = rng.actuator if rng is not None else None
    if rng is None or act is None or isinstance(act, SimInclineConfig):
        return None
    lift = InclineSim(rng.min_pct, rng.max_pct, rng.rate_pct_per_s, watchdog_s=RELAY_WATCHDOG_S)
    if isinstance(act, RelayInclineConfig):
        regs = InclineSimMap(
            device_id=act.device_id,
            up_coil=act.up_coil,
            down_coil=act.down_coil,
            position_register=act.position_register,
            counts_at_min=act.counts_at_min,
            counts_at_max=act.counts_at_max,
        )
    else:
        assert isinstance(act, PositionInclineConfig)
        regs = InclineSimMap(
            device_id=act.device_id,
            target_register=act.target_register,
            actual_register=act.actual_register,
            pct_per_count=act.pct_per_count,
        )
    return lift, regs


async def run_sim(opts: SimOptions) -> int:
    belt_cfg = SimBelt()
    kmh_per_hz = opts.kmh_per_hz
    incline: tuple[InclineSim, InclineSimMap] | None = None
    if opts.machine is not None:
        machine = load_model(opts.machine, MachineConfig)
        incline = incline_for(machine)
        if isinstance(machine.drive, SimDriveConfig):
            belt_cfg = machine.drive.belt
        elif isinstance(machine.drive, ModbusDriveConfig):
            kmh_per_hz = machine.drive.kmh_per_hz
    regmap = load_map(opts.map_name, "treadctl sim --map")
    scenario = Scenario.load(opts.scenario) if opts.scenario else None
    belt = BeltSim(belt_cfg, Panel())
    faults = BusFaults(wire_baud=opts.baudrate if opts.wire_timing else None)
    server = SimServer(
        regmap,
        belt,
        kmh_per_hz,
        opts.drive_id,
        opts.io_id,
        scenario,
        faults,
        opts.personality,
        lift=incline[0] if incline is not None else None,
        incline_map=incline[1] if incline is not None else None,
    )
    where = []
    if opts.tcp is not None:
        await server.start_tcp(*opts.tcp)
        where.append(f"modbus-tcp://{opts.tcp[0]}:{opts.tcp[1]}")
    if opts.rtu is not None:
        await server.start_rtu(opts.rtu, opts.baudrate, opts.parity)
        timing = " (wire timing emulated)" if opts.wire_timing else ""
        where.append(f"modbus-rtu:{opts.rtu}@{opts.baudrate}{opts.parity}1{timing}")
    control = None
    if opts.control is not None:
        control = await server.serve_control(*opts.control)
        where.append(f"control {opts.control[0]}:{opts.control[1]}")
    print(
        f"treadctl sim: drive {regmap.name} ({server.model.name}) #{opts.drive_id}, "
        f"inputs #{opts.io_id}, "
        + (f"incline #{incline[1].device_id}, " if incline is not None else "")
        + f"{kmh_per_hz} km/h per Hz on {', '.join(where)}",
        flush=True,
    )
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ticker = asyncio.create_task(server.tick_forever())
    await stop.wait()
    ticker.cancel()
    if control is not None:
        control.close()
    await server.stop()
    print("treadctl sim: stopped", file=sys.stderr, flush=True)
    return 0
