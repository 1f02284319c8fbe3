"""One whole session on each drive map, against the strict simulator (each real drive's own
behaviour, not the map's), over Modbus TCP and over Modbus RTU on a socat pty pair:
start, forward, turn, backward, e-stop, reset, drive trip and reset, and a clean end."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runner import Hil  # type: ignore[import-not-found]

from treadctl.drives.modbus import cycle_transfers
from treadctl.drives.regmap import load_map
from treadctl.drives.wire import rtu_cycle

MAPS = ("delta-ms300", "yaskawa-a1000", "abb-acs355", "siemens-v20", "generic")

TURN_WALK = """
name = "HIL turn walk"
[[blocks]]
  [[blocks.segments]]
  name = "forward"
  direction = "forward"
  duration_s = 2
  speed_kmh = 2.0
  [[blocks.segments]]
  name = "backward"
  direction = "backward"
  duration_s = 6
  speed_kmh = 1.2
"""

# A trip code each drive defines, as its fault register shows it, and its name there.
TRIPS = {
    "delta-ms300": (7, "ovA: over-voltage during acceleration"),
    "yaskawa-a1000": (0x0002, "ov: DC bus over-voltage"),  # 0x0021 is a bit field
    "abb-acs355": (2, "DC OVERVOLT"),
    "siemens-v20": (2, "F2: over-voltage"),
    "generic": (2, "over-voltage"),
}
DWELL_S = 0.7  # the HIL machine's standstill dwell is 0.5 s


def loop_rate_hz(map_name: str, transport: str) -> int:
    """50 Hz, or the highest rate the map's RTU cycle (with the safety inputs on the same
    bus) fits at 115200 baud, as the controller's own check works it out."""
    if transport == "tcp":
        return 50
    regmap = load_map(map_name)
    reads, writes = cycle_transfers(regmap)
    cycle = rtu_cycle(115200, 0.002, reads, writes, [4], regmap.single_write_function)
    return min(50, math.floor(cycle.max_rate_hz(0.75)))


@pytest.fixture(params=[(m, t) for m in MAPS for t in ("tcp", "rtu")], ids="-".join)
def hil_map(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hil]:
    map_name, transport = request.param
    rig = Hil(transport, tmp_path, map_name=map_name, rate_hz=loop_rate_hz(map_name, transport))
    try:
        yield rig
    finally:
        rig.close()


def at_rest(st: dict[str, Any]) -> bool:
    return not st["run"] and st["speed_kmh"] == 0.0


def backward_at_speed(st: dict[str, Any]) -> bool:
    return bool(st["run"]) and st["direction"] == "backward" and st["speed_kmh"] > 1.0


def reset(h: Hil) -> None:
    assert h.ctl is not None
    h.wait_status(at_rest, what="belt at rest before reset")
    time.sleep(DWELL_S)
    h.type("reset")
    line = h.ctl.wait_for("command   reset from console")
    assert "accepted" in line, line  # a drive that reads "not ready" at rest refuses it
    h.ctl.wait_for("interlock faulted -> stopped")


def start(h: Hil) -> None:
    assert h.ctl is not None
    h.type("start")
    h.ctl.wait_for("interlock stopped -> running")


def test_a_whole_session_on_each_drive(hil_map: Hil) -> None:
    h = hil_map
    code, name = TRIPS[h.map_name]
    h.start_controller(TURN_WALK, auto=False)
    assert h.ctl is not None
    h.ctl.wait_for("drive comm-loss watchdog 0.5 s")
    assert h.status()["watchdog_s"] == 0.5  # armed, and in effect, in the drive itself
    h.ctl.wait_for("session   HIL turn walk")

    reset(h)  # the power-on latch
    start(h)
    h.wait_status(
        lambda st: st["run"] and st["direction"] == "forward" and st["speed_kmh"] > 1.8,
        what="forward at 2.0 km/h",
    )

    # the turn: the profile stops the belt, sets the direction at standstill, waits for start
    h.ctl.wait_for("segment   2/2 backward", timeout_s=15)
    h.ctl.wait_for("command   set_direction backward from profile: accepted")
    h.wait_status(at_rest, what="at rest for the turn")
    start(h)
    h.wait_status(backward_at_speed, what="backward at 1.2 km/h")

    # e-stop while walking backward: latched, stopped; reset once the chain is closed
    h.sim_cmd("open_estop")
    # STO cuts the drive's power too: a drive that then reads "not ready" in the cycle
    # before the inputs are read may be named first; the chain must be named as well
    line = h.ctl.wait_for("interlock running -> faulted")
    if "emergency-stop chain open" not in line:
        h.ctl.wait_for("interlock faulted (+reason): emergency-stop chain open", timeout_s=2)
    h.wait_status(at_rest, what="belt at rest after the e-stop")
    h.sim_cmd("close_estop")
    reset(h)
    start(h)
    h.wait_status(backward_at_speed, what="backward again after the e-stop")

    # a drive trip, named in the drive's words; one reset clears drive and latch
    h.sim_cmd(f"drive_trip {code}")
    # named as the cycle reads it, before the interlock's transition of the same cycle
    assert h.ctl.wait_for("drive     fault").endswith(f"fault {code}: {name}")
    line = h.ctl.wait_for("interlock running -> faulted")
    assert "drive reports a fault" in line, line
    h.wait_status(at_rest, what="belt at rest after the trip")
    reset(h)
    assert any(f"fault reset pulsed (code {code})" in x for x in h.ctl.seen)
    assert h.status()["fault_code"] == 0
    start(h)
    h.wait_status(backward_at_speed, what="backward again after the trip")

    # the rest of the backward segment, then a clean end
    h.ctl.wait_for("segment   end of profile", timeout_s=20)
    code_out = h.wait_exit()
    tail = "\n".join(h.ctl.seen[-40:])
    assert code_out == 0, tail
    assert any("session   ended: completed" in x for x in h.ctl.seen), tail
    changes = h.status()["direction_changes"]
    assert [d for _, d, _ in changes] == ["backward"], changes
    for _, direction, speed in changes:
        assert speed <= 0.05, f"told to run {direction} while the belt moved at {speed}"
