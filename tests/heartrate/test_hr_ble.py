"""The BLE source end to end over bumble's virtual link: a real host stack, HCI, link
layer, ATT and GATT on both sides, emulated controllers instead of radios (no mocks)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from treadctl.config.heartrate import BackoffConfig, BleSourceConfig
from treadctl.heartrate.ble import BleHeartRate
from treadctl.heartrate.emulator import EmulatedStrap, VirtualRadio
from treadctl.heartrate.hrs import Contact

WAIT_S = 20.0  # generous: a loaded 2-core machine
STRAP_A = "C1:00:00:00:00:0A"
STRAP_B = "C1:00:00:00:00:0B"
CENTRAL = "C0:7E:AD:C7:00:01"


async def until(cond: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    async with asyncio.timeout(timeout_s):
        while not cond():
            await asyncio.sleep(0.01)
    assert cond(), what


async def until_bpm(
    src: BleHeartRate, want: float | None, strap: EmulatedStrap | None = None, bpm: int = 0
) -> None:
    """Poll read_bpm until it says `want`; keep the strap sending meanwhile (1 frame / 20 ms)."""
    async with asyncio.timeout(WAIT_S):
        while await src.read_bpm() != want:
            if strap is not None and strap.subscribed.is_set():
                await strap.send(bpm)
            await asyncio.sleep(0.02)


def config(**kw: object) -> BleSourceConfig:
    base: dict[str, object] = {
        "kind": "ble",
        "scan_timeout_s": 2.0,
        "connect_timeout_s": 5.0,
        "stale_after_s": 3.0,
        "reconnect": BackoffConfig(initial_s=0.05, max_s=0.4, factor=2.0),
    }
    base.update(kw)
    return BleSourceConfig.model_validate(base, strict=False)


@pytest.fixture
async def radio() -> VirtualRadio:
    return VirtualRadio()


@pytest.fixture
async def strap(radio: VirtualRadio) -> AsyncIterator[EmulatedStrap]:
    s = EmulatedStrap(radio, STRAP_A, "Polar H10 A")
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def source_for(
    radio: VirtualRadio,
) -> AsyncIterator[Callable[[BleSourceConfig], Awaitable[BleHeartRate]]]:
    made: list[BleHeartRate] = []

    async def make(cfg: BleSourceConfig) -> BleHeartRate:
        src = BleHeartRate(cfg, radio.central(CENTRAL))
        src.start()
        made.append(src)
        return src

    yield make
    for src in made:
        await src.stop()


async def test_strap_by_address_sends_and_the_source_reports_bpm_with_its_age(
    strap: EmulatedStrap, source_for: Callable[[BleSourceConfig], Awaitable[BleHeartRate]]
) -> None:
    src = await source_for(config(address=STRAP_A))
    assert await src.read_bpm() is None  # nothing before the strap speaks
    await src.wait_connected(WAIT_S)
    await asyncio.wait_for(strap.subscribed.wait(), WAIT_S)
    await strap.send(72, Contact.DETECTED, energy_kj=300, rr_intervals_s=(0.8330078125,))
    await until(lambda: src.latest.accepted > 0, "a frame arrives")
    assert await src.read_bpm() == 72.0
    age = src.age_s()
    assert age is not None
    assert 0.0 <= age < WAIT_S
    assert src.measurement is not None
    assert src.measurement.energy_kj == 300
    assert src.measurement.rr_intervals_s == (0.8330078125,)
    assert src.strap is not None
    assert src.strap.address == STRAP_A


async def test_contact_lost_is_no_reading_at_once_and_contact_back_reads_again(
    strap: EmulatedStrap, source_for: Callable[[BleSourceConfig], Awaitable[BleHeartRate]]
) -> None:
    src = await source_for(config(address=STRAP_A))
    await asyncio.wait_for(strap.subscribed.wait(), WAIT_S)
    await strap.send(90)
    await until_bpm(src, 90.0)
    await strap.send(91, Contact.LOST)  # the strap still sends a number: it must not show
    await until_bpm(src, None)
    assert src.latest.reason == "the strap reports no skin contact"
    await strap.send(93)
    await until_bpm(src, 93.0)


async def test_a_bad_frame_clears_the_reading(
    strap: EmulatedStrap, source_for: Callable[[BleSourceConfig], Awaitable[BleHeartRate]]
) -> None:
    src = await source_for(config(address=STRAP_A))
    await asyncio.wait_for(strap.subscribed.wait(), WAIT_S)
    await strap.send(80)
    await until_bpm(src, 80.0)
    await strap.send_frame(b"\x11\x50\x01")  # RR announced, one odd byte follows
    await until_bpm(src, None)
    assert src.latest.reason is not None
    assert "RR" in src.latest.reason
    await strap.send(250 + 1)  # plausible range is 20..250: refused
    await asyncio.sleep(0.2)
    assert await src.read_bpm() is None


async def test_silent_strap_goes_stale(
    strap: EmulatedStrap, source_for: Callable[[BleSourceConfig], Awaitable[BleHeartRate]]
) -> None:
    src = await source_for(config(address=STRAP_A, stale_after_s=0.3))
    await asyncio.wait_for(strap.subscribed.wait(), WAIT_S)
    await strap.send(70)
    await until(lambda: src.latest.accepted > 0, "a frame arrives")
    await until_bpm(src, None)  # nothing more sent: stale after 0.3 s
    assert src.latest.reason is not None
    assert src.latest.reason.startswith("stale")
    assert src.connected  # stale while still connected: the strap just went quiet


async def test_disconnect_is_no_reading_then_reconnects_with_backoff(
    strap: EmulatedStrap,
    source_for: Callable[[BleSourceConfig], Awaitable[BleHeartRate]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="treadctl.heartrate")
    src = await source_for(config(address=STRAP_A, scan_timeout_s=0.3))
    await asyncio.wait_for(strap.subscribed.wait(), WAIT_S)
    await strap.send(100)
    await until_bpm(src, 100.0)
    await strap.drop()  # out of range: disconnects and stops advertising
    await until(lambda: not src.connected, "the source sees the disconnection")
    assert await src.read_bpm() is None  # at once, not after the staleness limit
    assert src.latest.reason is not None
    assert "disconnected" in src.latest.reason
    # While the strap is away, scans time out and the delays grow up to max_s.
    await until(lambda: src.failures >= 4, "several failed attempts")
    assert src.last_delay_s == pytest.approx(0.4)
    await strap.come_back()
    await src.wait_connected(WAIT_S)
    await asyncio.wait_for(strap.subscribed.wait(), WAIT_S)
    await until_bpm(src, 104.0, strap, 104)
    assert src.connections == 2
    assert strap.connections == 2
    assert "strap disconnected" in caplog.text


async def test_the_strap_chosen_by_name_among_two(
    radio: VirtualRadio,
    strap: EmulatedStrap,
    source_for: Callable[[BleSourceConfig], Awaitable[BleHeartRate]],
) -> None:
    other = EmulatedStrap(radio, STRAP_B, "Garmin HRM B")
    await other.start()
    try:
        src = await source_for(config(name="Garmin HRM B"))
        await asyncio.wait_for(other.subscribed.wait(), WAIT_S)
        await other.send(66)
        await until_bpm(src, 66.0)
        assert src.strap is not None
        assert src.strap.address == STRAP_B
        assert not strap.subscribed.is_set()
        assert strap.connections == 0
    finally:
        await other.stop()


async def test_a_strap_never_seen_is_no_reading_and_keeps_trying(
    source_for: Callable[[BleSourceConfig], Awaitable[BleHeartRate]],
) -> None:
    src = await source_for(config(name="Nobody", scan_timeout_s=0.2))
    await until(lambda: src.failures >= 2, "two failed scans")
    assert await src.read_bpm() is None
    assert src.latest.reason is not None
    assert "not seen" in src.latest.reason
