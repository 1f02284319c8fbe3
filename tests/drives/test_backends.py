"""One suite, every drive backend: the in-process simulated drive, and the Modbus backend
talking real Modbus TCP on loopback and real Modbus RTU bytes over a socat pty pair to the
HIL simulator. Every register map round-trips run / stop / reverse / fault reset."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from rigs import Rig, make_rig  # type: ignore[import-not-found]

from treadctl.drives.base import DriveCommand, DriveError
from treadctl.drives.regmap import BUILTIN_MAPS
from treadctl.safety.types import Direction, DriveStatus
from treadctl.sim.world import COMM_LOSS_FAULT_CODE

FWD, BWD = Direction.FORWARD, Direction.BACKWARD
PERIOD_S = 0.02


@pytest.fixture(params=["sim", "tcp", "rtu"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def rig(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    map_name = getattr(request, "param", "generic")
    pty = request.getfixturevalue("pty_pair") if backend == "rtu" else None
    async for r in make_rig(backend, map_name, pty):
        yield r


async def hold(rig: Rig, command: DriveCommand, seconds: float) -> DriveStatus:
    """Write the command every loop period for a while, as the controller does."""
    end = time.monotonic() + seconds
    while True:
        await rig.drive.write_command(command)
        status = await rig.drive.read_status()
        if time.monotonic() >= end:
            return status
        await asyncio.sleep(PERIOD_S)


@pytest.mark.parametrize("rig", BUILTIN_MAPS, indirect=True)
async def test_run_stop_reverse_fault_reset_round_trip(rig: Rig) -> None:
    setting = await rig.drive.connect(0.5)
    assert setting.timeout_s == pytest.approx(0.5)
    assert setting.present
    assert rig.belt.watchdog_s == pytest.approx(0.5)  # armed through the drive's own registers

    status = await rig.drive.read_status()
    assert (status.ready, status.fault_code, status.actual_speed_kmh) == (True, 0, 0.0)

    status = await hold(rig, DriveCommand(True, FWD, 2.0), 0.3)
    assert status.direction is FWD
    assert status.actual_speed_kmh == pytest.approx(2.0, abs=0.02)

    status = await hold(rig, DriveCommand(False, FWD, 0.0), 0.3)
    assert status.actual_speed_kmh == pytest.approx(0.0, abs=0.01)

    status = await hold(rig, DriveCommand(True, BWD, 1.2), 0.4)
    assert status.direction is BWD
    assert status.actual_speed_kmh == pytest.approx(1.2, abs=0.02)

    status = await hold(rig, DriveCommand(False, BWD, 0.0, quick_stop=True), 0.3)
    assert status.actual_speed_kmh == pytest.approx(0.0, abs=0.01)

    rig.belt.trip(7)
    status = await rig.drive.read_status()
    assert status.fault_code == 7
    assert not status.ready
    await rig.drive.reset_fault()
    status = await rig.drive.read_status()
    assert status.fault_code == 0
    assert status.ready


async def test_the_drives_own_watchdog_stops_the_belt_when_the_controller_goes_quiet(
    rig: Rig,
) -> None:
    await rig.drive.connect(0.3)
    await hold(rig, DriveCommand(True, FWD, 2.0), 0.3)
    quiet_from = time.monotonic()
    while rig.belt.fault_code == 0 and time.monotonic() - quiet_from < 2.0:
        await asyncio.sleep(0.01)
        rig.belt.advance(time.monotonic())
    # the in-process drive's own code, or the one the generic map says its drive reports
    expected = COMM_LOSS_FAULT_CODE if rig.server is None else 9
    assert rig.belt.fault_code == expected
    assert 0.3 <= time.monotonic() - quiet_from <= 0.5
    await asyncio.sleep(0.3)
    rig.belt.advance(time.monotonic())
    assert rig.belt.speed_kmh == 0.0


async def test_a_drive_that_stops_answering_is_an_error_not_a_stale_value(rig: Rig) -> None:
    await rig.drive.connect(0.5)
    await hold(rig, DriveCommand(True, FWD, 2.0), 0.2)
    rig.belt.silent = True
    started = time.monotonic()
    with pytest.raises(DriveError):
        await rig.drive.read_status()
    assert time.monotonic() - started < 0.5  # a few loop periods, not pymodbus' 12 s
    with pytest.raises(DriveError):
        await rig.drive.write_command(DriveCommand(False, FWD, 0.0))
