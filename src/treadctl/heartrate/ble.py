"""A Bluetooth LE heart-rate strap (Heart Rate Service) as a HeartRateSource, bumble central.

One task owns the radio: scan for the strap (by address or by advertised name), connect,
find 0x180D / 0x2A37, subscribe, then wait for the disconnection; after any failure wait
a growing back-off and start again. Notifications land in a `Latest` holder from bumble's
callbacks; `read_bpm` only reads that holder, so nothing the radio does can stall the
control loop. A strap that reports no skin contact, a bad frame or a disconnection clears
the reading at once: the previous rate is never shown in its place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bumble import gatt
from bumble.core import UUID
from bumble.device import Advertisement, Connection, Device, Peer

from treadctl.config.heartrate import BleSourceConfig
from treadctl.drives.ble_link import HciLink
from treadctl.heartrate.backoff import Backoff
from treadctl.heartrate.base import BackgroundHeartRate
from treadctl.heartrate.hrs import FrameError, Measurement, decode
from treadctl.heartrate.latest import Latest
from treadctl.heartrate.scan import Found, found_from

log = logging.getLogger(__name__)

HRS_UUID: UUID = gatt.GATT_HEART_RATE_SERVICE
HRM_UUID: UUID = gatt.GATT_HEART_RATE_MEASUREMENT_CHARACTERISTIC


class StrapNotFoundError(Exception):
    """The configured strap did not advertise within the scan timeout."""


def _bare(address: str) -> str:
    return address.upper().removesuffix("/P")


class BleHeartRate(BackgroundHeartRate):
    def __init__(self, config: BleSourceConfig, link: HciLink) -> None:
        self.config = config
        self.link = link
        self.latest = Latest(self.label, config.plausible, log)
        self.measurement: Measurement | None = None  # the latest decoded frame, for display
        self.strap: Found | None = None  # the strap we connect to, once found
        self.connections = 0
        self.failures = 0
        self.last_delay_s: float | None = None
        self._device: Device | None = None
        self._connection: Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    @property
    def label(self) -> str:
        c = self.config
        return f"ble strap {c.address}" if c.address is not None else f"ble strap '{c.name}'"

    @property
    def connected(self) -> bool:
        return self._connection is not None

    async def read_bpm(self) -> float | None:
        """The latest rate (never awaits the radio)."""
        return self.latest.read()

    def age_s(self) -> float | None:
        return self.latest.age_s()

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Run the radio in a task of its own; returns at once."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.label)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._drop_device()
        self.latest.clear("source stopped")

    async def wait_connected(self, timeout_s: float) -> None:
        """For tests and start-up messages: until a strap is subscribed."""
        async with asyncio.timeout(timeout_s):
            await self._connected.wait()

    # -- the radio task ----------------------------------------------------------------

    async def _run(self) -> None:
        backoff = Backoff(self.config.reconnect)
        while True:
            try:
                if self._device is None:
                    self._device = await self.link.open()
                await self._session(self._device, backoff)
            except asyncio.CancelledError:
                raise
            except StrapNotFoundError as exc:
                self.failures += 1
                self.latest.clear(str(exc))
            except Exception as exc:  # bumble raises many kinds; every one means "no strap now"
                self.failures += 1
                self.latest.clear(f"{type(exc).__name__}: {exc}")
                await self._drop_device()
            self.last_delay_s = backoff.next_s()
            await asyncio.sleep(self.last_delay_s)

    async def _session(self, device: Device, backoff: Backoff) -> None:
        """Find, connect, subscribe, then return when the strap disconnects."""
        found = await self._find(device)
        self.strap = found
        cfg = self.config
        disconnected: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        # bumble's own timeout cancels the pending connection; ours is only a backstop.
        async with asyncio.timeout(2 * cfg.connect_timeout_s):
            connection = await device.connect(found.bumble_address, timeout=cfg.connect_timeout_s)
        self._connection = connection

        def on_disconnection(reason: int) -> None:
            self._connection = None
            self._connected.clear()
            self.latest.clear(f"strap disconnected (reason 0x{reason:02x})")
            if not disconnected.done():
                disconnected.set_result(reason)

        connection.on(connection.EVENT_DISCONNECTION, on_disconnection)
        try:
            async with asyncio.timeout(cfg.connect_timeout_s):
                await self._subscribe(Peer(connection))
        except BaseException:
            await self._disconnect(connection)
            raise
        self.connections += 1
        self._connected.set()
        backoff.reset()
        log.info("%s: connected to %s", self.label, found.address)
        await disconnected

    async def _find(self, device: Device) -> Found:
        cfg = self.config
        hit: asyncio.Future[Found] = asyncio.get_running_loop().create_future()

        def on_advertisement(adv: Advertisement) -> None:
            found = found_from(adv)
            if hit.done():
                return
            by_address = cfg.address is not None and _bare(found.address) == _bare(cfg.address)
            by_name = cfg.name is not None and found.name == cfg.name
            if by_address or by_name:
                hit.set_result(found)

        device.on(device.EVENT_ADVERTISEMENT, on_advertisement)
        try:
            # An HCI command the controller never answers raises TimeoutError: the device
            # is then dropped and reopened (a dongle unplugged, a firmware hang).
            async with asyncio.timeout(cfg.connect_timeout_s):
                await device.start_scanning(filter_duplicates=False)
            try:
                async with asyncio.timeout(cfg.scan_timeout_s):
                    return await hit
            except TimeoutError:
                raise StrapNotFoundError(
                    f"not seen in {cfg.scan_timeout_s:g} s of scanning"
                ) from None
            finally:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(cfg.connect_timeout_s):
                        await device.stop_scanning()
        finally:
            device.remove_listener(device.EVENT_ADVERTISEMENT, on_advertisement)

    async def _subscribe(self, peer: Peer) -> None:
        services = await peer.discover_service(HRS_UUID)
        if not services:
            raise LookupError("the device has no Heart Rate Service (0x180D)")
        chars = await peer.discover_characteristics(uuids=[HRM_UUID], service=services[0])
        if not chars:
            raise LookupError("the Heart Rate Service has no measurement (0x2A37)")
        await peer.subscribe(chars[0], self._on_frame)

    def _on_frame(self, value: bytes) -> None:
        try:
            m = decode(bytes(value))
        except FrameError as exc:
            self.measurement = None
            self.latest.clear(f"bad frame: {exc}")
            return
        self.measurement = m
        if not m.has_signal:
            self.latest.clear("the strap reports no skin contact")
            return
        self.latest.offer(float(m.bpm))

    async def _disconnect(self, connection: Connection) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.config.connect_timeout_s):
                await connection.disconnect()

    async def _drop_device(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await self._disconnect(connection)
        device, self._device = self._device, None
        if device is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.config.connect_timeout_s):
                    await device.power_off()
            await self.link.close()
