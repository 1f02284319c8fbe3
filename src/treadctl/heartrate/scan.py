"""`treadctl hr scan`: which heart-rate straps are in range, and how strong they are."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from bumble import gatt
from bumble.core import AdvertisingData
from bumble.device import Advertisement
from bumble.hci import Address

from treadctl.drives.ble_link import HciLink
from treadctl.untrusted import printable

MAX_NAME_CHARS = 29  # a complete local name fits in 31 bytes of legacy advertising data


@dataclass(frozen=True)
class Found:
    address: str  # as the machine file takes it ("/P" suffix for a public address)
    name: str | None
    rssi_dbm: int | None  # None when the controller reports none
    heart_rate_service: bool  # advertises 0x180D
    bumble_address: Address = field(compare=False, repr=False)


def _name(adv: Advertisement) -> str | None:
    for kind in (AdvertisingData.COMPLETE_LOCAL_NAME, AdvertisingData.SHORTENED_LOCAL_NAME):
        value = adv.data.get(kind)
        if isinstance(value, str):
            return printable(value, MAX_NAME_CHARS)
    return None


def _has_hrs(adv: Advertisement) -> bool:
    for kind in (
        AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
        AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    ):
        uuids = adv.data.get(kind)
        if isinstance(uuids, list) and gatt.GATT_HEART_RATE_SERVICE in uuids:
            return True
    return False


def found_from(adv: Advertisement) -> Found:
    rssi = None if adv.rssi == Advertisement.RSSI_NOT_AVAILABLE else int(adv.rssi)
    return Found(adv.address.to_string(), _name(adv), rssi, _has_hrs(adv), adv.address)


async def scan(
    link: HciLink,
    duration_s: float,
    *,
    all_devices: bool = False,
    command_timeout_s: float = 10.0,
) -> list[Found]:
    """Listen for `duration_s`; straps advertising the Heart Rate Service, strongest first.

    The strongest signal of each device is kept; `all_devices` lists every advertiser.
    """
    device = await link.open()
    seen: dict[str, Found] = {}

    def on_advertisement(adv: Advertisement) -> None:
        found = found_from(adv)
        old = seen.get(found.address)
        if old is not None:
            # The scan response may carry the name or the service list the first lacked.
            found = Found(
                found.address,
                found.name or old.name,
                max((r for r in (found.rssi_dbm, old.rssi_dbm) if r is not None), default=None),
                found.heart_rate_service or old.heart_rate_service,
                found.bumble_address,
            )
        seen[found.address] = found

    device.on(device.EVENT_ADVERTISEMENT, on_advertisement)
    try:
        async with asyncio.timeout(command_timeout_s):  # HCI commands: bounded
            await device.start_scanning(filter_duplicates=False)
        await asyncio.sleep(duration_s)
        async with asyncio.timeout(command_timeout_s):
            await device.stop_scanning()
    finally:
        device.remove_listener(device.EVENT_ADVERTISEMENT, on_advertisement)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(command_timeout_s):
                await device.power_off()
        await link.close()
    listed = [f for f in seen.values() if all_devices or f.heart_rate_service]
    return sorted(listed, key=lambda f: -(f.rssi_dbm if f.rssi_dbm is not None else -999))
