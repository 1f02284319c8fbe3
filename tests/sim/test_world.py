"""The simulated drive and belt behave like the hardware the safety case relies on."""

from __future__ import annotations

import time

import pytest

from treadctl.clock import MonotonicClock, VirtualClock
from treadctl.config.machine import SimBelt
from treadctl.drives.regmap import load_map
from treadctl.safety.types import Direction
from treadctl.sim.backends import SimDrive
from treadctl.sim.server import SimServer
from treadctl.sim.world import COMM_LOSS_FAULT_CODE, BeltSim, CommLossResponse, Panel, StopMode


def running_belt(speed_kmh: float = 3.0, watchdog_s: float = 0.5) -> BeltSim:
    belt = BeltSim(SimBelt(person_load_kmh=0.0), Panel(), watchdog_s=watchdog_s)
    t = 0.0
    while t < 3.0:  # feed the watchdog as a live controller does
        belt.command(True, Direction.FORWARD, speed_kmh, False)
        t += 0.02
        belt.advance(t)
    assert belt.speed_kmh == pytest.approx(speed_kmh, abs=0.01)
    return belt


def test_drive_watchdog_stops_the_belt_when_commands_stop() -> None:
    belt = running_belt()
    silent_from = belt.now_s
    belt.advance(silent_from + 0.45)
    assert belt.fault_code == 0
    assert belt.speed_kmh > 2.9
    belt.advance(silent_from + 0.55)
    assert belt.fault_code == COMM_LOSS_FAULT_CODE
    belt.advance(silent_from + 2.0)
    assert belt.speed_kmh == 0.0
    assert not belt.ready


def test_watchdog_off_keeps_running_which_is_why_connect_must_arm_it() -> None:
    belt = running_belt(watchdog_s=0.0)
    belt.advance(belt.now_s + 10.0)
    assert belt.speed_kmh > 2.9


def test_estop_chain_cuts_power_and_the_belt_coasts_whatever_the_command() -> None:
    belt = running_belt()
    belt.panel.estop_chain_ok = False
    t = belt.now_s
    for _ in range(50):  # the controller keeps asking for speed: power is gone anyway
        belt.command(True, Direction.FORWARD, 3.0, False)
        t += 0.02
        belt.advance(t)
    coast = SimBelt().coast_decel_kmh_per_s
    assert belt.speed_kmh == pytest.approx(max(0.0, 3.0 - coast * 1.0), abs=0.05)
    assert not belt.ready
    belt.advance(t + 2.0)
    assert belt.speed_kmh == 0.0


def test_key_pull_cuts_power_too() -> None:
    belt = running_belt()
    belt.panel.key_present = False
    belt.advance(belt.now_s + 0.2)
    assert not belt.powered
    assert belt.output_kmh == 0.0


def test_reverse_command_while_moving_ramps_through_zero_like_a_real_drive() -> None:
    """The drive would reverse on its own: only the interlock prevents it."""
    belt = running_belt(1.0)
    t = belt.now_s
    seen_zero = False
    for _ in range(300):
        belt.command(True, Direction.BACKWARD, 1.0, False)
        t += 0.02
        belt.advance(t)
        if belt.direction is Direction.FORWARD and belt.speed_kmh < 0.01:
            seen_zero = True
    assert seen_zero
    assert belt.direction is Direction.BACKWARD
    assert belt.speed_kmh == pytest.approx(1.0, abs=0.02)


def test_trip_and_ignored_commands() -> None:
    belt = running_belt()
    belt.trip(7)
    belt.advance(belt.now_s + 2.0)
    assert belt.fault_code == 7
    assert belt.speed_kmh == 0.0
    belt.reset_fault()
    belt.ignore_commands = True
    seen = belt.commands_seen
    belt.command(True, Direction.FORWARD, 2.0, False)
    assert belt.commands_seen == seen + 1  # heard (feeds the watchdog) ...
    assert belt.reference_kmh == 3.0  # ... but not acted on


def test_the_simulated_world_starts_on_the_clock_that_drives_it() -> None:
    """A world left at t = 0 would integrate the machine's whole uptime on its first
    advance (hours in 20 ms steps): long enough to miss a Modbus timeout at connect."""
    virtual = VirtualClock(start_s=5000.0)
    belt = BeltSim(SimBelt(), Panel())
    SimDrive(belt, virtual)
    assert belt.now_s == 5000.0
    belt = BeltSim(SimBelt(), Panel())
    before = time.monotonic()
    SimDrive(belt, MonotonicClock())
    assert before <= belt.now_s <= time.monotonic()
    belt = BeltSim(SimBelt(), Panel())
    before = time.monotonic()
    SimServer(load_map("generic"), belt, 0.1)
    assert before <= belt.now_s <= time.monotonic()


def silent_until_comm_loss(belt: BeltSim) -> None:
    t = belt.now_s
    while not belt.comm_lost:
        t += 0.02
        belt.advance(t)
        assert t < 10.0


@pytest.mark.parametrize(
    ("stop", "output_after_02_s"),
    [(StopMode.RAMP, 1.68), (StopMode.FAST, 0.36), (StopMode.COAST, 0)],
)
def test_the_drive_decides_how_comm_loss_stops_the_belt(
    stop: StopMode, output_after_02_s: float
) -> None:
    belt = running_belt()
    belt.comm_loss_action = lambda: CommLossResponse(stop, fault_code=28)
    silent_until_comm_loss(belt)
    assert belt.fault_code == 28
    belt.advance(belt.now_s + 0.2)
    # 0.22 s after expiry (one 20 ms substep to notice it) at 6 km/h/s, twice that, or cut
    assert belt.output_kmh == pytest.approx(output_after_02_s, abs=0.01)
    if stop is StopMode.COAST:
        assert belt.speed_kmh > 2.0  # unpowered output, the belt runs on
    belt.reset_fault()
    assert not belt.comm_lost


def test_a_comm_loss_warning_clears_when_telegrams_come_back_the_stop_does_not() -> None:
    belt = running_belt()
    belt.comm_loss_action = lambda: CommLossResponse(StopMode.RAMP, warning_code=58)
    silent_until_comm_loss(belt)
    assert (belt.fault_code, belt.warning_code) == (0, 58)
    belt.command(True, Direction.FORWARD, 3.0, False)
    belt.advance(belt.now_s + 2.0)
    assert belt.warning_code == 0
    assert belt.comm_lost  # still halted: the drive's own rule ends it (Delta: a stop command)
    assert belt.speed_kmh == 0.0
    belt.clear_comm_loss()
    belt.command(True, Direction.FORWARD, 3.0, False)
    belt.advance(belt.now_s + 0.45)  # inside the 0.5 s time-out
    assert belt.output_kmh > 2.0


def test_an_alarm_only_comm_loss_keeps_running_and_ends_with_the_next_telegram() -> None:
    belt = running_belt()
    belt.comm_loss_action = lambda: CommLossResponse(StopMode.NONE, warning_code=1 << 14)
    silent_until_comm_loss(belt)
    belt.advance(belt.now_s + 1.0)
    assert belt.speed_kmh > 2.9
    belt.heard()
    assert not belt.comm_lost
    assert belt.warning_code == 0


def test_no_comm_loss_action_means_nothing_happens() -> None:
    belt = running_belt()
    belt.comm_loss_action = lambda: None
    belt.advance(belt.now_s + 3.0)
    assert not belt.comm_lost
    assert belt.speed_kmh > 2.9
