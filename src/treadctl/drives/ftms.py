"""A Bluetooth FTMS treadmill (Fitness Machine Service 0x1826) as a drive, bumble central.

What the standard gives: start, stop, pause and a target speed through the Fitness
Machine Control Point (0x2AD9, written with response, answered by an indication), the
belt's actual speed and incline in Treadmill Data (0x2ACD, notified), the supported speed
and incline ranges (0x2AD4, 0x2AD5, read at connect), and the machine's status
(0x2ADA, notified: stopped by the safety key, stopped at the console, control lost).

What it does not give, and what follows:
- no reverse: the belt runs forward only; `reverse_allowed` is False (a turn-round
  machine, `backward_walking = "walker_turns"`);
- no comm-loss watchdog: if treadctl dies or the radio fails the belt runs on until the
  treadmill's own safety key is pulled. connect() reports the watchdog absent, the loop
  logs the warning on every start, and the checklist asks for the key on every start.

The loop never awaits the radio: write_command() only records what is wanted and a writer
task sends the changes (start/stop at once, the target when it moved by the machine's
increment); read_status() answers from the latest notification and raises when it is
older than `stale_after_s` (never a stale value), when the link is down, or when a write
failed or went unanswered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from bumble.core import UUID
from bumble.device import Advertisement, Connection, Device, Peer

from treadctl.drives.base import Drive, DriveCommand, DriveError, WatchdogSetting
from treadctl.drives.ble_link import HciLink
from treadctl.safety.types import Direction, DriveStatus

log = logging.getLogger(__name__)

FTMS_UUID = UUID.from_16_bits(0x1826, "Fitness Machine")
TREADMILL_DATA_UUID = UUID.from_16_bits(0x2ACD, "Treadmill Data")
SPEED_RANGE_UUID = UUID.from_16_bits(0x2AD4, "Supported Speed Range")
INCLINE_RANGE_UUID = UUID.from_16_bits(0x2AD5, "Supported Inclination Range")
CONTROL_POINT_UUID = UUID.from_16_bits(0x2AD9, "Fitness Machine Control Point")
STATUS_UUID = UUID.from_16_bits(0x2ADA, "Fitness Machine Status")

SPEED_UNIT_KMH = 0.01  # Treadmill Data, target speed and speed range
INCLINE_UNIT_PCT = 0.1  # Treadmill Data and inclination range


class FrameError(ValueError):
    """A malformed FTMS frame: the value is refused, never guessed."""


class Op(IntEnum):
    """Control Point op codes (FTMS 1.0, 4.16.1)."""

    REQUEST_CONTROL = 0x00
    RESET = 0x01
    SET_TARGET_SPEED = 0x02
    START_OR_RESUME = 0x07
    STOP_OR_PAUSE = 0x08
    RESPONSE = 0x80


class StopParam(IntEnum):
    STOP = 0x01
    PAUSE = 0x02


class Result(IntEnum):
    SUCCESS = 0x01
    NOT_SUPPORTED = 0x02
    INVALID_PARAMETER = 0x03
    FAILED = 0x04
    CONTROL_NOT_PERMITTED = 0x05


class StatusOp(IntEnum):
    """Fitness Machine Status op codes (FTMS 1.0, 4.17)."""

    RESET = 0x01
    STOPPED_OR_PAUSED_BY_USER = 0x02
    STOPPED_BY_SAFETY_KEY = 0x03
    STARTED_OR_RESUMED_BY_USER = 0x04
    TARGET_SPEED_CHANGED = 0x05
    CONTROL_PERMISSION_LOST = 0xFF


class FtmsFault(IntEnum):
    """treadctl's fault codes for what the treadmill reported (DriveStatus.fault_code)."""

    SAFETY_KEY = 1
    STOPPED_AT_CONSOLE = 2
    CONTROL_LOST = 3
    MACHINE_RESET = 4


FAULT_TEXT = {
    FtmsFault.SAFETY_KEY: "stopped by the treadmill's safety key",
    FtmsFault.STOPPED_AT_CONSOLE: "stopped or paused at the treadmill's own console",
    FtmsFault.CONTROL_LOST: "the treadmill withdrew treadctl's control permission",
    FtmsFault.MACHINE_RESET: "the treadmill reset itself",
}

# Treadmill Data flags (FTMS 1.0, 4.9.1): the size of each optional field, in flag order.
# Bit 0 is inverted: 0 means the instantaneous speed is present.
_FIELDS = (
    (1, 2),  # average speed
    (2, 3),  # total distance (uint24)
    (3, 4),  # inclination and ramp angle
    (4, 4),  # elevation gain +/-
    (5, 1),  # instantaneous pace
    (6, 1),  # average pace
    (7, 5),  # expended energy
    (8, 1),  # heart rate
    (9, 1),  # metabolic equivalent
    (10, 2),  # elapsed time
    (11, 2),  # remaining time
    (12, 4),  # force on belt and power output
)
INCLINE_FLAG = 1 << 3
MORE_DATA_FLAG = 1 << 0
INCLINE_NOT_AVAILABLE = 0x7FFF


