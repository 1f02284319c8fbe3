"""HIL end to end: `treadctl sim` serves the drive, the safety inputs and the incline lift
(the machine file's relay actuator, on the drive's bus at its own unit id) and a real
`treadctl run --headless` drives a profile with incline steps over Modbus TCP and RTU;
then a stall injected through the simulator's control channel latches the incline fault
and pauses the belt."""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hil"))

from runner import MACHINE_TEMPLATE, Hil, LineReader  # type: ignore[import-not-found]

INCLINE_ID = 5
TRAVEL_PCT_PER_S = 2.0  # the lift's (and the profile's) rate: quick, so the test is short
INCLINE = f"""
[incline]
min_pct = 0.0
max_pct = 15.0
rate_pct_per_s = {TRAVEL_PCT_PER_S}
max_rate_pct_per_s = 4.0
stall_time_s = 1.0
tolerance_pct = 0.2
position_timeout_s = 0.5
belt_stop_on_fault = true
[incline.actuator]
kind = "relay"
link = "drive"
device_id = {INCLINE_ID}
up_coil = 4
down_coil = 5
position_register = 2
counts_at_min = 200
counts_at_max = 3200
"""
PROFILE = """
name = "HIL incline steps"
[[blocks]]
name = "walk"
  [[blocks.segments]]
  name = "uphill"
  direction = "forward"
  duration_min = 0.2
  speed_kmh = 2.0
  incline_pct = 3
  [[blocks.segments]]
  name = "easier"
  direction = "forward"
  duration_min = 0.1
  speed_kmh = 2.0
  incline_pct = 1.5
"""
# 10 Hz: five telegrams a cycle with 100 ms for them, so a loaded 2-core machine's pause
# of the simulator process does not cost a safety-input reading (a latched fault)
RATE_HZ = 10
LINK_TIMEOUT_S = 0.15


