"""The simulator's one-shot late answer (`late_once SECONDS [UNIT [FUNCTION]]`): exactly
the next matching answer is late, every other answer on time, over TCP and RTU."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from rigs import FAST_BELT, KMH_PER_HZ, Rig, make_rig  # type: ignore[import-not-found]

from treadctl.config.machine import ModbusInputsConfig
from treadctl.drives.base import DriveCommand
from treadctl.drives.regmap import load_map
from treadctl.inputs.modbus import ModbusSafetyInputs
from treadctl.safety.types import Direction
from treadctl.sim.server import BusFaults, SimServer
from treadctl.sim.world import BeltSim, Panel


@pytest.fixture(params=["tcp", "rtu"])
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    pty = request.getfixturevalue("pty_pair") if request.param == "rtu" else None
    async for r in make_rig(str(request.param), "generic", pty):
        yield r


def test_only_the_matching_answer_takes_the_delay_and_only_once() -> None:
    f = BusFaults(late_once_s=0.05, late_once_unit=1, late_once_function=3)
    assert f.take_late_once(2, 3) == 0.0  # another unit
    assert f.take_late_once(1, 16) == 0.0  # another function
    assert f.take_late_once(1, 3) == 0.05
    assert f.take_late_once(1, 3) == 0.0  # back to normal
    assert f.late_once_served == 1
    any_answer = BusFaults(late_once_s=0.02)
    assert any_answer.take_late_once(7, 2) == 0.02


async def test_the_next_drive_read_is_late_then_every_answer_is_on_time(rig: Rig) -> None:
    server = rig.server
    assert server is not None
    await rig.drive.connect(5.0)  # a long drive watchdog: this test is about the link
    assert server.apply("late_once", ["0.05", "2"]) == "ok"  # the input module's answer
    started = time.monotonic()
    await rig.drive.read_status()  # the drive's is not delayed
    assert time.monotonic() - started < 0.04
    assert json.loads(server.apply("status", []))["late_once_armed"]

    assert server.apply("late_once", ["0.05", "1", "3"]) == "ok"
    with pytest.raises(TimeoutError):  # the loop's guard gives the late read up
        async with asyncio.timeout(0.016):
            await rig.drive.read_status()
    status = json.loads(server.apply("status", []))
    assert (status["late_once_armed"], status["late_once_served"]) == (False, 1)
    await asyncio.sleep(0.1)  # the late answer comes and is discarded
    for _ in range(3):
        started = time.monotonic()
        await rig.drive.read_status()
        assert time.monotonic() - started < 0.04


@pytest.mark.parametrize(
    "args", [[], ["-1"], ["nan"], ["11"], ["0.05", "248"], ["0.05", "1", "0"], ["a"]]
)
def test_a_bad_late_once_is_refused_in_words(args: list[str]) -> None:
    server = SimServer(load_map("generic"), BeltSim(FAST_BELT, Panel()), KMH_PER_HZ)
    assert server.apply("late_once", args).startswith("error late_once: ")
    assert server.faults.late_once_s == 0.0
    assert server.apply("late_once", ["0.05"]) == "ok"
    assert server.apply("late_once", ["0"]) == "ok"  # disarmed
    assert server.faults.late_once_s == 0.0


@pytest.mark.parametrize("stop_given_up", [False, True], ids=["stop answered", "stop given up"])
async def test_a_stop_sent_behind_a_late_answer_leaves_the_line_clean(
    rig: Rig, stop_given_up: bool
) -> None:
    """At rest or latched, the loop writes a stop every cycle, and a stop goes out on a
    line not trusted since a request was given up. A drive answers in order: the late
    answer first, then the stop's. Both exactly as expected: the line is clean at once,
    and the next safety-input read goes out (before, the late answer, coming after the
    stop's exchange had begun or had been given up, counted as bytes nobody asked for: the
    line stayed untrusted for another timeout, and at rest one 50 ms late answer latched
    'safety inputs watchdog expired')."""
    server, link = rig.server, rig.link
    assert server is not None
    assert link is not None
    await rig.drive.connect(5.0)
    inputs = ModbusSafetyInputs(link, ModbusInputsConfig(kind="modbus"))
    link.users += 1
    assert (await inputs.read()).estop_chain_ok
    server.apply("late_once", ["0.05", "2", "2"])
    with pytest.raises(TimeoutError):  # the loop's guard gives the safety-input read up
        async with asyncio.timeout(0.016):
            await inputs.read()
    stop = DriveCommand(False, Direction.FORWARD, 0.0)
    if stop_given_up:  # queued behind the late answer: given up at the guard too
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.016):
                await rig.drive.write_command(stop)
        await asyncio.sleep(0.05)  # both answers come meanwhile
    else:
        await rig.drive.write_command(stop)  # the late answer, then the stop's
    async with asyncio.timeout(0.05):
        assert (await inputs.read()).estop_chain_ok  # sent: the line is trusted again
    assert link.bad_answers == 1  # the request given up; nothing else was held against it


async def test_a_stop_like_one_still_awaited_waits_for_its_answer_instead_of_going_out(
    rig: Rig,
) -> None:
    """The drive's status read answered 50 ms late, the stop after it given up at the guard
    (queued behind it), and the next cycle's stop is the same request. Sent again, its
    answer could not be told from the first one's (RTU: the same bytes), and given up in
    turn it would leave the line untrusted for another timeout. It is not sent: the first
    stop's answer, when it comes exactly, answers it, and the line is clean at once."""
    server, link = rig.server, rig.link
    assert server is not None
    assert link is not None
    await rig.drive.connect(5.0)
    inputs = ModbusSafetyInputs(link, ModbusInputsConfig(kind="modbus"))
    link.users += 1
    stop = DriveCommand(False, Direction.FORWARD, 0.0)
    server.apply("late_once", ["0.05", "1", "3"])
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.016):
            await rig.drive.read_status()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.016):
            await rig.drive.write_command(stop)
    link.sent_frames = []
    async with asyncio.timeout(0.05):
        await rig.drive.write_command(stop)  # answered by the first stop's answer
    assert link.sent_frames == []
    async with asyncio.timeout(0.02):
        assert (await inputs.read()).key_present  # the line is trusted again at once
    assert link.bad_answers == 1
    link.sent_frames = None
