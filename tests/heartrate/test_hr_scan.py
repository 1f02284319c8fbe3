"""`treadctl hr scan` over the virtual link: both straps listed with their signal strength."""

from __future__ import annotations

from treadctl.heartrate.emulator import EmulatedStrap, VirtualRadio
from treadctl.heartrate.scan import scan


async def test_scan_lists_both_straps_with_rssi_and_not_other_devices() -> None:
    radio = VirtualRadio()
    a = EmulatedStrap(radio, "C1:00:00:00:00:0A", "Polar H10 A")
    b = EmulatedStrap(radio, "C1:00:00:00:00:0B", "Garmin HRM B")
    not_a_strap = radio.device("speaker", "C1:00:00:00:00:0C")
    await a.start()
    await b.start()
    await not_a_strap.power_on()
    await not_a_strap.start_advertising(advertising_interval_min=20, advertising_interval_max=20)
    try:
        found = await scan(radio.central("C0:7E:AD:C7:00:01"), duration_s=0.5)
        everything = await scan(radio.central("C0:7E:AD:C7:00:02"), 0.5, all_devices=True)
    finally:
        await not_a_strap.stop_advertising()
        await not_a_strap.power_off()
        await a.stop()
        await b.stop()
    assert {(f.address, f.name) for f in found} == {
        ("C1:00:00:00:00:0A", "Polar H10 A"),
        ("C1:00:00:00:00:0B", "Garmin HRM B"),
    }
    # bumble's emulated controller reports every advertisement at -50 dBm.
    assert [f.rssi_dbm for f in found] == [-50, -50]
    assert all(f.heart_rate_service for f in found)
    assert "C1:00:00:00:00:0C" in {f.address for f in everything}
    assert len(everything) == 3