@dataclass(frozen=True, slots=True)
class TreadmillData:
    speed_kmh: float | None  # None: this frame carries no speed (a "more data" part)
    incline_pct: float | None


@dataclass(frozen=True, slots=True)
class Range:
    minimum: float
    maximum: float
    increment: float


def decode_treadmill_data(frame: bytes) -> TreadmillData:
    if len(frame) < 2:
        raise FrameError(f"{len(frame)} bytes: no flags")
    (flags,) = struct.unpack_from("<H", frame)
    pos = 2
    speed: float | None = None
    if not flags & MORE_DATA_FLAG:
        if len(frame) < pos + 2:
            raise FrameError("speed flagged but missing")
        speed = struct.unpack_from("<H", frame, pos)[0] * SPEED_UNIT_KMH
        pos += 2
    incline: float | None = None
    for bit, size in _FIELDS:
        if not flags & (1 << bit):
            continue
        if len(frame) < pos + size:
            raise FrameError(f"field of flag bit {bit} cut short")
        if bit == 3:
            raw = struct.unpack_from("<h", frame, pos)[0]
            incline = None if raw == INCLINE_NOT_AVAILABLE else raw * INCLINE_UNIT_PCT
        pos += size
    if pos != len(frame):
        raise FrameError(f"{len(frame) - pos} bytes past the flagged fields")
    return TreadmillData(speed, incline)


def encode_treadmill_data(speed_kmh: float, incline_pct: float | None = None) -> bytes:
    flags = 0 if incline_pct is None else INCLINE_FLAG
    out = struct.pack("<HH", flags, round(speed_kmh / SPEED_UNIT_KMH))
    if incline_pct is not None:
        out += struct.pack("<hh", round(incline_pct / INCLINE_UNIT_PCT), 0)
    return out


def decode_range(frame: bytes, signed: bool, unit: float) -> Range:
    if len(frame) != 6:
        raise FrameError(f"a range is 6 bytes, got {len(frame)}")
    lo, hi, step = struct.unpack("<hhH" if signed else "<HHH", frame)
    if lo > hi or step == 0:
        raise FrameError(f"not a range: min {lo}, max {hi}, increment {step}")
    return Range(lo * unit, hi * unit, step * unit)


def encode_range(r: Range, signed: bool, unit: float) -> bytes:
    return struct.pack(
        "<hhH" if signed else "<HHH",
        round(r.minimum / unit),
        round(r.maximum / unit),
        round(r.increment / unit),
    )


def set_speed_frame(speed_kmh: float) -> bytes:
    return struct.pack("<BH", Op.SET_TARGET_SPEED, round(speed_kmh / SPEED_UNIT_KMH))


@dataclass(frozen=True, slots=True)
class Wanted:
    run: bool
    speed_kmh: float


