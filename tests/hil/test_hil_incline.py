"""HIL: the incline backends over real Modbus TCP and RTU (a socat pty pair) against the
simulator's lift on its own unit id, driven by the incline rules at the loop's rate on
the real clock, with each lift fault injected through the simulator's own verbs."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from treadctl.config.machine import (
    PositionInclineConfig,
    RelayInclineConfig,
    SerialLink,
    SimBelt,
    TcpLink,
)
from treadctl.drives.link import ModbusLink
from treadctl.drives.regmap import load_map
from treadctl.incline.base import InclineActuator, InclineCommand, InclineError
from treadctl.incline.modbus import PositionIncline, RelayIncline
from treadctl.safety.incline import (
    InclineConfig,
    InclineFault,
    InclineInputs,
    InclineOutputs,
    InclineRules,
    InclineState,
)
from treadctl.sim.incline import InclineSim, InclineSimMap
from treadctl.sim.server import BusFaults, SimServer
from treadctl.sim.world import BeltSim, Panel

PERIOD_S = 0.02
LINK_TIMEOUT_S = 0.25  # room for a slow answer on a loaded machine
INCLINE_ID = 5
# A quick lift so each phase settles in a second or two; the limits scale with it.
TRAVEL_PCT_PER_S = 4.0
CFG = InclineConfig(
    min_pct=0.0,
    max_pct=25.0,
    soft_min_pct=0.0,
    soft_max_pct=20.0,
    rate_pct_per_s=TRAVEL_PCT_PER_S,
    max_rate_pct_per_s=6.0,
    rate_window_s=0.5,
    stall_time_s=1.0,
    stall_change_pct=0.1,
    tolerance_pct=0.2,
    position_timeout_s=0.5,
)
REGS = InclineSimMap(
    device_id=INCLINE_ID,
    up_coil=8,
    down_coil=9,
    position_register=3,
    counts_at_min=400,
    counts_at_max=3600,
    target_register=10,
    actual_register=11,
    pct_per_count=0.01,
)


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[tuple[str, str]]:
    socat = shutil.which("socat")
    if socat is None:
        pytest.fail("socat is not installed: scripts/test installs it (apt-get install socat)")
    a, b = tmp_path / "ttyA", tmp_path / "ttyB"
    proc = subprocess.Popen(
        [socat, f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    end = time.monotonic() + 5
    while not (a.exists() and b.exists()):
        if time.monotonic() > end or proc.poll() is not None:
            proc.kill()
            pytest.fail("socat did not create the pty pair")
        time.sleep(0.01)
    yield str(a), str(b)
    proc.terminate()
    proc.wait(timeout=5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Rig:
    server: SimServer
    lift: InclineSim
    actuator: InclineActuator


@contextlib.asynccontextmanager
async def make_rig(transport: str, kind: str, pty: tuple[str, str]) -> AsyncIterator[Rig]:
    lift = InclineSim(0.0, 25.0, TRAVEL_PCT_PER_S, watchdog_s=0.5)
    server = SimServer(
        load_map("generic"),
        BeltSim(SimBelt(), Panel()),
        0.1,
        faults=BusFaults(),
        lift=lift,
        incline_map=REGS,
    )
    link_cfg: TcpLink | SerialLink
    if transport == "tcp":
        port = free_port()
        await server.start_tcp("127.0.0.1", port)
        link_cfg = TcpLink(kind="tcp", host="127.0.0.1", port=port, timeout_s=LINK_TIMEOUT_S)
    else:
        await server.start_rtu(pty[0], 115200)
        link_cfg = SerialLink(
            kind="rtu", port=pty[1], baudrate=115200, parity="N", timeout_s=LINK_TIMEOUT_S
        )
    ticker = asyncio.create_task(server.tick_forever())
    link = ModbusLink(link_cfg)
    link.users += 1
    actuator: InclineActuator
    if kind == "relay":
        cfg = RelayInclineConfig(
            kind="relay",
            device_id=INCLINE_ID,
            up_coil=REGS.up_coil,
            down_coil=REGS.down_coil,
            position_register=REGS.position_register,
            counts_at_min=REGS.counts_at_min,
            counts_at_max=REGS.counts_at_max,
        )
        actuator = RelayIncline(link, cfg, 0.0, 25.0)
    else:
        pcfg = PositionInclineConfig(
            kind="position",
            device_id=INCLINE_ID,
            target_register=REGS.target_register,
            actual_register=REGS.actual_register,
            pct_per_count=REGS.pct_per_count,
        )
        actuator = PositionIncline(link, pcfg)
    await actuator.open()
    try:
        yield Rig(server, lift, actuator)
    finally:
        with contextlib.suppress(InclineError):
            await actuator.write(InclineCommand.halt())
        await actuator.close()
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        await server.stop()


class MiniLoop:
    """The control loop's incline part: read, step the rules, write, every period."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.rules = InclineRules(CFG)
        self.state = InclineState()
        self.ok_at = time.monotonic()
        self.out: InclineOutputs | None = None
        self.both_on = 0

    async def run(self, seconds: float, target: float, running: bool = True) -> InclineOutputs:
        end = time.monotonic() + seconds
        deadline = time.monotonic()
        while time.monotonic() < end:
            now = time.monotonic()
            pct: float | None = None
            try:
                pct = await asyncio.wait_for(
                    self.rig.actuator.read_position_pct(), 0.8 * PERIOD_S * 10
                )
                self.ok_at = now
            except (InclineError, TimeoutError):
                pct = None
            self.state, self.out = self.rules.step(
                self.state,
                InclineInputs(pct, now - self.ok_at, target, running, not running, True),
                now,
            )
            self.both_on += self.out.up and self.out.down
            with contextlib.suppress(InclineError, TimeoutError):
                await asyncio.wait_for(
                    self.rig.actuator.write(
                        InclineCommand(self.out.up, self.out.down, self.out.setpoint_pct)
                    ),
                    PERIOD_S * 10,
                )
            deadline += PERIOD_S
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        assert self.out is not None
        return self.out


