"""HIL scenarios: `treadctl sim` and `treadctl run` as separate processes, over Modbus TCP
and over Modbus RTU on a socat pty pair. The simulator's view is the truth: what the drive
was told, and what the belt did."""

from __future__ import annotations

import signal
import time
from typing import Any

from runner import Hil  # type: ignore[import-not-found]

FORWARD_WALK = """
name = "HIL forward walk"
[[blocks]]
  [[blocks.segments]]
  direction = "forward"
  duration_s = 300
  speed_kmh = 2.0
"""

RAILS_WALK = """
name = "HIL rails and direction"
[[blocks]]
  [[blocks.segments]]
  name = "forward"
  direction = "forward"
  duration_s = 3
  speed_kmh = 2.0
  [[blocks.segments]]
  name = "backward, until confident"
  direction = "backward"
  duration_s = 12
  speed_kmh = 1.4
  rail_policy = "until_confident"
  [[blocks.segments]]
  name = "backward, hold to run"
  direction = "backward"
  duration_s = 60
  speed_kmh = 1.2
  rail_policy = "hold_to_run"
"""

DWELL_S = 0.7  # the HIL machine's standstill dwell is 0.5 s


def running(st: dict[str, Any]) -> bool:
    return bool(st["run"]) and st["speed_kmh"] > 1.5


def stopped(st: dict[str, Any]) -> bool:
    return not st["run"] and st["speed_kmh"] == 0.0


def press_reset(h: Hil) -> None:
    """Reset as an operator does: once the belt has been at rest for the dwell time."""
    assert h.ctl is not None
    h.wait_status(stopped, what="belt at rest before reset")
    time.sleep(DWELL_S)
    h.type("reset")
    h.ctl.wait_for("interlock faulted -> stopped")


def reset_and_start(h: Hil) -> None:
    assert h.ctl is not None
    press_reset(h)
    h.type("start")
    h.ctl.wait_for("interlock stopped -> running")


def no_reversal_while_moving(h: Hil) -> None:
    for _, direction, speed in h.status()["direction_changes"]:
        assert speed <= 0.05, f"drive told to run {direction} while the belt moved at {speed}"


def test_safety_chain_stops_the_belt_and_nothing_restarts_without_reset_and_start(
    hil: Hil,
) -> None:
    h = hil
    h.start_controller(FORWARD_WALK, auto=False)
    assert h.ctl is not None
    h.ctl.wait_for("drive comm-loss watchdog 0.5 s")
    assert h.status()["watchdog_s"] == 0.5  # armed in the drive's own registers
    h.ctl.wait_for("session   HIL forward walk")
    reset_and_start(h)
    h.wait_status(running, what="belt running")

    # e-stop: latched, the drive is told to stop, the belt stops
    h.sim_cmd("open_estop")
    h.ctl.wait_for("interlock running -> faulted: emergency-stop chain open")
    h.wait_status(lambda st: not st["run"], timeout_s=1.0, what="stop command")
    h.wait_status(stopped, what="belt at rest")
    (latency,) = __import__("json").loads(h.sim_cmd("latency"))["latencies_s"]
    assert latency < 0.2

    # closing the chain restarts nothing
    h.sim_cmd("close_estop")
    time.sleep(1.5)
    assert stopped(h.status())
    h.type("start")
    assert "REFUSED: latched fault: reset first" in h.ctl.wait_for("command   start from console")
    h.type("reset")
    h.ctl.wait_for("interlock faulted -> stopped")
    time.sleep(1.0)
    assert stopped(h.status())  # a reset never moves the belt
    h.type("start")
    h.ctl.wait_for("interlock stopped -> running")
    h.wait_status(running, what="belt running again")

    # key pull
    h.sim_cmd("pull_key")
    h.ctl.wait_for("interlock running -> faulted: safety key pulled")
    h.wait_status(stopped, what="belt at rest after key pull")
    h.sim_cmd("insert_key")
    reset_and_start(h)
    h.wait_status(running, what="belt running after key")

    # drive trip: the fault is named; one reset press clears drive and latch
    h.sim_cmd("drive_trip 7")
    line = h.ctl.wait_for("interlock running -> faulted")
    assert "faulted: drive reports a fault" in line  # first reason first
    assert line.endswith("(drive fault code 7)")
    h.wait_status(stopped, what="belt at rest after trip")
    press_reset(h)
    assert any("fault reset pulsed (code 7)" in x for x in h.ctl.seen)
    assert h.status()["fault_code"] == 0
    assert stopped(h.status())

    h.type("quit")
    code = h.wait_exit()
    tail = "\n".join(h.ctl.seen[-40:])
    assert code == 4, tail  # session not completed (1 would be a crash)
    assert any("outcome: stopped by quit" in x for x in h.ctl.seen), tail
    no_reversal_while_moving(h)