class FtmsDrive(Drive):
    reverse_allowed = False  # FTMS has no reverse: the walker turns round

    def __init__(
        self,
        link: HciLink,
        address: str,
        connect_timeout_s: float,
        answer_timeout_s: float,
        stale_after_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = f"ftms {address}"
        self.link = link
        self.address = address
        self.connect_timeout_s = connect_timeout_s
        self.answer_timeout_s = answer_timeout_s
        self.stale_after_s = stale_after_s
        self._clock = clock
        self.speed_range: Range | None = None
        self.incline_range: Range | None = None
        self._device: Device | None = None
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._control: object | None = None  # the control point's proxy
        self._speed_kmh: float | None = None
        self.incline_pct: float | None = None
        self._data_at = 0.0
        self._fault = 0
        self._error: str | None = None  # a failed or unanswered write: fails every call
        self._answers: asyncio.Queue[bytes] = asyncio.Queue(maxsize=8)
        self._wanted = Wanted(False, 0.0)
        self._sent: Wanted | None = None
        self._kick = asyncio.Event()
        self._first_data = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    # -- Drive -------------------------------------------------------------------------

    async def connect(self, comm_loss_timeout_s: float) -> WatchdogSetting:  # noqa: ARG002
        """No watchdog to arm (FTMS has none): reported absent, the loop warns."""
        try:
            async with asyncio.timeout(self.connect_timeout_s * 3):
                await self._connect()
        except DriveError:
            await self.close()
            raise
        except Exception as exc:  # bumble raises many kinds: each one is "no treadmill"
            await self.close()
            raise DriveError(self.name, f"cannot connect: {type(exc).__name__}: {exc}") from exc
        self._writer = asyncio.get_running_loop().create_task(self._write_changes())
        return WatchdogSetting(0.0, "none: FTMS has no comm-loss watchdog", present=False)

    async def read_status(self) -> DriveStatus:
        self._check()
        age = self._clock() - self._data_at
        if self._speed_kmh is None or age > self.stale_after_s:
            raise DriveError(self.name, f"no Treadmill Data for {age:.1f} s")
        return DriveStatus(self._fault == 0, self._fault, self._speed_kmh, Direction.FORWARD)

    async def write_command(self, command: DriveCommand) -> None:
        command, refused = self.forward_only(command)
        speed = command.speed_kmh if command.run else 0.0
        if not math.isfinite(speed) or speed < 0:
            raise DriveError(self.name, f"refused speed {speed!r}")
        self._wanted = Wanted(command.run, speed)
        self._kick.set()
        if refused:
            raise self.reverse_refused()
        self._check()

    async def reset_fault(self) -> None:
        """At standstill, on the operator's reset: take control again and clear the latch
        (the treadmill's safety key must be back on, or it reports it again)."""
        self._check()
        await self._request(bytes([Op.REQUEST_CONTROL]))
        self._fault = 0

    def describe_fault(self, code: int) -> str:
        try:
            return FAULT_TEXT[FtmsFault(code)]
        except ValueError:
            return f"fault code {code}"

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.connect_timeout_s):
                    await connection.disconnect()
        device, self._device = self._device, None
        if device is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.connect_timeout_s):
                    await device.power_off()
            await self.link.close()

    # -- the radio ---------------------------------------------------------------------

    def _check(self) -> None:
        if self._error is not None:
            raise DriveError(self.name, self._error)
        if self._connection is None:
            raise DriveError(self.name, "not connected")

    async def _connect(self) -> None:
        device = self._device = await self.link.open()
        found: asyncio.Future[Advertisement] = asyncio.get_running_loop().create_future()
        want = self.address.upper().removesuffix("/P")

        def on_adv(adv: Advertisement) -> None:
            if not found.done() and str(adv.address).upper().removesuffix("/P") == want:
                found.set_result(adv)

        device.on(device.EVENT_ADVERTISEMENT, on_adv)
        try:
            await device.start_scanning(filter_duplicates=False)
            try:
                async with asyncio.timeout(self.connect_timeout_s):
                    adv = await found
            except TimeoutError:
                raise DriveError(
                    self.name, f"not seen in {self.connect_timeout_s:g} s of scanning"
                ) from None
            finally:
                with contextlib.suppress(Exception):
                    await device.stop_scanning()
        finally:
            device.remove_listener(device.EVENT_ADVERTISEMENT, on_adv)
        connection = await device.connect(adv.address, timeout=self.connect_timeout_s)
        self._connection = connection

        def on_disconnection(reason: int) -> None:
            self._connection = None
            self._error = self._error or f"link lost (reason 0x{reason:02x})"

        connection.on(connection.EVENT_DISCONNECTION, on_disconnection)
        peer = self._peer = Peer(connection)
        services = await peer.discover_service(FTMS_UUID)
        if not services:
            raise DriveError(self.name, "no Fitness Machine Service (0x1826)")
        chars = {c.uuid: c for c in await peer.discover_characteristics(service=services[0])}
        for uuid in (TREADMILL_DATA_UUID, CONTROL_POINT_UUID, SPEED_RANGE_UUID):
            if uuid not in chars:
                raise DriveError(self.name, f"the treadmill has no {uuid.name} characteristic")
        self.speed_range = decode_range(
            await peer.read_value(chars[SPEED_RANGE_UUID]), False, SPEED_UNIT_KMH
        )
        if INCLINE_RANGE_UUID in chars:
            self.incline_range = decode_range(
                await peer.read_value(chars[INCLINE_RANGE_UUID]), True, INCLINE_UNIT_PCT
            )
        await peer.subscribe(chars[TREADMILL_DATA_UUID], self._on_data)
        if STATUS_UUID in chars:
            await peer.subscribe(chars[STATUS_UUID], self._on_status)
        self._control = chars[CONTROL_POINT_UUID]
        await peer.subscribe(chars[CONTROL_POINT_UUID], self._on_answer, prefer_notify=False)
        await self._request(bytes([Op.REQUEST_CONTROL]))
        await self._request(bytes([Op.STOP_OR_PAUSE, StopParam.STOP]))
        self._sent = Wanted(False, 0.0)
        try:  # connected means reporting: the loop's first read must find a speed
            async with asyncio.timeout(self.connect_timeout_s):
                await self._first_data.wait()
        except TimeoutError:
            raise DriveError(
                self.name, f"no Treadmill Data within {self.connect_timeout_s:g} s"
            ) from None
        log.info("%s: connected, speed range %s", self.name, self.speed_range)

    def _on_data(self, value: bytes) -> None:
        try:
            data = decode_treadmill_data(bytes(value))
        except FrameError as exc:
            self._speed_kmh = None  # no reading rather than the previous one
            log.warning("%s: refused Treadmill Data: %s", self.name, exc)
            return
        if data.speed_kmh is not None:
            self._speed_kmh, self._data_at = data.speed_kmh, self._clock()
            self._first_data.set()
        if data.incline_pct is not None:
            self.incline_pct = data.incline_pct

    def _on_status(self, value: bytes) -> None:
        frame = bytes(value)
        if not frame:
            return
        op = frame[0]
        fault = {
            StatusOp.STOPPED_BY_SAFETY_KEY: FtmsFault.SAFETY_KEY,
            StatusOp.CONTROL_PERMISSION_LOST: FtmsFault.CONTROL_LOST,
            StatusOp.RESET: FtmsFault.MACHINE_RESET,
        }.get(op)  # type: ignore[call-overload]
        if op == StatusOp.STOPPED_OR_PAUSED_BY_USER and self._sent is not None and self._sent.run:
            fault = FtmsFault.STOPPED_AT_CONSOLE  # not a stop treadctl asked for
        if fault is not None and not self._fault:
            self._fault = int(fault)
            log.warning("%s: %s", self.name, FAULT_TEXT[fault])

    def _on_answer(self, value: bytes) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self._answers.put_nowait(bytes(value))

    async def _request(self, frame: bytes) -> None:
        """One control point write and its indicated answer, bounded."""
        peer, control = self._peer, self._control
        if peer is None or control is None:
            raise DriveError(self.name, "not connected")
        while not self._answers.empty():
            self._answers.get_nowait()
        try:
            async with asyncio.timeout(self.answer_timeout_s):
                await peer.write_value(control, frame, with_response=True)  # type: ignore[arg-type]
                answer = await self._answers.get()
        except TimeoutError:
            raise DriveError(
                self.name,
                f"control point op 0x{frame[0]:02x}: no answer in {self.answer_timeout_s:g} s",
            ) from None
        except DriveError:
            raise
        except Exception as exc:
            raise DriveError(self.name, f"control point write: {type(exc).__name__}") from exc
        if len(answer) < 3 or answer[0] != Op.RESPONSE or answer[1] != frame[0]:
            raise DriveError(self.name, f"control point: unexpected answer {answer.hex()}")
        if answer[2] != Result.SUCCESS:
            try:
                why = Result(answer[2]).name.lower().replace("_", " ")
            except ValueError:
                why = f"result 0x{answer[2]:02x}"
            raise DriveError(self.name, f"control point op 0x{frame[0]:02x} refused: {why}")

    def _target(self, speed_kmh: float) -> float:
        """The speed the treadmill is asked for: within its range, on its increment."""
        r = self.speed_range
        assert r is not None
        speed = min(max(speed_kmh, r.minimum), r.maximum)
        return round(round(speed / r.increment) * r.increment, 2)

    async def _write_changes(self) -> None:
        """Send what changed, one request at a time; a failure latches (_error)."""
        try:
            while True:
                await self._kick.wait()
                self._kick.clear()
                wanted, sent = self._wanted, self._sent
                assert sent is not None
                if not wanted.run:
                    if sent.run:
                        await self._request(bytes([Op.STOP_OR_PAUSE, StopParam.STOP]))
                        self._sent = Wanted(False, 0.0)
                    continue
                r = self.speed_range
                assert r is not None
                if wanted.speed_kmh < r.minimum:
                    # Slower than the treadmill can go: the belt stands. Held at the
                    # minimum instead, a controlled stop's ramp down never reached the
                    # standstill it waits for, and a start would run faster than asked.
                    if sent.run:
                        await self._request(bytes([Op.STOP_OR_PAUSE, StopParam.STOP]))
                        self._sent = Wanted(False, 0.0)
                    continue
                target = self._target(wanted.speed_kmh)
                if not sent.run or abs(target - sent.speed_kmh) > 1e-9:
                    await self._request(set_speed_frame(target))
                    if not sent.run:
                        await self._request(bytes([Op.START_OR_RESUME]))
                    self._sent = Wanted(True, target)
        except DriveError as exc:
            self._error = exc.reason
            log.warning("%s: %s", self.name, exc.reason)
