"""An emulated heart-rate strap: a bumble peripheral with the Heart Rate Service.

It runs on a virtual radio (bumble's in-process LocalLink with one emulated controller
per device), so the central under test goes through a real host stack, HCI, link layer,
L2CAP, ATT and GATT: only the air is missing. The strap can send any frame (good ones
and hostile ones), report lost skin contact, drop the connection and stay away, and come
back. The same class can serve a strap to `treadctl sim` later.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable

from bumble import data_types, gatt
from bumble.controller import Controller
from bumble.core import AdvertisingData
from bumble.device import Connection, Device
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink, Transport
from bumble.transport.tcp_server import open_tcp_server_transport_with_socket

from treadctl.heartrate.hrs import Contact, encode

ADVERTISING_INTERVAL_MS = 20.0  # emulated air: fast enough for quick, deterministic tests
STEP_TIMEOUT_S = 5.0  # each teardown step; a stuck one is given up, not waited on forever


async def _bounded(aw: Awaitable[object]) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(STEP_TIMEOUT_S):
            await aw


class VirtualRadio:
    """The shared air of the emulated devices (one bumble LocalLink)."""

    def __init__(self) -> None:
        self.link = LocalLink()  # type: ignore[no-untyped-call]  # bumble leaves it unannotated

    def device(self, name: str, address: str) -> Device:
        """A bumble Device on its own emulated controller on this radio."""
        controller = Controller(name, link=self.link, public_address=address)
        return Device(
            name=name, address=Address(address), host=Host(controller, AsyncPipeSink(controller))
        )

    def central(self, address: str) -> VirtualLink:
        return VirtualLink(self, address)

    async def serve_controller(self, sock: socket.socket) -> ServedController:
        """An emulated controller on this radio, its HCI served on a listening TCP socket:
        a process given `--transport tcp-client:HOST:PORT` drives it like a dongle."""
        transport = await open_tcp_server_transport_with_socket(sock)
        Controller("served", host_source=transport.source, host_sink=transport.sink, link=self.link)
        return ServedController(transport)


class ServedController:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    async def close(self) -> None:
        await _bounded(self.transport.close())
        # bumble's tcp-server transport closes its source and sink but not its listening
        # server (0.0.236): close that too, or the socket is left to the collector.
        server = getattr(self.transport, "server", None)
        if isinstance(server, asyncio.Server):
            server.close()
            await server.wait_closed()


class VirtualLink:
    """An HciLink (see link.py) to an emulated controller on a VirtualRadio."""

    def __init__(self, radio: VirtualRadio, address: str) -> None:
        self.radio = radio
        self.address = address
        self.opened = 0
        self._controller: Controller | None = None

    async def open(self) -> Device:
        device = self.radio.device("treadctl", self.address)
        self._controller = device.host.controller  # type: ignore[assignment]
        await device.power_on()
        self.opened += 1
        return device

    async def close(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None and controller in self.radio.link.controllers:
            self.radio.link.remove_controller(controller)


class EmulatedStrap:
    """A strap that advertises 0x180D with its name and notifies 0x2A37 frames."""

    def __init__(self, radio: VirtualRadio, address: str, name: str) -> None:
        self.address = address
        self.name = name
        self.device = radio.device(name, address)
        self.measurement = gatt.Characteristic(
            gatt.GATT_HEART_RATE_MEASUREMENT_CHARACTERISTIC,
            gatt.Characteristic.Properties.NOTIFY,
            gatt.Characteristic.Permissions(0),
            b"",
        )
        self.device.add_service(gatt.Service(gatt.GATT_HEART_RATE_SERVICE, [self.measurement]))
        self.device.advertising_data = bytes(
            AdvertisingData(
                [
                    data_types.CompleteLocalName(name),
                    data_types.IncompleteListOf16BitServiceUUIDs([gatt.GATT_HEART_RATE_SERVICE]),
                ]
            )
        )
        self.present = False  # advertising, or ready to advertise again after a drop
        self.subscribed = asyncio.Event()
        self.connections = 0
        self._restart: asyncio.Task[None] | None = None
        self.measurement.on("subscription", self._on_subscription)
        self.device.on(self.device.EVENT_CONNECTION, self._on_connection)

    def _on_subscription(self, _connection: Connection, notify: bool, _indicate: bool) -> None:
        if notify:
            self.subscribed.set()
        else:
            self.subscribed.clear()

    def _on_connection(self, connection: Connection) -> None:
        self.connections += 1

        def on_disconnection(_reason: int) -> None:
            self.subscribed.clear()
            if self.present:
                self._restart = asyncio.get_running_loop().create_task(self._advertise())

        connection.on(connection.EVENT_DISCONNECTION, on_disconnection)

    async def _advertise(self) -> None:
        await self.device.start_advertising(
            advertising_interval_min=ADVERTISING_INTERVAL_MS,
            advertising_interval_max=ADVERTISING_INTERVAL_MS,
        )

    async def start(self) -> None:
        await self.device.power_on()
        self.present = True
        await self._advertise()

    async def send_frame(self, frame: bytes) -> None:
        """Notify any frame, well-formed or not, to the subscribed central."""
        await self.device.notify_subscribers(self.measurement, frame, force=True)

    async def send(
        self,
        bpm: int,
        contact: Contact = Contact.DETECTED,
        energy_kj: int | None = None,
        rr_intervals_s: tuple[float, ...] = (),
    ) -> None:
        await self.send_frame(encode(bpm, contact, energy_kj, rr_intervals_s))

    async def drop(self) -> None:
        """Out of range: end the connection and stop advertising until come_back()."""
        self.present = False
        restart, self._restart = self._restart, None
        if restart is not None:
            # Let a restart already under way finish: powering off with an HCI command
            # in flight leaves bumble's host answering a command it no longer waits for.
            await _bounded(restart)
        await _bounded(self.device.stop_advertising())
        for connection in list(self.device.connections.values()):
            await _bounded(connection.disconnect())

    async def come_back(self) -> None:
        self.present = True
        await self._advertise()

    async def stop(self) -> None:
        await self.drop()
        await _bounded(self.device.power_off())
