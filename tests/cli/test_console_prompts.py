"""The headless console at each stop before a start: the checklist of the segment about to
start, and the word that comes next (`turned` at a turn-round machine's turnaround)."""

from __future__ import annotations

from pathlib import Path

from treadctl.app import load_session
from treadctl.cli import ConsolePrompts
from treadctl.control.loop import LoopSnapshot
from treadctl.safety.types import Decel, Direction, Mode, SafetyOutputs

ROOT = Path(__file__).resolve().parents[2]


def snap(
    index: int,
    mode: Mode,
    direction: Direction,
    standstill: bool = True,
    turn_pending: bool = False,
) -> LoopSnapshot:
    out = SafetyOutputs(
        drive_enable=mode is Mode.RUNNING,
        direction=direction,
        speed_cap_kmh=5.0,
        static_cap_kmh=5.0,
        target_kmh=0.0,
        decel=Decel.NORMAL,
        mode=mode,
        reasons=(),
        at_standstill=standstill,
        turn_pending=turn_pending,
    )
    return LoopSnapshot(outputs=out, segment_index=index)


def prompts(machine: str) -> ConsolePrompts:
    files = load_session(
        ROOT / f"src/treadctl/samples/machines/{machine}.toml",
        ROOT / "profiles/demo-short.toml",
        None,
    )
    return ConsolePrompts(files.machine, files.plan)


def test_a_turn_round_turnaround_asks_for_the_turn_then_the_start() -> None:
    p = prompts("sim-turn")
    fwd, back = Direction.FORWARD, Direction.BACKWARD
    assert p.lines(snap(0, Mode.STOPPED, fwd)) == [
        "ready: type `start` for segment 1/3 FORWARD at 2.00 km/h"
    ]
    assert p.lines(snap(0, Mode.RUNNING, fwd, standstill=False)) == []
    # the turnaround: stopping, then the profile sets BACKWARD, then the walker turns
    assert p.lines(snap(1, Mode.STOPPING, fwd, standstill=False)) == []
    assert p.lines(snap(1, Mode.STOPPED, fwd)) == []  # the profile has not set BACKWARD yet
    pending = p.lines(snap(1, Mode.STOPPED, back, turn_pending=True))
    assert pending[0] == (
        "turnaround: the walker turns round to face away from the console (belt at "
        "standstill); type `turned` once they have, then `start` segment 2/3 BACKWARD at "
        "1.00 km/h"
    )
    assert pending[1] == (
        "pre-start checklist for segment 2/3 BACKWARD at 1.00 km/h (confirm each before `start`):"
    )
    assert pending[2] == (
        "  [ ] walker faces AWAY from the console, walks backward (belt runs forward)"
    )
    assert any("their ONLY stop" in x for x in pending)
    assert p.lines(snap(1, Mode.STOPPED, back, turn_pending=True)) == []  # said once
    # turned: the start, without the checklist again
    assert p.lines(snap(1, Mode.STOPPED, back)) == [
        "ready: type `start` for segment 2/3 BACKWARD at 1.00 km/h"
    ]


def test_a_reversing_belt_prints_the_backward_checklist_at_the_stop() -> None:
    p = prompts("sim")
    ready = p.lines(snap(1, Mode.STOPPED, Direction.BACKWARD))
    assert ready[0] == "ready: type `start` for segment 2/3 BACKWARD at 1.00 km/h"
    assert ready[2] == "  [ ] walker faces the console, walks backward (belt runs backward)"
    assert not any("ONLY stop" in x for x in ready)
    # a pause and its stop: the checklist again before the resume
    assert p.lines(snap(1, Mode.RUNNING, Direction.BACKWARD, standstill=False)) == []
    again = p.lines(snap(1, Mode.STOPPED, Direction.BACKWARD))
    assert again[1].startswith("pre-start checklist for segment 2/3 BACKWARD")
