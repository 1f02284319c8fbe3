"""Checklist lines added for heart-rate zones and for a drive without a comm-loss watchdog
(an FTMS treadmill, or a Modbus drive declared without one): on every start."""

from __future__ import annotations

from pathlib import Path

from treadctl.app import load_session
from treadctl.protocol.checklist import NO_WATCHDOG_KEY, checklist

REPO = Path(__file__).resolve().parents[2]
MACHINES = REPO / "src/treadctl/samples/machines"
DEMO = REPO / "src/treadctl/samples/patients/demo.toml"
ZONES = REPO / "profiles/hr-zone-walk.toml"


def test_zone_segments_name_their_zone_and_speeds() -> None:
    files = load_session(MACHINES / "sim-hr.toml", ZONES, DEMO)
    lines = checklist(files.machine, files.plan, 1)
    assert "heart-rate strap on and reading: the speed follows 105-118 bpm (1-4.5 km/h)" in lines
    assert NO_WATCHDOG_KEY not in lines  # the simulated drive has its watchdog


def test_a_drive_without_watchdog_asks_for_the_key_at_every_start() -> None:
    files = load_session(MACHINES / "sim-hr.toml", ZONES, DEMO)
    drive = files.machine.drive.model_copy(update={"kind": "ftms"})
    machine = files.machine.model_copy(update={"drive": drive})
    moving = [s.index for s in files.plan.segments if s.kind.value != "rest"]
    for index in moving:
        assert NO_WATCHDOG_KEY in checklist(machine, files.plan, index)
    rest = next(s.index for s in files.plan.segments if s.kind.value == "rest")
    assert NO_WATCHDOG_KEY not in checklist(machine, files.plan, rest)
