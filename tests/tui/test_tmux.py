"""The dashboard as a person runs it: real processes in an 80x24 tmux terminal.

`treadctl serve` runs the controller (built-in simulator) in its own process;
`treadctl dashboard` runs in tmux and is driven with send-keys. The kill test kills
(or freezes) the dashboard with the belt running and watches the controller stop it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tui_term import DEADLINE_S, Served, Term, wait

from treadctl.api.client import ControllerClient
from treadctl.api.messages import Role, Status
from treadctl.config.loader import load_model
from treadctl.config.machine import MachineConfig
from treadctl.safety.types import Reason

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("tmux") is None, reason="tmux is not installed (scripts/test installs it)"
    ),
]
ROOT = Path(__file__).resolve().parents[2]


def standstill(top_line: str) -> bool:
    return "at standstill" in top_line and "not at standstill" not in top_line


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tmx-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def served(short_dir: Path) -> Iterator[Served]:
    served = Served(short_dir)
    yield served
    served.close()


@pytest.fixture
def term(short_dir: Path) -> Iterator[Term]:
    term = Term(short_dir)
    yield term
    term.close()


def test_a_session_in_an_80x24_terminal(served: Served, term: Term) -> None:
    term.start_dashboard(served.socket)
    term.see("RESET REQUIRED", "press r", "SPACE STOP", "q quit", "e estop")
    wait(lambda: standstill(term.top_line()), "the power-on standstill")
    term.keys("r")
    # said before a stop ends it: the guide's line fits 80 columns whole
    term.see("✓ reset", "press s to start segment 1/3 FORWARD at 2.00 km/h  · space ends session")
    term.keys("s")
    term.see("START THE BELT?", "Before starting, check:")
    term.keys("Enter")
    wait(lambda: "RUNNING" in term.top_line(), "RUNNING")
    term.keys("+")  # the NOW line shows the new speed at once, not at the next segment
    term.see("✓ faster", "NOW  1/3 FORWARD  2.10 km/h (plan 2.00) for 00:15")
    term.keys("d")
    term.see("REFUSED direction backward", "stop first")
    term.keys("q")
    term.see("REFUSED quit", "not at verified standstill")
    # the profile's turnaround after its 15 s forward segment: the belt stops and the
    # controller sets it to BACKWARD; the operator starts it again
    wait(lambda: "BACKWARD" in term.top_line(), "the turnaround to BACKWARD", 60)
    term.see("stopped: profile asks the belt to stop")
    wait(lambda: standstill(term.top_line()), "standstill")
    term.keys("s")
    term.see("START THE BELT?")
    term.keys("y")
    wait(lambda: "RUNNING" in term.top_line(), "RUNNING backward")
    assert "BACKWARD" in term.top_line()
    term.keys("u")
    term.see("ACTUAL mph")
    # the simulated e-stop: a latched fault, and reset refused with the reason
    term.keys("e")
    term.see("LATCHED FAULT: emergency-stop chain open", "press r")
    term.keys("r")
    term.see("REFUSED reset: emergency-stop chain open")
    term.keys("Space")  # stop ends the session, and the answer says so
    term.see("a stop ends the session (p pauses)")
    term.see("SESSION ENDED")
    term.keys("q")
    wait(term.dead, "the dashboard to exit")
    wait(lambda: served.proc.poll() is not None, "the controller to finish")


async def _observe_stop(served: Served, kill: signal.Signals, term: Term) -> tuple[Status, float]:
    """Kill (or freeze) the dashboard with the belt running; the status once the
    controller has stopped the belt, and the controller-clock time from kill to stopping."""
    observer = ControllerClient(served.socket, Role.OBSERVER, "kill-test")
    await observer.connect()
    try:
        await _wait_status(observer, lambda s: s.mode == "running" and (s.actual_kmh or 0) > 0.5)
        assert observer.status is not None
        killed_at = observer.status.t_s
        os.kill(term.pid, kill)
        stopping_at: float | None = None
        async with asyncio.timeout(DEADLINE_S):
            async for msg in observer.messages():
                if not isinstance(msg, Status):
                    continue
                if stopping_at is None and msg.mode != "running":
                    stopping_at = msg.t_s
                if msg.mode == "stopped" and msg.at_standstill:
                    assert stopping_at is not None
                    return msg, stopping_at - killed_at
        raise AssertionError("the controller closed before the belt stopped")
    finally:
        await observer.close()


async def _wait_status(client: ControllerClient, cond: object) -> None:
    assert callable(cond)
    async with asyncio.timeout(DEADLINE_S):
        async for msg in client.messages():
            if isinstance(msg, Status) and cond(msg):
                return


@pytest.mark.parametrize("kill", [signal.SIGKILL, signal.SIGSTOP], ids=["kill-9", "freeze"])
async def test_a_dead_or_frozen_dashboard_stops_the_belt(
    served: Served, term: Term, kill: signal.Signals
) -> None:
    timeout_s = load_model(
        ROOT / "src/treadctl/samples/machines/sim.toml", MachineConfig
    ).operator.presence_timeout_s
    term.start_dashboard(served.socket)
    term.see("RESET REQUIRED")
    wait(lambda: standstill(term.top_line()), "the power-on standstill")
    term.keys("r")
    term.see("✓ reset")
    term.keys("s")
    term.see("START THE BELT?")
    term.keys("Enter")
    wait(lambda: "RUNNING" in term.top_line(), "RUNNING")
    status, after_s = await _observe_stop(served, kill, term)
    assert status.reasons == [Reason.OPERATOR_ABSENT.value]
    assert status.indicators[-1].name == "operator"
    assert status.indicators[-1].level.value == "fault"
    # the last heartbeat left at most heartbeat_s (timeout / 4) before the kill
    assert after_s >= timeout_s * 0.75 - 0.1, f"stopped {after_s:.2f} s after the kill"
    print(f"{kill.name}: belt stopping {after_s:.2f} s after the kill (timeout {timeout_s} s)")
    printed = served.status()
    assert "STOPPED" in printed
    assert Reason.OPERATOR_ABSENT.value in printed
    if kill is signal.SIGSTOP:
        os.kill(term.pid, signal.SIGCONT)  # thawed, it shows what happened meanwhile
        term.see(Reason.OPERATOR_ABSENT.value)
        term.keys("q")  # at standstill: quit is accepted and the session ends
        wait(term.dead, "the dashboard to exit")


TURNAROUND = """
name = "tmux turnaround"
[[blocks]]
name = ""
  [[blocks.segments]]
  direction = "forward"
  duration_s = 3
  speed_kmh = 2.0
  [[blocks.segments]]
  direction = "backward"
  duration_s = 60
  speed_kmh = 1.0
  rail_policy = "until_confident"
