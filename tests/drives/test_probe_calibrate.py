"""Commissioning tools: `drive probe` reads and never writes; `calibrate` does the arithmetic."""

from __future__ import annotations

import subprocess
import sys

import pytest
from rigs import KMH_PER_HZ, free_port  # type: ignore[import-not-found]

from treadctl.config.machine import SimBelt, TcpLink
from treadctl.drives.calibrate import from_measurement, from_mechanics
from treadctl.drives.probe import probe
from treadctl.drives.regmap import BUILTIN_MAPS, load_map
from treadctl.safety.types import Direction
from treadctl.sim.server import SimServer
from treadctl.sim.world import BeltSim, Panel


@pytest.mark.parametrize("map_name", BUILTIN_MAPS)
async def test_probe_reads_status_fault_and_watchdog_and_writes_nothing(map_name: str) -> None:
    regmap = load_map(map_name)
    belt = BeltSim(SimBelt(person_load_kmh=0.0), Panel())
    belt.direction = Direction.BACKWARD
    belt.speed_kmh = 1.5
    belt.trip(7)
    server = SimServer(regmap, belt, KMH_PER_HZ)
    port = free_port()
    await server.start_tcp("127.0.0.1", port)
    try:
        before = (dict(server.model.params), server.model.word, belt.commands_seen)
        lines = await probe(
            TcpLink(kind="tcp", host="127.0.0.1", port=port, timeout_s=0.5), regmap, 1, KMH_PER_HZ
        )
        after = (dict(server.model.params), server.model.word, belt.commands_seen)
    finally:
        await server.stop()
    text = "\n".join(lines)
    assert "error" not in text
    assert "NOT ready" in text
    assert f"fault          7: {regmap.fault_text(7)}" in text
    assert "does NOT stop the belt" in text  # every drive's factory comm-loss action
    assert before == after  # nothing written


async def test_probe_reports_an_unreachable_drive() -> None:
    lines = await probe(
        TcpLink(kind="tcp", host="127.0.0.1", port=free_port(), timeout_s=0.2),
        load_map("generic"),
        1,
        KMH_PER_HZ,
    )
    assert lines[-1].startswith("  error:")
    assert "cannot connect" in lines[-1]


def test_calibration_from_a_timed_measurement() -> None:
    # 10 revolutions of a 3.1 m belt in 45 s at 20 Hz: 2.48 km/h, 0.124 km/h per Hz
    cal = from_measurement(hz=20, revolutions=10, seconds=45, belt_length_m=3.1)
    assert cal.belt_kmh == pytest.approx(2.48)
    assert cal.kmh_per_hz == pytest.approx(0.124)


def test_calibration_from_the_mechanics() -> None:
    # 4-pole motor at 50 Hz: 25 rev/s; 1:1 onto a 100 mm roller: 7.854 m/s = 28.27 km/h
    assert from_mechanics(100, 1.0, 4) * 50 == pytest.approx(28.274, abs=1e-3)


@pytest.mark.parametrize(
    "bad", [{"hz": 0}, {"revolutions": 0}, {"seconds": -1}, {"belt_length_m": 0}]
)
def test_calibration_refuses_nonsense(bad: dict[str, float]) -> None:
    good = {"hz": 20.0, "revolutions": 10.0, "seconds": 45.0, "belt_length_m": 3.1}
    args = good | bad
    with pytest.raises(ValueError, match="must all be positive"):
        from_measurement(
            args["hz"], int(args["revolutions"]), args["seconds"], args["belt_length_m"]
        )


def test_calibrate_cli_prints_the_machine_file_line() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "treadctl.cli",
            "calibrate",
            "--hz",
            "20",
            "--revolutions",
            "10",
            "--seconds",
            "45",
            "--belt-length-m",
            "3.1",
        ],
        capture_output=True,
        text=True,
        check=True,
        stdin=subprocess.DEVNULL,
    ).stdout
    assert "kmh_per_hz = 0.12400   # put this in the machine file, [drive]" in out


def test_calibrate_cli_without_values_and_no_terminal_says_what_is_missing() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "treadctl.cli", "calibrate", "--hz", "20"],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert "missing revolutions counted" in done.stderr
