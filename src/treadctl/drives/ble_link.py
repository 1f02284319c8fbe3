"""Where the Bluetooth controller is: a real one through a bumble transport, or a virtual
one on an in-process link (treadctl.heartrate.emulator.VirtualRadio) for the tests and
the simulator.

The Bluetooth LE link that FTMS drives and heart-rate straps share, beside the Modbus
link (drives/link.py) that drives, safety inputs and the incline share: here, and not in
heartrate/, so that drives/ never imports heartrate/ (issue 23: no import cycles)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from bumble.device import Device
from bumble.hci import Address
from bumble.transport import open_transport
from bumble.transport.common import Transport


class LinkError(Exception):
    """The controller could not be opened (no dongle, no permission, bad spec ...)."""


class HciLink(Protocol):
    async def open(self) -> Device:
        """A powered-on bumble Device on this controller."""
        ...

    async def close(self) -> None: ...


class TransportLink:
    """A controller reached through a bumble transport spec ("usb:0", "hci-socket:0", ...)."""

    def __init__(self, spec: str, own_address: str, open_timeout_s: float = 10.0) -> None:
        self.spec = spec
        self.own_address = own_address
        self.open_timeout_s = open_timeout_s
        self._transport: Transport | None = None

    async def open(self) -> Device:
        try:
            async with asyncio.timeout(self.open_timeout_s):
                self._transport = await open_transport(self.spec)
                device = Device.with_hci(
                    "treadctl",
                    Address(self.own_address),
                    self._transport.source,
                    self._transport.sink,
                )
                await device.power_on()
        except Exception as exc:  # libusb, serial, sockets, bumble: each has its own kinds
            await self.close()
            raise LinkError(f"{self.spec}: {type(exc).__name__}: {exc}") from exc
        return device

    async def close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.open_timeout_s):
                    await transport.close()
