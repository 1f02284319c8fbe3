"""The incline wired into the real sessions: `treadctl simulate` through the CLI's main
drives the simulator's lift from the profile (Bruce, the backward incline steps), each
lift fault from a sample scenario latches and pauses the belt, a machine without an
actuator keeps the manual prompt, and the RTU wire budget counts the actuator's traffic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from treadctl.app import build_session, build_sim_session, load_session
from treadctl.cli import main
from treadctl.cli.common import EXIT_NOT_COMPLETED, EXIT_OK
from treadctl.clock import VirtualClock
from treadctl.config.errors import ConfigError
from treadctl.config.machine import SimInclineConfig
from treadctl.control.loop import NO_INCLINE_ACTUATOR_WARNING
from treadctl.drives.modbus import ModbusDrive
from treadctl.incline.modbus import RelayIncline
from treadctl.samples import folder
from treadctl.sim.backends import SimIncline
from treadctl.sim.operator import ScriptedOperator
from treadctl.store.eventlog import EventLog

MACHINES = folder("machine")
PROFILES = folder("profile")
SIM_INCLINE_TEXT = (MACHINES / "sim-incline.toml").read_text()


def simulate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str
) -> tuple[int, str, list[dict[str, Any]]]:
    events = tmp_path / "events.jsonl"
    code = main(["simulate", *args, "--events", str(events)])
    out = capsys.readouterr().out
    records = [json.loads(line) for line in events.read_text().splitlines()]
    return code, out, records


def of_kind(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in records if r["kind"] == kind]


def test_bruce_runs_with_the_incline_driven(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, records = simulate(capsys, tmp_path, "bruce", "--machine", "sim-incline")
    assert code == EXIT_OK, out
    assert "set it by hand" not in out
    for pct in (10, 12, 14, 16, 18, 20, 22):
        assert f"incline driven to {pct} %" in out
    inclined = [r for r in of_kind(records, "segment") if "incline_pct" in r]
    assert len(inclined) == 7
    assert all(r["incline_driven"] is True for r in inclined)
    assert not of_kind(records, "incline_fault")
    assert NO_INCLINE_ACTUATOR_WARNING not in out


def test_incline_backward_runs_with_the_incline_driven(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, records = simulate(
        capsys, tmp_path, "incline-backward", "--machine", "sim-incline", "--patient", "demo"
    )
    assert code == EXIT_OK, out
    for pct in ("2.5", "5", "7.5"):
        assert f"incline driven to {pct} %" in out
    assert "set it by hand" not in out
    assert of_kind(records, "session_end")[0]["outcome"] == "completed"


@pytest.mark.parametrize(
    ("scenario", "reason_words"),
    [
        ("incline-stall", "stalled"),
        ("incline-runaway", "runaway"),
        ("incline-sensor-lost", "stopped answering"),
    ],
)
def test_each_lift_fault_latches_and_pauses_the_belt(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, scenario: str, reason_words: str
) -> None:
    code, out, records = simulate(
        capsys, tmp_path, "bruce", "--machine", "sim-incline", "--scenario", scenario
    )
    assert code == EXIT_NOT_COMPLETED, out
    (injected,) = of_kind(records, "fault_injected")
    faults = of_kind(records, "incline_fault")
    assert faults, out
    first = faults[0]
    assert first["t_s"] >= injected["t_s"]
    assert any(reason_words in f["reason"] for f in faults), faults
    assert first["belt_stops"] is True
    assert "incline   FAULT" in out
    # the belt's controlled stop: the fault's pause, accepted, then the belt at standstill
    pauses = [
        r
        for r in of_kind(records, "command")
        if r["command"] == "pause" and r["source"] == "incline fault"
    ]
    assert pauses
    assert pauses[0]["accepted"] is True
    assert pauses[0]["t_s"] - first["t_s"] < 0.1
    stopped = [
        r
        for r in of_kind(records, "transition")
        if r["new"] == "stopped" and r["t_s"] > first["t_s"]
    ]
    assert stopped
    # nothing started the belt again after the fault
    starts = [
        r
        for r in of_kind(records, "command")
        if r["command"] == "start" and r["t_s"] > first["t_s"] and r["accepted"]
    ]
    assert starts == []
    assert of_kind(records, "session_end")[0]["outcome"] != "completed"


def test_a_machine_without_an_actuator_keeps_the_manual_prompt(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    head, _, _ = SIM_INCLINE_TEXT.partition("[incline.actuator]")
    machine = tmp_path / "manual-incline.toml"
    machine.write_text(head)
    code, out, records = simulate(capsys, tmp_path, "bruce", "--machine", str(machine))
    assert code == EXIT_OK, out
    assert "INCLINE 10 %: set it by hand" in out
    assert "incline driven" not in out
    assert not any(r.get("incline_driven") for r in of_kind(records, "segment"))


RTU_DRIVE = """
[drive]
kind = "modbus"
map = "generic"
kmh_per_hz = 0.1
[drive.link]
kind = "rtu"
port = "/dev/ttyUSB0"
baudrate = {baud}
parity = "E"
"""

RELAY_ON_DRIVE_BUS = """
[incline.actuator]
kind = "relay"
link = "drive"
device_id = 3
up_coil = {up}
down_coil = {down}
"""


def rtu_machine(tmp_path: Path, baud: int, rate_hz: int, actuator: str) -> Path:
    """sim-incline.toml with an RTU drive, the loop at `rate_hz` and `actuator`."""
    head, _, _ = SIM_INCLINE_TEXT.partition("[incline.actuator]")
    text = head.replace('[drive]\nkind = "sim"', RTU_DRIVE.format(baud=baud), 1)
    text = text.replace("rate_hz = 50", f"rate_hz = {rate_hz}", 1)
    before, _, after = text.partition("[drive.belt]")
    # the belt section belongs to the simulated drive only
    after = after[after.index("[loop]") :]
    path = tmp_path / f"rtu-{baud}-{rate_hz}.toml"
    path.write_text(before + after + actuator)
    return path


def budget_refusal(path: Path, profile: Path) -> str | None:
    try:
        load_session(path, profile, None)
    except ConfigError as exc:
        lines = [p.reason for p in exc.problems if p.field == "loop.rate_hz"]
        return lines[0] if lines else None
    return None


def test_the_rtu_wire_budget_counts_the_actuator_on_the_drive_bus(tmp_path: Path) -> None:
    """A loop rate the drive's bus carries alone is refused once the lift shares it (one
    04 read plus one 15 write, or two 05 writes with coils apart, per cycle)."""
    profile = PROFILES / "demo-short.toml"
    # find a rate that fits without the actuator at 19200 baud and fails with it
    fits = [
        rate
        for rate in range(10, 101, 5)
        if budget_refusal(rtu_machine(tmp_path, 19200, rate, ""), profile) is None
    ]
    assert fits
    top = max(fits)
    adjacent = RELAY_ON_DRIVE_BUS.format(up=0, down=1)
    apart = RELAY_ON_DRIVE_BUS.format(up=0, down=5)
    with_lift = budget_refusal(rtu_machine(tmp_path, 19200, top, adjacent), profile)
    assert with_lift is not None
    assert "transactions" in with_lift
    # two 05 writes cost more than one 15: the highest rate that fits is lower still
    adjacent_fits = [
        r
        for r in fits
        if budget_refusal(rtu_machine(tmp_path, 19200, r, adjacent), profile) is None
    ]
    apart_fits = [
        r for r in fits if budget_refusal(rtu_machine(tmp_path, 19200, r, apart), profile) is None
    ]
    assert adjacent_fits
    assert max(adjacent_fits) < top
    assert max(apart_fits, default=0) <= max(adjacent_fits)
    n_adjacent = int(with_lift.split(" transactions")[0].rsplit("(", 1)[1])
    apart_msg = budget_refusal(rtu_machine(tmp_path, 19200, top, apart), profile)
    assert apart_msg is not None
    n_apart = int(apart_msg.split(" transactions")[0].rsplit("(", 1)[1])
    assert n_apart == n_adjacent + 1
    # the actuator on a bus of its own costs the drive's bus nothing
    own = RELAY_ON_DRIVE_BUS.replace('link = "drive"', "").format(up=0, down=1)
    own += '[incline.actuator.link]\nkind = "tcp"\nhost = "192.0.2.1"\nport = 502\n'
    assert budget_refusal(rtu_machine(tmp_path, 19200, top, own), profile) is None


async def test_simulate_replaces_a_modbus_actuator_with_the_simulators_lift(
    tmp_path: Path,
) -> None:
    """build_sim_session runs any machine file on the simulator: its Modbus lift becomes
    the simulator's at the machine's profile rate, and the session drives it."""
    machine = rtu_machine(tmp_path, 115200, 20, RELAY_ON_DRIVE_BUS.format(up=0, down=1))
    files = load_session(machine, PROFILES / "bruce.toml", None)
    events = EventLog(tmp_path / "events.jsonl")
    session = build_sim_session(files, VirtualClock(), events, ScriptedOperator())
    incline = session.loop.p.incline
    assert isinstance(incline, SimIncline)
    rng = session.loop.p.machine.incline
    assert rng is not None
    assert isinstance(rng.actuator, SimInclineConfig)
    assert rng.actuator.travel_pct_per_s == rng.rate_pct_per_s
    session.loop.p.max_session_s = 40.0
    await session.loop.run()
    events.close()
    assert incline.lift.position_pct > 5.0  # climbing to Bruce's 10 % by then


TCP_DRIVE = """
[drive]
kind = "modbus"
map = "generic"
kmh_per_hz = 0.1
[drive.link]
kind = "tcp"
host = "127.0.0.1"
port = 1502
"""


@pytest.mark.parametrize("written", ['link = "drive"', "same link written out"])
async def test_an_actuator_on_the_drives_link_shares_its_client(
    tmp_path: Path, written: str
) -> None:
    """Named "drive" or with the drive's link written out: one Modbus client on the bus
    (two clients on one serial port would garble each other)."""
    head, _, _ = SIM_INCLINE_TEXT.partition("[incline.actuator]")
    text = head.replace('[drive]\nkind = "sim"', TCP_DRIVE, 1)
    before, _, after = text.partition("[drive.belt]")
    actuator = '[incline.actuator]\nkind = "relay"\n'
    if written == 'link = "drive"':
        actuator += 'link = "drive"\n'
    else:
        actuator += '[incline.actuator.link]\nkind = "tcp"\nhost = "127.0.0.1"\nport = 1502\n'
    machine = tmp_path / "tcp.toml"
    machine.write_text(before + after[after.index("[loop]") :] + actuator)
    files = load_session(machine, PROFILES / "bruce.toml", None)
    events = EventLog(tmp_path / "events.jsonl")
    session = build_session(files, VirtualClock(), events)
    incline = session.loop.p.incline
    assert isinstance(incline, RelayIncline)
    drive = session.loop.p.drive
    assert isinstance(drive, ModbusDrive)
    assert incline.link is drive.link
    assert drive.link.users == 2  # the drive and the lift (the inputs are simulated here)
    events.close()
