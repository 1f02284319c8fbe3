"""The five defects found in the shipped maps (../shared/reference/drive-maps-verified.md),
each against the strict simulator over real Modbus TCP and RTU: the check passes with the
corrected map and fails with the map as it shipped (kept in tests/drives/old_maps).

Each `check_*` states what a real drive needs; the old-map cases run the same check and
require it to fail, so the simulator is shown to catch the defect, not to hide it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from rigs import Rig, make_rig  # type: ignore[import-not-found]

from treadctl.drives.base import DriveCommand, DriveError
from treadctl.safety.types import Direction, DriveStatus

FWD, BWD = Direction.FORWARD, Direction.BACKWARD
PERIOD_S = 0.02
OLD_MAPS = Path(__file__).parent / "old_maps"

Check = Callable[[Rig], Awaitable[None]]


async def hold(rig: Rig, command: DriveCommand, seconds: float) -> DriveStatus:
    """Write the command every loop period for a while, as the controller does."""
    end = time.monotonic() + seconds
    while True:
        await rig.drive.write_command(command)
        status = await rig.drive.read_status()
        if time.monotonic() >= end:
            return status
        await asyncio.sleep(PERIOD_S)


async def check_yaskawa_connects_and_resets(rig: Rig) -> None:
    """A1000 refuses function 06: the watchdog set-up and the fault reset go as 0x10, and
    the H5 values take effect after the Enter command."""
    setting = await rig.drive.connect(0.5)
    assert setting.timeout_s == pytest.approx(0.5)
    assert rig.belt.watchdog_s == pytest.approx(0.5)  # in effect in the drive, not just read
    rig.belt.trip(1)
    assert (await rig.drive.read_status()).fault_code == 1
    await rig.drive.reset_fault()
    assert (await rig.drive.read_status()).fault_code == 0


async def check_ready_at_a_normal_stop(rig: Rig) -> None:
    """ABB and V20: RDY_RUN is 0 under OFF1, the stop word; the drive is still ready."""
    await rig.drive.connect(0.5)
    status = await hold(rig, DriveCommand(True, FWD, 2.0), 0.3)
    assert status.ready
    status = await hold(rig, DriveCommand(False, FWD, 0.0), 0.4)
    assert status.actual_speed_kmh == pytest.approx(0.0, abs=0.01)
    assert status.ready, "a drive at a normal stop reads 'not ready': no start, no reset"


async def check_abb_reads_the_true_speed(rig: Rig) -> None:
    """ABB: the output frequency in its own units (0103, 0.1 Hz), not ACT1 as 20000 = 50 Hz."""
    await rig.drive.connect(0.5)
    status = await hold(rig, DriveCommand(True, FWD, 2.0), 0.4)
    assert rig.belt.speed_kmh == pytest.approx(2.0, abs=0.05)
    assert status.actual_speed_kmh == pytest.approx(2.0, abs=0.05), (
        f"belt at 2.0 km/h reads {status.actual_speed_kmh:.3f} km/h: overspeed check blind"
    )
    status = await hold(rig, DriveCommand(False, FWD, 0.0), 0.4)
    status = await hold(rig, DriveCommand(True, BWD, 1.2), 0.5)
    assert (status.direction, status.actual_speed_kmh) == (BWD, pytest.approx(1.2, abs=0.05))


async def check_v20_direction(rig: Rig) -> None:
    """V20: ZSW bit 14 means forward; running forward must read forward, reverse reverse."""
    await rig.drive.connect(0.5)
    status = await hold(rig, DriveCommand(True, FWD, 2.0), 0.4)
    assert status.actual_speed_kmh > 1.5
    assert status.direction is FWD, "forward running reads as reverse: direction mismatch"
    await hold(rig, DriveCommand(False, FWD, 0.0), 0.4)
    status = await hold(rig, DriveCommand(True, BWD, 1.2), 0.5)
    assert status.actual_speed_kmh > 1.0
    assert status.direction is BWD


async def check_delta_codes(rig: Rig) -> None:
    """Delta 0x2100: fault in the low byte, warning in the high byte. A comm time-out with
    P09-02 = 1 is the warning CE10 (58) and a ramp to stop; 54 is CE1, not a time-out."""
    assert rig.server is not None
    await rig.drive.connect(0.3)
    await hold(rig, DriveCommand(True, FWD, 2.0), 0.3)
    rig.server.apply("silent", ["on"])  # the controller's telegrams no longer arrive
    await asyncio.sleep(0.8)
    rig.belt.advance(time.monotonic())
    assert rig.belt.speed_kmh == 0.0  # ramped to stop on the drive's own watchdog
    rig.server.apply("silent", ["off"])
    status = await rig.drive.read_status()
    assert status.warning_code == 58, f"warning {status.warning_code}, fault {status.fault_code}"
    assert status.fault_code == 0
    assert rig.drive.describe_warning(58).startswith("CE10")
    rig.belt.trip(54)
    status = await rig.drive.read_status()
    assert status.fault_code == 54
    assert rig.drive.describe_fault(54).startswith("CE1:"), rig.drive.describe_fault(54)


# defect: (map, check, how the shipped map fails it)
DEFECTS: dict[str, tuple[str, Check, str]] = {
    "yaskawa-function-06": (
        "yaskawa-a1000",
        check_yaskawa_connects_and_resets,
        "exception code 1 (illegal function)",
    ),
    "abb-ready-under-off1": ("abb-acs355", check_ready_at_a_normal_stop, "reads 'not ready'"),
    "v20-ready-under-off1": ("siemens-v20", check_ready_at_a_normal_stop, "reads 'not ready'"),
    "abb-output-scale": ("abb-acs355", check_abb_reads_the_true_speed, "reads 0.050 km/h"),
    "v20-bit-14-forward": ("siemens-v20", check_v20_direction, "forward running reads as reverse"),
    "delta-fault-warning-bytes": (
        "delta-ms300",
        check_delta_codes,
        "warning 0, fault 14848",  # 58 << 8: the warning byte read as a fault code
    ),
}


@pytest.fixture(params=["tcp", "rtu"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _rig(transport: str, map_ref: str, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    pty = request.getfixturevalue("pty_pair") if transport == "rtu" else None
    async for r in make_rig(transport, map_ref, pty):
        yield r


@pytest.mark.parametrize("defect", DEFECTS)
async def test_the_corrected_map_works_on_the_strict_drive(
    defect: str, transport: str, request: pytest.FixtureRequest
) -> None:
    name, check, _ = DEFECTS[defect]
    async with contextlib.aclosing(_rig(transport, name, request)) as rigs:
        async for rig in rigs:
            await check(rig)


@pytest.mark.parametrize("defect", DEFECTS)
async def test_the_map_as_shipped_fails_on_the_strict_drive(
    defect: str, transport: str, request: pytest.FixtureRequest
) -> None:
    name, check, symptom = DEFECTS[defect]
    old_map = str(OLD_MAPS / f"{name}.toml")
    async with contextlib.aclosing(_rig(transport, old_map, request)) as rigs:
        async for rig in rigs:
            with pytest.raises((AssertionError, DriveError)) as failed:
                await check(rig)
            assert symptom in str(failed.value)