def test_handrail_policies_and_direction_only_at_standstill(hil: Hil) -> None:
    h = hil
    h.start_controller(RAILS_WALK, auto=False)
    assert h.ctl is not None
    h.ctl.wait_for("session   HIL rails and direction")
    reset_and_start(h)
    h.ctl.wait_for("segment   2/3 backward, until confident")
    h.ctl.wait_for("command   set_direction backward from profile: accepted")
    assert stopped(h.status())
    h.type("start")
    h.ctl.wait_for("interlock stopped -> running")
    h.wait_status(
        lambda st: st["direction"] == "backward" and st["speed_kmh"] > 1.3,
        what="backward at 1.4 km/h",
    )

    # until_confident: released rails cap the speed, held rails lift the cap
    h.sim_cmd("release_rails")
    h.wait_status(
        lambda st: st["reference_kmh"] <= 0.8 + 1e-6 and st["speed_kmh"] < 0.85,
        what="speed capped at the rail release cap",
    )
    assert h.status()["run"]  # capped, not stopped
    h.sim_cmd("hold_rails")
    h.wait_status(lambda st: st["speed_kmh"] > 1.3, what="cap lifted")

    # hold_to_run: released past the grace time -> controlled stop, no restart by itself
    h.ctl.wait_for("segment   3/3 backward, hold to run", timeout_s=30)
    h.sim_cmd("release_rails")
    h.ctl.wait_for("both handrails released too long (hold-to-run)")
    h.wait_status(stopped, what="belt stopped on released rails")
    h.sim_cmd("hold_rails")
    time.sleep(1.5)
    assert stopped(h.status())
    h.type("start")
    h.ctl.wait_for("interlock stopped -> running")
    h.wait_status(lambda st: st["run"] and st["speed_kmh"] > 1.0, what="running again")
    h.type("quit")
    assert h.wait_exit() == 4, "\n".join(h.ctl.seen[-40:])
    changes = h.status()["direction_changes"]
    assert [d for _, d, _ in changes] == ["backward"]
    no_reversal_while_moving(h)


def test_comm_loss_and_a_killed_controller_stop_the_belt(hil: Hil) -> None:
    h = hil
    h.start_controller(FORWARD_WALK, auto=False)
    assert h.ctl is not None
    h.ctl.wait_for("session   HIL forward walk")
    reset_and_start(h)
    h.wait_status(running, what="belt running")

    # the line is cut: the controller latches, the drive's own watchdog stops the belt
    h.sim_cmd("silent on")
    h.ctl.wait_for("interlock running -> faulted")
    # a Delta with P09-02 = 1: the warning CE10 (58, 0x2100's high byte) and a ramp to stop
    st = h.wait_status(lambda st: st["comm_lost"], timeout_s=1.5, what="drive watchdog")
    assert (st["watchdog_s"], st["warning_code"], st["fault_code"]) == (0.5, 58, 0)
    # the run bit the drive last heard is still set (nothing reaches it), the belt is at rest
    h.wait_status(lambda st: st["speed_kmh"] == 0.0, what="belt at rest after comm loss")
    h.sim_cmd("silent off")
    h.ctl.wait_for("answering again")
    press_reset(h)  # a warning needs no drive reset: the latch alone
    assert not any("fault reset pulsed" in x for x in h.ctl.seen)
    h.type("start")
    h.ctl.wait_for("interlock stopped -> running")
    h.wait_status(running, what="belt running again")

    # SIGKILL: nothing of the controller is left to stop the belt but the drive's watchdog
    assert h.controller is not None
    killed = time.monotonic()
    h.controller.send_signal(signal.SIGKILL)
    st = h.wait_status(lambda st: st["comm_lost"], timeout_s=2.0, what="watchdog trip")
    assert time.monotonic() - killed < 1.0
    h.wait_status(lambda st: st["speed_kmh"] == 0.0, timeout_s=3.0, what="rest after SIGKILL")
    no_reversal_while_moving(h)
