"""`[drive] kind = "ftms"` in the machine file: strict and bounded, refused on a machine
whose belt reverses and with a fieldbus read timeout, built into a session by
`build_session` (the shipped ftms.toml against the emulated treadmill on the virtual BLE
link), and replaced by the simulator in virtual time.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from treadctl.app import build_session, build_sim_session, ftms_drive, load_session
from treadctl.ble.ftms_emulator import EmulatedTreadmill
from treadctl.clock import MonotonicClock, VirtualClock
from treadctl.config.errors import ConfigError
from treadctl.config.loader import load_model
from treadctl.config.machine import FtmsDriveConfig, MachineConfig
from treadctl.drives.ble_link import TransportLink
from treadctl.drives.ftms import FtmsDrive, Range
from treadctl.heartrate.emulator import VirtualRadio
from treadctl.safety.types import Command, CommandKind, Mode
from treadctl.sim.backends import SimDrive
from treadctl.store.eventlog import EventLog

pytestmark = pytest.mark.usefixtures("frozen_heap")
REPO = Path(__file__).resolve().parents[2]
FTMS = REPO / "src/treadctl/samples/machines/ftms.toml"
SHIPPED_ADDRESS = "F7:1A:33:0C:52:9E"
TREADMILL = "F7:00:00:00:00:03"
WAIT_S = 30.0
PROFILE = """\
name = "FTMS walk"
supervision = "none"
[[blocks]]
  [[blocks.segments]]
  direction = "forward"
  duration_min = 5
  speed_kmh = 2.0