@pytest.fixture(params=["tcp", "rtu"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hil]:
    h = Hil(str(request.param), tmp_path, map_name="generic", rate_hz=RATE_HZ)
    try:
        yield h
    finally:
        h.close()


# The scripted operator resets a latched fault and starts again: a comm hiccup of a loaded
# machine (one missed safety-input read latches) does not end the incline's test early.
AUTO_RESET = """
name = "auto-reset"
[operator]
reset_after_fault = true
"""


def start(h: Hil, *, auto: bool, reset_after_fault: bool = False) -> Path:
    """The simulator with the machine file's lift, then the controller; the database."""
    h.control_port = _free_port()
    control = f"127.0.0.1:{h.control_port}"
    if h.transport == "tcp":
        port = _free_port()
        sim_args = ["--tcp", f"127.0.0.1:{port}"]
        link_body = f'kind = "tcp"\nhost = "127.0.0.1"\nport = {port}\ntimeout_s = {LINK_TIMEOUT_S}'
    else:
        a, b = h._pty_pair()
        sim_args = ["--rtu", a, "--baud", "115200", "--parity", "N"]
        link_body = (
            f'kind = "rtu"\nport = "{b}"\nbaudrate = 115200\nparity = "N"\n'
            f"timeout_s = {LINK_TIMEOUT_S}"
        )
    machine = h.tmp / "machine.toml"
    machine.write_text(
        MACHINE_TEMPLATE.format(
            transport=h.transport,
            map=h.map_name,
            link=link_body,
            rate_hz=h.rate_hz,
            backward_walking=h.backward_walking,
            realtime_priority=h.realtime_priority,
        )
        # two periods at 10 Hz (the template's 0.1 s is for 50 Hz)
        .replace("input_read_timeout_s = 0.1", "input_read_timeout_s = 0.2")
        + INCLINE
    )
    sim = h._popen(
        "sim",
        "--map",
        h.map_name,
        "--kmh-per-hz",
        "0.1",
        "--control",
        control,
        "--machine",
        str(machine),
        *sim_args,
    )
    h.sim = LineReader(sim)
    for started in h.procs:  # the simulator, and on RTU the pty pair: as hardware
        h.hardware_priority(started.pid)
    banner = h.sim.wait_for("treadctl sim:", timeout_s=20)
    assert f"incline #{INCLINE_ID}" in banner
    h.sim.wait_for("ready", timeout_s=20)
    profile = h.tmp / "profile.toml"
    profile.write_text(PROFILE)
    h.events = h.tmp / "events.jsonl"
    db = h.tmp / "t.sqlite"
    args = ["run", "--headless", "--machine", str(machine), "--profile", str(profile)]
    args += ["--events", str(h.events), "--db", str(db)]
    if auto:
        args += ["--operator", "auto"]
    if reset_after_fault:
        scenario = h.tmp / "auto-reset.toml"
        scenario.write_text(AUTO_RESET)
        args += ["--scenario", str(scenario)]
    h.controller = h._popen(*args, stdin=True)
    h.ctl = LineReader(h.controller)
    return db


def _free_port() -> int:
    from runner import free_port  # noqa: PLC0415 - the runner's own

    port: int = free_port()
    return port


def records(h: Hil) -> list[dict[str, Any]]:
    assert h.events is not None
    return [json.loads(line) for line in h.events.read_text().splitlines()]


def test_a_profile_drives_the_lift_over_modbus(rig: Hil) -> None:
    db = start(rig, auto=True, reset_after_fault=True)
    code = rig.wait_exit(timeout_s=90)
    out = "\n".join(rig.ctl.seen if rig.ctl else [])
    assert code == 0, out
    assert "incline driven to 3 %" in out
    assert "incline driven to 1.5 %" in out
    assert "set it by hand" not in out
    evs = records(rig)
    assert not [r for r in evs if r["kind"] == "incline_fault"]
    segs = [r for r in evs if r["kind"] == "segment" and "incline_pct" in r]
    assert [r["incline_pct"] for r in segs] == [3.0, 1.5]
    assert all(r["incline_driven"] for r in segs)
    # the lift in the simulator: at rest inside the range it was driven through, relays
    # off, never both on (after the profile's end it may have started back towards 0 %
    # while the belt was stopping: the incline follows the segment only while it runs)
    st = rig.status()
    assert -0.3 <= st["incline_pct"] <= 1.5 + 0.3, st
    assert st["incline_up"] is False
    assert st["incline_down"] is False
    assert not st["incline_both_on_seen"]  # substeps with both relays on: none
    # the record: each step reached over the wire while its segment ran
    conn = sqlite3.connect(db)
    try:
        for target in (3.0, 1.5):
            rows = conn.execute(
                "SELECT incline_pct FROM samples WHERE incline_target_pct = ? "
                "AND mode = 'running' ORDER BY t_s",
                (target,),
            ).fetchall()
            assert rows, target
            assert abs(rows[-1][0] - target) <= 0.3, (target, rows[-5:])
    finally:
        conn.close()


def test_a_stall_on_the_wire_latches_and_pauses_the_belt(rig: Hil) -> None:
    start(rig, auto=True)
    assert rig.ctl is not None
    rig.ctl.wait_for("interlock stopped -> running", timeout_s=30)
    rig.sim_cmd("incline_stall")
    line = rig.ctl.wait_for("incline   FAULT", timeout_s=15)
    assert "stalled" in line
    rig.ctl.wait_for("command   pause from incline fault: accepted", timeout_s=5)
    rig.ctl.wait_for("stopping -> stopped", timeout_s=20)
    rig.wait_status(lambda s: s["speed_kmh"] < 0.05, timeout_s=10, what="the belt at rest")
    st = rig.status()
    assert st["incline_up"] is False  # relays off
    assert st["incline_down"] is False
    # the auto-operator's starts are refused until a reset
    rig.ctl.wait_for("start from auto-operator: REFUSED: incline fault latched", timeout_s=20)
    time.sleep(0.5)
    assert rig.status()["speed_kmh"] < 0.05
    rig.type("quit")
    code = rig.wait_exit(timeout_s=30)
    assert code != 0
