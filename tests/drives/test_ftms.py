"""The FTMS treadmill drive against an emulated FTMS treadmill on the virtual BLE link
(real bumble host stacks, HCI, link layer, ATT, GATT): connect reads the ranges; start,
target and stop reach the belt; the safety key and silence are faults, never stale values.
"""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from treadctl.ble.ftms_emulator import EmulatedTreadmill
from treadctl.drives.base import DriveCommand, DriveError
from treadctl.drives.ftms import (
    FrameError,
    FtmsDrive,
    FtmsFault,
    Range,
    decode_range,
    decode_treadmill_data,
    encode_treadmill_data,
)
from treadctl.heartrate.emulator import VirtualRadio
from treadctl.safety.types import Direction

pytestmark = pytest.mark.usefixtures("frozen_heap")
WAIT_S = 30.0
TREADMILL = "F7:00:00:00:00:01"


def test_treadmill_data_decodes_speed_and_incline_past_other_fields() -> None:
    # flags: speed (bit 0 clear), total distance (bit 2), incline (bit 3), heart rate (bit 8)
    frame = struct.pack("<HH", (1 << 2) | (1 << 3) | (1 << 8), 345) + b"\x10\x00\x00"
    frame += struct.pack("<hh", 25, 0) + b"\x5a"
    data = decode_treadmill_data(frame)
    assert data.speed_kmh == pytest.approx(3.45)
    assert data.incline_pct == pytest.approx(2.5)
    assert decode_treadmill_data(encode_treadmill_data(1.23, None)).speed_kmh == pytest.approx(1.23)
    assert decode_treadmill_data(struct.pack("<H", 1)).speed_kmh is None  # "more data"


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x00",
        b"\x00\x00\x01",
        struct.pack("<HH", 1 << 3, 100) + b"\x00",
        b"\x00\x00\x10\x00\xff",
    ],
)
def test_malformed_treadmill_data_is_refused(frame: bytes) -> None:
    with pytest.raises(FrameError):
        decode_treadmill_data(frame)


def test_ranges_decode_and_nonsense_ranges_are_refused() -> None:
    r = decode_range(struct.pack("<HHH", 50, 1200, 10), False, 0.01)
    assert (r.minimum, r.maximum, r.increment) == pytest.approx((0.5, 12.0, 0.1))
    for bad in (struct.pack("<HHH", 1200, 50, 10), struct.pack("<HHH", 50, 1200, 0), b"\x00"):
        with pytest.raises(FrameError):
            decode_range(bad, False, 0.01)


class Rig:
    def __init__(self) -> None:
        self.radio = VirtualRadio()
        self.treadmill = EmulatedTreadmill(self.radio, TREADMILL, speed_range=Range(0.5, 10.0, 0.1))
        self.drive = FtmsDrive(
            self.radio.central("C0:7E:AD:C7:00:03"), TREADMILL,
            connect_timeout_s=5.0, answer_timeout_s=2.0, stale_after_s=0.5,
        )  # fmt: skip


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    r = Rig()
    await r.treadmill.start()
    try:
        yield r
    finally:
        await r.drive.close()
        await r.treadmill.stop()


async def until(cond: object, what: str) -> None:
    try:
        async with asyncio.timeout(WAIT_S):
            while not cond():  # type: ignore[operator]
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"not within {WAIT_S:g} s: {what}") from None


async def speed(drive: FtmsDrive) -> float | None:
    try:
        return (await drive.read_status()).actual_speed_kmh
    except DriveError:
        return None


async def test_connect_reads_ranges_and_reports_no_watchdog(rig: Rig) -> None:
    setting = await rig.drive.connect(0.5)
    assert not setting.present
    assert rig.drive.speed_range == Range(0.5, 10.0, 0.1)
    assert rig.drive.incline_range is not None
    assert rig.drive.incline_range.maximum == pytest.approx(15.0)
    assert rig.treadmill.controlled  # Request Control went first
    assert rig.treadmill.requests[0] == b"\x00"
    status = await rig.drive.read_status()
    assert status.ready
    assert status.actual_speed_kmh == 0.0
    assert status.direction is Direction.FORWARD