"""


def machine_file(tmp_path: Path, old: str, new: str) -> Path:
    text = FTMS.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "machine.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def problems(path: Path) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        load_model(path, MachineConfig)
    return [(p.field or "", p.reason) for p in info.value.problems]


def test_the_shipped_machine_file_loads() -> None:
    machine = load_model(FTMS, MachineConfig)
    assert isinstance(machine.drive, FtmsDriveConfig)
    assert machine.drive.address == SHIPPED_ADDRESS
    assert machine.walker_turns
    assert machine.watchdog.drive_read_timeout_s >= 1.0


def test_a_belt_that_reverses_is_refused(tmp_path: Path) -> None:
    path = machine_file(
        tmp_path, 'backward_walking = "walker_turns"', 'backward_walking = "belt_reverses"'
    )
    ((field, reason),) = problems(path)
    assert field == "backward_walking"
    assert "forward only" in reason
    assert "walker_turns" in reason


def test_a_fieldbus_read_timeout_is_refused(tmp_path: Path) -> None:
    path = machine_file(tmp_path, "drive_read_timeout_s = 1.0", "drive_read_timeout_s = 0.25")
    ((field, reason),) = problems(path)
    assert field == "watchdog.drive_read_timeout_s"
    assert "Bluetooth" in reason
    assert "at least 1 s" in reason


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('address = "F7:1A:33:0C:52:9E"', 'address = "treadmill"', "drive.address"),
        ('address = "F7:1A:33:0C:52:9E"', 'address = "' + "F7:" * 200 + '"', "drive.address"),
        ('own_address = "C0:7E:AD:C7:00:02"', 'own_address = "C0:7E"', "drive.own_address"),
        ('transport = "usb:0"', 'transport = ""', "drive.transport"),
        ("stale_after_s = 1.0", "stale_after_s = nan", "drive.stale_after_s"),
        ("stale_after_s = 1.0", "stale_after_s = 30.0", "drive.stale_after_s"),
        ("answer_timeout_s = 2.0", "answer_timeout_s = inf", "drive.answer_timeout_s"),
        ("connect_timeout_s = 10.0", "connect_timeout_s = 0.0", "drive.connect_timeout_s"),
        ("connect_timeout_s = 10.0", 'connect_timeout_s = "10"', "drive.connect_timeout_s"),
        ('kind = "ftms"', 'kind = "ftms"\nwatchdog_s = 1.0', "drive.watchdog_s"),
    ],
)
def test_hostile_fields_are_refused(tmp_path: Path, old: str, new: str, field: str) -> None:
    fields = [f for f, _ in problems(machine_file(tmp_path, old, new))]
    assert field in fields


def test_the_factory_uses_the_machine_files_dongle_and_timeouts() -> None:
    cfg = load_model(FTMS, MachineConfig).drive
    assert isinstance(cfg, FtmsDriveConfig)
    drive = ftms_drive(cfg)
    assert isinstance(drive, FtmsDrive)
    assert drive.reverse_allowed is False
    assert (drive.address, drive.connect_timeout_s) == (cfg.address, cfg.connect_timeout_s)
    assert (drive.answer_timeout_s, drive.stale_after_s) == (
        cfg.answer_timeout_s,
        cfg.stale_after_s,
    )
    link = drive.link
    assert isinstance(link, TransportLink)
    assert (link.spec, link.own_address) == (cfg.transport, cfg.own_address)
    assert link.open_timeout_s == cfg.connect_timeout_s


def test_virtual_time_runs_the_simulated_belt_instead(tmp_path: Path) -> None:
    profile = tmp_path / "walk.toml"
    profile.write_text(PROFILE, encoding="utf-8")
    files = load_session(FTMS, profile, None)
    events = EventLog(tmp_path / "events.jsonl")
    try:
        session = build_sim_session(files, VirtualClock(), events)
        assert isinstance(session.loop.p.drive, SimDrive)
        assert session.belt is not None
    finally:
        events.close()


def mode(loop: Any) -> Mode | None:
    out = loop.snapshot.outputs
    return None if out is None else out.mode


async def run_until(run: asyncio.Task[Any], cond: Any) -> None:
    async with asyncio.timeout(WAIT_S):
        while not cond():
            if run.done():
                run.result()
            await asyncio.sleep(0.02)


async def drive_at_2_kmh(tmp_path: Path, stop: str) -> None:
    """A session built from the machine file runs the emulated treadmill's belt at the
    segment's 2 km/h; then `stop` ("key": its safety key, "quit": the operator's stop)
    must bring the belt to a verified standstill."""
    profile = tmp_path / "walk.toml"
    profile.write_text(PROFILE, encoding="utf-8")
    files = load_session(machine_file(tmp_path, SHIPPED_ADDRESS, TREADMILL), profile, None)
    radio = VirtualRadio()
    treadmill = EmulatedTreadmill(radio, TREADMILL, speed_range=Range(0.5, 10.0, 0.1))
    await treadmill.start()
    events = EventLog(tmp_path / "events.jsonl")
    session = build_session(
        files, MonotonicClock(), events, ble_link=radio.central("C0:7E:AD:C7:00:05")
    )
    loop = session.loop
    assert isinstance(loop.p.drive, FtmsDrive)
    assert session.belt is None  # nothing simulated: the belt is the treadmill's
    run = asyncio.create_task(loop.run())
    try:
        async with asyncio.timeout(WAIT_S):
            while mode(loop) is not Mode.STOPPED:
                if run.done():
                    run.result()
                loop.submit(Command(CommandKind.RESET, "test"))
                await asyncio.sleep(0.5)
        loop.submit(Command(CommandKind.START, "test"))
        await run_until(
            run, lambda: mode(loop) is Mode.RUNNING and abs(treadmill.speed_kmh - 2.0) < 0.15
        )
        if stop == "key":
            await treadmill.pull_safety_key()
            await run_until(run, lambda: mode(loop) is Mode.FAULTED)
        loop.request_quit("test")
        summary = await asyncio.wait_for(run, WAIT_S)
        assert "NOT verified" not in summary.outcome
        assert treadmill.speed_kmh == 0.0
    finally:
        if not run.done():
            run.cancel()
            with contextlib.suppress(BaseException):
                await run
        await loop.close()
        await treadmill.stop()
        events.close()


async def test_a_session_from_the_machine_file_drives_the_treadmill(tmp_path: Path) -> None:
    await drive_at_2_kmh(tmp_path, "key")


async def test_a_controlled_stop_reaches_standstill(tmp_path: Path) -> None:
    """The interlock's controlled stop ramps the setpoint down through the treadmill's
    slowest speed: held there, the belt never stopped (a stop that never ended); below
    it, FtmsDrive sends a stop and the treadmill's own ramp brings the belt to rest."""
    await drive_at_2_kmh(tmp_path, "quit")


def test_the_app_imports_no_bluetooth_stack_until_an_ftms_session() -> None:
    """bumble takes about a second to import: a Modbus or simulated session never pays."""
    code = (
        "import sys, treadctl.app; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'bumble'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"


def test_check_takes_the_shipped_machine_by_name(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error", "-m", "treadctl.cli", "check", "--machine", "ftms",
         "--profile", "demo-short", "--offline"],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("ok: ")
