"""Bus faults through real Modbus: late and corrupt answers, the safety-input module, and
reconnecting only when the controller allows it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from rigs import Rig, make_rig  # type: ignore[import-not-found]

from treadctl.config.machine import ModbusInputsConfig
from treadctl.drives.base import DriveError
from treadctl.drives.link import LinkError
from treadctl.inputs.base import InputError
from treadctl.inputs.modbus import ModbusSafetyInputs


@pytest.fixture(params=["tcp", "rtu"])
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    pty = request.getfixturevalue("pty_pair") if request.param == "rtu" else None
    async for r in make_rig(str(request.param), "generic", pty):
        yield r


async def test_an_answer_later_than_the_timeout_is_an_error(rig: Rig) -> None:
    assert rig.server is not None
    await rig.drive.connect(5.0)  # a long drive watchdog: this test is about the link
    rig.server.apply("late", ["0.6"])  # the link's timeout is LINK_TIMEOUT_S (0.25 s)
    started = time.monotonic()
    with pytest.raises(DriveError):
        await rig.drive.read_status()
    assert time.monotonic() - started < 0.5
    rig.server.apply("late", ["0"])
    await asyncio.sleep(0.7)  # let the late answer arrive and be discarded
    status = await rig.drive.read_status()  # and the next exchange is clean again
    assert status.fault_code == 0


async def test_a_corrupt_answer_is_an_error_never_a_value(rig: Rig) -> None:
    assert rig.server is not None
    await rig.drive.connect(0.5)
    rig.server.apply("corrupt", ["on"])
    with pytest.raises(DriveError):
        await rig.drive.read_status()
    rig.server.apply("corrupt", ["off"])


async def test_the_safety_input_module_over_modbus(rig: Rig) -> None:
    assert rig.link is not None
    inputs = ModbusSafetyInputs(rig.link, ModbusInputsConfig(kind="modbus"))
    rig.link.users += 1
    await inputs.open()
    io = await inputs.read()
    assert (io.estop_chain_ok, io.key_present, io.rail_left, io.rail_right) == (
        True,
        True,
        True,
        True,
    )
    rig.belt.panel.estop_chain_ok = False
    rig.belt.panel.rail_right = False
    io = await inputs.read()
    assert not io.estop_chain_ok
    assert io.key_present
    assert not io.rail_right
    rig.belt.panel.io_fails = True
    with pytest.raises(InputError):  # a failed read: unhealthy, never the last value
        await inputs.read()


async def test_inputs_at_other_addresses() -> None:
    cfg = ModbusInputsConfig(
        kind="modbus", estop_chain_input=3, key_input=2, rail_left_input=1, rail_right_input=0
    )
    async for r in make_rig("tcp", "generic"):
        assert r.link is not None
        inputs = ModbusSafetyInputs(r.link, cfg)
        r.link.users += 1
        await inputs.open()
        r.belt.panel.rail_right = False  # simulator input 3 is the right rail
        io = await inputs.read()
        assert not io.estop_chain_ok  # ... which this module wires as the e-stop chain
        assert io.rail_left


async def test_a_lost_tcp_link_reconnects_only_when_allowed() -> None:
    async for r in make_rig("tcp", "generic"):
        assert r.server is not None
        assert r.link is not None
        await r.drive.connect(5.0)  # a long drive watchdog: this test is about the link
        r.link.client.close()  # the connection drops
        r.link.RECONNECT_INTERVAL_S = 0.05
        r.drive.allow_reconnect(False)  # the belt is commanded to move: no reconnect
        for _ in range(5):
            with pytest.raises(DriveError, match="not connected"):
                await r.drive.read_status()
            await asyncio.sleep(0.1)
        assert not r.link.client.connected
        r.drive.allow_reconnect(True)  # stopped: reconnect in the background
        with pytest.raises(DriveError, match="not connected"):
            await r.drive.read_status()  # fails at once, never waits inside the cycle
        end = time.monotonic() + 3
        while not r.link.client.connected:
            assert time.monotonic() < end, "never reconnected"
            await asyncio.sleep(0.05)
        status = await r.drive.read_status()
        assert status.fault_code == 0


async def test_link_error_names_the_link() -> None:
    async for r in make_rig("tcp", "generic"):
        assert r.link is not None
        await r.link.open()
        with pytest.raises(LinkError) as info:
            await r.link.read_registers(0x7000, 1, 1)  # not a register of this map
        assert info.value.source.startswith("modbus-tcp://127.0.0.1:")
        assert "exception" in info.value.reason