async def test_start_target_and_stop_reach_the_belt(rig: Rig) -> None:
    d, t = rig.drive, rig.treadmill
    await d.connect(0.5)
    await d.write_command(DriveCommand(True, Direction.FORWARD, 2.04))
    await until(lambda: t.running and t.target_kmh == pytest.approx(2.0), "started at 2.0")
    await until(lambda: abs(t.speed_kmh - 2.0) < 0.05, "belt at 2 km/h")
    got = await speed(d)
    assert got is not None
    assert abs(got - 2.0) < 0.3
    await d.write_command(DriveCommand(True, Direction.FORWARD, 3.0))
    await until(lambda: t.target_kmh == pytest.approx(3.0), "target 3.0")
    # below the range: the belt stands (held at the minimum, a stop's ramp down never
    # reached standstill), and a start waits until the command reaches the minimum
    await d.write_command(DriveCommand(True, Direction.FORWARD, 0.1))
    await until(lambda: not t.running, "stopped below the range's minimum")
    assert b"\x08\x01" in t.requests
    await d.write_command(DriveCommand(True, Direction.FORWARD, 0.3))
    await asyncio.sleep(0.5)
    assert not t.running
    await d.write_command(DriveCommand(True, Direction.FORWARD, 0.5))
    await until(lambda: t.running and t.target_kmh == pytest.approx(0.5), "started at 0.5")
    await d.write_command(DriveCommand(False, Direction.FORWARD, 0.0))
    await until(lambda: not t.running, "stopped")


async def test_a_reverse_run_is_refused_and_sent_as_a_stop(rig: Rig) -> None:
    d, t = rig.drive, rig.treadmill
    await d.connect(0.5)
    await d.write_command(DriveCommand(True, Direction.FORWARD, 1.0))
    await until(lambda: t.running, "running")
    with pytest.raises(DriveError, match="reverse command refused"):
        await d.write_command(DriveCommand(True, Direction.BACKWARD, 1.0))
    await until(lambda: not t.running, "the refused reverse went out as a stop")


async def test_the_safety_key_is_a_drive_fault_until_reset(rig: Rig) -> None:
    d, t = rig.drive, rig.treadmill
    await d.connect(0.5)
    await d.write_command(DriveCommand(True, Direction.FORWARD, 1.5))
    await until(lambda: t.running, "running")
    await t.pull_safety_key()
    async with asyncio.timeout(WAIT_S):
        while (status := await d.read_status()).fault_code == 0:
            await asyncio.sleep(0.02)
    assert status.fault_code == FtmsFault.SAFETY_KEY
    assert not status.ready
    assert d.describe_fault(status.fault_code) == "stopped by the treadmill's safety key"
    await d.write_command(DriveCommand(False, Direction.FORWARD, 0.0))
    await d.reset_fault()
    assert (await d.read_status()).fault_code == 0


async def test_silence_is_a_fault_never_a_stale_speed(rig: Rig) -> None:
    d, t = rig.drive, rig.treadmill
    await d.connect(0.5)
    await d.write_command(DriveCommand(True, Direction.FORWARD, 1.5))
    await until(lambda: t.running, "running")
    t.go_silent()
    async with asyncio.timeout(WAIT_S):
        while await speed(d) is not None:
            await asyncio.sleep(0.02)
    with pytest.raises(DriveError, match="no Treadmill Data for"):
        await d.read_status()
    await d.write_command(DriveCommand(True, Direction.FORWARD, 2.5))  # unanswered
    async with asyncio.timeout(WAIT_S):
        while d._error is None:  # the writer latches the unanswered request
            await asyncio.sleep(0.05)
    with pytest.raises(DriveError, match="no answer in 2 s"):
        await d.write_command(DriveCommand(True, Direction.FORWARD, 2.5))
    assert t.running  # no watchdog: the belt runs on until the key is pulled


@settings(max_examples=3000)
@given(st.binary(max_size=40))
def test_any_bytes_decode_or_are_refused(frame: bytes) -> None:
    """A hostile peripheral: every frame either decodes to finite values or is refused."""
    try:
        data = decode_treadmill_data(frame)
    except FrameError:
        return
    for value in (data.speed_kmh, data.incline_pct):
        assert value is None or math.isfinite(value)
    if data.speed_kmh is not None:
        assert 0.0 <= data.speed_kmh <= 655.35
