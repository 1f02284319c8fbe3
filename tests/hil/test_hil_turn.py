"""A turn-round machine in HIL: the walker turns, the belt never reverses. `treadctl sim`
and `treadctl run` as separate processes over Modbus TCP and RTU (a socat pty pair); the
simulator's record of every command the drive heard is the truth."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runner import Hil  # type: ignore[import-not-found]

THERE_AND_BACK = """
name = "HIL there and back"
[[blocks]]
  [[blocks.segments]]
  name = "forward"
  direction = "forward"
  duration_s = 2
  speed_kmh = 2.0
  [[blocks.segments]]
  name = "backward"
  direction = "backward"
  duration_s = 4
  speed_kmh = 1.2
  [[blocks.segments]]
  name = "forward again"
  direction = "forward"
  duration_s = 2
  speed_kmh = 2.0
"""
DWELL_S = 0.7  # the HIL machine's standstill dwell is 0.5 s


@pytest.fixture(params=["tcp", "rtu"])
def turn_hil(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hil]:
    rig = Hil(str(request.param), tmp_path, backward_walking="walker_turns")
    try:
        yield rig
    finally:
        rig.close()


def at_rest(st: dict[str, Any]) -> bool:
    return not st["run"] and st["speed_kmh"] == 0.0


def walk(h: Hil, kmh: float) -> None:
    h.wait_status(
        lambda st: st["run"] and st["direction"] == "forward" and st["speed_kmh"] > kmh - 0.2,
        what=f"belt forward at {kmh} km/h",
    )


def turn_and_start(h: Hil, walking: str) -> None:
    """At a turnaround: a start before the walker's turn is confirmed is refused."""
    assert h.ctl is not None
    h.ctl.wait_for(f"command   set_direction {walking} from profile: accepted")
    h.wait_status(at_rest, what="belt at rest for the turn")
    time.sleep(DWELL_S)
    h.type("start")
    refused = h.ctl.wait_for("command   start from console")
    assert "REFUSED" in refused, refused
    assert "turn the walker round, then confirm the turn" in refused, refused
    h.type("turned")
    assert "accepted" in h.ctl.wait_for("command   confirm_turn from console")
    h.type("start")
    h.ctl.wait_for("interlock stopped -> running")


def test_a_turn_round_session_never_reverses_the_drive(turn_hil: Hil) -> None:
    h = turn_hil
    h.start_controller(THERE_AND_BACK, auto=False)
    assert h.ctl is not None
    h.ctl.wait_for("session   HIL there and back")
    h.wait_status(at_rest, what="at rest")
    time.sleep(DWELL_S)
    h.type("reset")
    h.ctl.wait_for("interlock faulted -> stopped")
    h.type("start")
    h.ctl.wait_for("interlock stopped -> running")
    walk(h, 2.0)

    turn_and_start(h, "backward")  # the walker turns to face away from the console
    walk(h, 1.2)  # walking backward, the belt runs forward, at the backward segment's speed
    turn_and_start(h, "forward")  # and back to face the console
    walk(h, 2.0)

    code = h.wait_exit(timeout_s=30)
    tail = "\n".join(h.ctl.seen[-40:])
    assert code == 0, tail
    assert any("session   ended: completed" in x for x in h.ctl.seen), tail
    st = h.status()
    assert st["direction_changes"] == [], st["direction_changes"]  # never told to reverse
    assert st["direction"] == "forward"
    assert not any("reverse command refused" in x for x in h.ctl.seen), tail
