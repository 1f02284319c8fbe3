"""An emulated FTMS treadmill: a bumble peripheral with the Fitness Machine Service.

It runs on the virtual radio beside the emulated strap, so the drive under test goes
through a real host stack, HCI, link layer, L2CAP, ATT and GATT. Its belt follows the
target speed with its own ramp, it notifies Treadmill Data every `data_period_s`, answers
the control point with indications, and can be made to misbehave: the safety key pulled
(the belt stops, status 0x03), or silence (no more notifications, no answers, the belt
running on: what a treadmill without a comm-loss watchdog does).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from bumble import data_types, gatt
from bumble.core import AdvertisingData
from bumble.device import Connection

from treadctl.drives.ftms import (
    CONTROL_POINT_UUID,
    FTMS_UUID,
    INCLINE_RANGE_UUID,
    INCLINE_UNIT_PCT,
    SPEED_RANGE_UUID,
    SPEED_UNIT_KMH,
    STATUS_UUID,
    TREADMILL_DATA_UUID,
    Op,
    Range,
    Result,
    StatusOp,
    StopParam,
    encode_range,
    encode_treadmill_data,
)
from treadctl.heartrate.emulator import ADVERTISING_INTERVAL_MS, VirtualRadio, _bounded

DATA_PERIOD_S = 0.1


class EmulatedTreadmill:
    def __init__(
        self,
        radio: VirtualRadio,
        address: str,
        name: str = "FTMS Treadmill",
        speed_range: Range = Range(0.5, 12.0, 0.1),  # noqa: B008 - frozen
        incline_range: Range = Range(0.0, 15.0, 0.5),  # noqa: B008 - frozen
        ramp_kmh_per_s: float = 2.0,
    ) -> None:
        self.address = address
        self.speed_range = speed_range
        self.ramp_kmh_per_s = ramp_kmh_per_s
        self.device = radio.device(name, address)
        self.data = gatt.Characteristic(
            TREADMILL_DATA_UUID, gatt.Characteristic.Properties.NOTIFY,
            gatt.Characteristic.Permissions(0), b"",
        )  # fmt: skip
        self.status = gatt.Characteristic(
            STATUS_UUID, gatt.Characteristic.Properties.NOTIFY,
            gatt.Characteristic.Permissions(0), b"",
        )  # fmt: skip
        self.control: gatt.Characteristic[bytes] = gatt.Characteristic(
            CONTROL_POINT_UUID,
            gatt.Characteristic.Properties.WRITE | gatt.Characteristic.Properties.INDICATE,
            gatt.Characteristic.Permissions.WRITEABLE,
            gatt.CharacteristicValue[bytes](write=self._on_write),
        )
        readable = gatt.Characteristic.Permissions.READABLE
        speed = gatt.Characteristic(
            SPEED_RANGE_UUID, gatt.Characteristic.Properties.READ, readable,
            encode_range(speed_range, False, SPEED_UNIT_KMH),
        )  # fmt: skip
        incline = gatt.Characteristic(
            INCLINE_RANGE_UUID, gatt.Characteristic.Properties.READ, readable,
            encode_range(incline_range, True, INCLINE_UNIT_PCT),
        )  # fmt: skip
        self.device.add_service(
            gatt.Service(FTMS_UUID, [self.data, self.status, self.control, speed, incline])
        )
        self.device.advertising_data = bytes(
            AdvertisingData(
                [
                    data_types.CompleteLocalName(name),
                    data_types.IncompleteListOf16BitServiceUUIDs([FTMS_UUID]),
                ]
            )
        )
        self.running = False
        self.target_kmh = 0.0
        self.speed_kmh = 0.0
        self.incline_pct = 0.0
        self.controlled = False
        self.silent = False
        self.requests: list[bytes] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.device.power_on()
        await self.device.start_advertising(
            advertising_interval_min=ADVERTISING_INTERVAL_MS,
            advertising_interval_max=ADVERTISING_INTERVAL_MS,
        )
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self) -> None:
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        for task in list(self._tasks):
            task.cancel()
        await _bounded(self.device.stop_advertising())
        for connection in list(self.device.connections.values()):
            await _bounded(connection.disconnect())
        await _bounded(self.device.power_off())

    async def pull_safety_key(self) -> None:
        """The walker's key leaves the console: the belt stops at once, status 0x03."""
        self.running = False
        self.target_kmh = 0.0
        self.speed_kmh = 0.0
        await self._notify(self.status, bytes([StatusOp.STOPPED_BY_SAFETY_KEY]))

    def go_silent(self) -> None:
        """No notification, no answer from now on; the belt keeps its speed."""
        self.silent = True

    async def _tick(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(DATA_PERIOD_S)
            now = time.monotonic()
            dt, last = now - last, now
            goal = self.target_kmh if self.running else 0.0
            step = self.ramp_kmh_per_s * dt
            self.speed_kmh += max(-step, min(step, goal - self.speed_kmh))
            await self._notify(self.data, encode_treadmill_data(self.speed_kmh, self.incline_pct))

    async def _notify(self, characteristic: gatt.Characteristic[bytes], value: bytes) -> None:
        if self.silent or not self.device.connections:
            return
        with contextlib.suppress(Exception):
            await self.device.notify_subscribers(characteristic, value, force=True)

    def _on_write(self, connection: Connection, value: bytes) -> None:
        frame = bytes(value)
        self.requests.append(frame)
        if self.silent:
            return
        task = asyncio.get_running_loop().create_task(self._answer(connection, frame))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _handle(self, frame: bytes) -> Result:
        if not frame:
            return Result.INVALID_PARAMETER
        op = frame[0]
        if op == Op.REQUEST_CONTROL:
            self.controlled = True
            return Result.SUCCESS
        if not self.controlled:
            return Result.CONTROL_NOT_PERMITTED
        if op == Op.SET_TARGET_SPEED and len(frame) == 3:
            speed = int.from_bytes(frame[1:3], "little") * SPEED_UNIT_KMH
            r = self.speed_range
            if not r.minimum - 1e-9 <= speed <= r.maximum + 1e-9:
                return Result.INVALID_PARAMETER
            self.target_kmh = speed
            return Result.SUCCESS
        if op == Op.START_OR_RESUME and len(frame) == 1:
            self.running = True
            return Result.SUCCESS
        if op == Op.STOP_OR_PAUSE and len(frame) == 2 and frame[1] in set(StopParam):
            self.running = False
            return Result.SUCCESS
        if op == Op.RESET and len(frame) == 1:
            self.running, self.target_kmh, self.controlled = False, 0.0, False
            return Result.SUCCESS
        return Result.NOT_SUPPORTED if op not in set(Op) else Result.INVALID_PARAMETER

    async def _answer(self, connection: Connection, frame: bytes) -> None:
        result = self._handle(frame)
        op = frame[0] if frame else 0
        with contextlib.suppress(Exception):
            await self.device.indicate_subscriber(
                connection, self.control, bytes([Op.RESPONSE, op, result]), force=True
            )