"""


@pytest.mark.parametrize("machine", ["sim-turn", "sim"], ids=["walker-turns", "belt-reverses"])
def test_the_screen_leads_the_operator_through_the_turnaround(
    short_dir: Path, term: Term, machine: str
) -> None:
    """forward, then backward: at the turnaround the screen says what happens and which key
    does it, and the start dialog shows the backward segment's own checklist."""
    profile = short_dir / "turn.toml"
    profile.write_text(TURNAROUND, encoding="utf-8")
    served = Served(short_dir, ROOT / f"src/treadctl/samples/machines/{machine}.toml", profile)
    try:
        turns = machine == "sim-turn"
        term.start_dashboard(served.socket)
        term.see("RESET REQUIRED")
        wait(lambda: standstill(term.top_line()), "the power-on standstill")
        term.keys("r")
        term.see("✓ reset", "press s to start segment 1/2 FORWARD at 2.00 km/h")
        term.keys("s")
        first = term.see("START THE BELT?", "walker faces the console, walks forward")
        assert "ONLY stop" not in first
        term.keys("Enter")
        wait(lambda: "RUNNING" in term.top_line(), "RUNNING")
        assert "d dir" not in term.screen()  # profiles refuse d: it is not offered
        term.see("belt stopping for the turnaround")
        if turns:
            screen = term.see(
                "walker turns round to face AWAY from the console: press t when turned",
                "t turned",
            )
            assert "BACKWARD" in screen.splitlines()[0]
            assert "BACKWARD · walker to turn round" in screen
            # s before t: the dialog warns, and the controller refuses with the reason
            term.keys("s")
            dialog = term.see("START THE BELT?", "Segment 2/2: BACKWARD", "press t first")
            assert "walker faces AWAY from the console" in dialog
            assert "their ONLY stop" in dialog
            term.keys("y")
            term.see("REFUSED start", "walker not confirmed facing")
            assert standstill(term.top_line())
            term.keys("t")
            term.see("✓ walker turned (backward)")
        term.see("press s to start segment 2/2 BACKWARD at 1.00 km/h")
        term.keys("s")
        dialog = term.see("START THE BELT?", "Segment 2/2: BACKWARD")
        if turns:
            assert "walker faces AWAY from the console" in dialog
            assert "walker turned round at standstill" in dialog
            assert "their ONLY stop" in dialog
            assert "sides swapped" in dialog
        else:
            assert "walker faces the console, walks backward (belt runs backward)" in dialog
            assert "ONLY stop" not in dialog
        term.keys("y")
        wait(lambda: "RUNNING" in term.top_line(), "RUNNING backward")
        assert "BACKWARD" in term.top_line()
        if turns:
            term.see("BACKWARD · walker turned round", "the clip-on key is their only stop")
            term.see("held · walker's right")
        term.keys("Space")
        term.see("SESSION ENDED")
        term.keys("q")
        wait(term.dead, "the dashboard to exit")
        wait(lambda: served.proc.poll() is not None, "the controller to finish")
    finally:
        served.close()