TRANSPORTS = ["tcp", "rtu"]
KINDS = ["relay", "position"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_reaches_each_step_over_the_wire(
    transport: str, kind: str, pty_pair: tuple[str, str]
) -> None:
    async with make_rig(transport, kind, pty_pair) as rig:
        loop = MiniLoop(rig)
        for target in (6.0, 2.5, 10.0):
            out = await loop.run(
                abs(target - rig.lift.position_pct) / TRAVEL_PCT_PER_S + 1.5, target
            )
            assert not out.faults, out
            assert abs(rig.lift.position_pct - target) <= CFG.tolerance_pct + 0.05
        # halted when the belt stops: the lift stays where it is
        where = rig.lift.position_pct
        await loop.run(1.0, 0.0, running=False)
        assert rig.lift.position_pct == pytest.approx(where, abs=0.05)
        assert loop.both_on == 0
        assert rig.lift.both_on_seen == 0


FAULTS = [
    ("incline_stall", 0.0, {InclineFault.STALL}),
    ("incline_sensor_stuck", 0.0, {InclineFault.STALL}),
    ("incline_noise", 1.5, {InclineFault.RUNAWAY, InclineFault.WRONG_WAY}),
    ("incline_runaway", 10.0, {InclineFault.RUNAWAY}),
    ("incline_silent", 0.0, {InclineFault.SENSOR_LOST}),
]


@pytest.mark.parametrize(("verb", "value", "faults"), FAULTS, ids=[f[0] for f in FAULTS])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_each_lift_fault_latches_over_the_wire(
    transport: str,
    kind: str,
    verb: str,
    value: float,
    faults: set[InclineFault],
    pty_pair: tuple[str, str],
) -> None:
    async with make_rig(transport, kind, pty_pair) as rig:
        loop = MiniLoop(rig)
        await loop.run(0.5, 15.0)  # climbing
        assert rig.lift.position_pct > 0.5
        assert rig.server.apply(verb, [str(value)]) == "ok"
        out = await loop.run(CFG.stall_time_s + CFG.position_timeout_s + 1.0, 15.0)
        assert out.faults
        assert out.faults[0] in faults, out
        assert not (out.up)
        assert not (out.down)
        rig.server.apply("incline_answer", [])
        rig.server.apply("incline_unstall", [])
        rig.server.apply("incline_sensor_free", [])
        rig.server.apply("incline_noise", ["0"])
        rig.server.apply("incline_runaway", ["0"])
        where = rig.lift.position_pct
        out = await loop.run(1.0, 15.0)  # latched: nothing moves without a reset
        assert out.faults
        assert rig.lift.position_pct == pytest.approx(where, abs=0.1)
        assert rig.lift.both_on_seen == 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_cut_bus_halts_the_lift_by_its_module_watchdog(
    transport: str, kind: str, pty_pair: tuple[str, str]
) -> None:
    """The controller cannot switch a relay off over a dead line: the module's own
    watchdog does, and the rules latch the lost sensor."""
    async with make_rig(transport, kind, pty_pair) as rig:
        loop = MiniLoop(rig)
        await loop.run(0.5, 15.0)
        rig.server.apply("silent", ["on"])
        out = await loop.run(1.5, 15.0)
        assert InclineFault.SENSOR_LOST in out.faults
        assert not (rig.lift.up)
        assert not (rig.lift.down)
        assert rig.lift.target_pct is None
        assert rig.lift.watchdog_trips >= 1
