"""The metronome bridge on a real controller (built-in simulator, real clock, real socket
server): it follows the segments' cadences, falls silent when the belt stops, and with no
sound output says so once in the event log at start."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from treadctl.api.messages import Status
from treadctl.app import load_session
from treadctl.clock import MonotonicClock
from treadctl.config.metronome import MetronomeConfig
from treadctl.metronome.beat import wanted_cadence
from treadctl.metronome.bridge import NO_SOUND, MetronomeBridge
from treadctl.serve import Controller
from treadctl.sim.operator import ScriptedOperator
from treadctl.store.eventlog import EventLog

ROOT = Path(__file__).resolve().parents[2]
SIM_MACHINE = ROOT / "src/treadctl/samples/machines/sim.toml"
PATIENT = ROOT / "src/treadctl/samples/patients/demo.toml"
DEADLINE_S = 60.0

SEGMENT = """
  [[blocks.segments]]
  direction = "forward"
  duration_s = {seconds}
  speed_kmh = 2.0
"""
PROFILE = (
    'name = "metronome test walk"\nsupervision = "none"\n[[blocks]]\n'
    + SEGMENT.format(seconds=4) + "  cadence_spm = 90\n"
    + SEGMENT.format(seconds=4) + "  cadence_spm = 120\n"
    + SEGMENT.format(seconds=3)
)  # fmt: skip


@pytest.fixture
def short_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="tm-", dir="/tmp") as d:  # a short socket path
        yield Path(d)


async def wait_until(cond: Callable[[], bool], what: str, task: asyncio.Task[object]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not cond():
        if task.done():
            task.result()
            raise AssertionError(f"the session ended before: {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        await asyncio.sleep(0.05)


@pytest.mark.usefixtures("frozen_heap")
async def test_bridge_follows_the_segments(tmp_path: Path, short_dir: Path) -> None:
    profile = tmp_path / "profile.toml"
    profile.write_text(PROFILE)
    files = load_session(SIM_MACHINE, profile, PATIENT)
    events = EventLog(tmp_path / "events.jsonl")
    # A device no machine has: the real PortAudio (or its absence) answers, never a fake.
    bridge = MetronomeBridge(MetronomeConfig(enabled=True, device="no-such-speaker"))
    statuses: list[Status] = []
    ctl = Controller(
        files,
        MonotonicClock(),
        events,
        short_dir / "ctl.sock",
        operator=ScriptedOperator(confirm_delay_s=0.2, turnaround_s=0.5),
        bridges=[bridge],
        on_ready=lambda api: api.status_listeners.append(statuses.append),
    )
    task: asyncio.Task[object] = asyncio.create_task(ctl.run())
    try:
        await wait_until(lambda: bridge.cadence_spm == 90.0, "cadence 90", task)
        await wait_until(lambda: bridge.cadence_spm == 120.0, "cadence 120", task)
        await wait_until(lambda: bridge.cadence_spm is None, "silent in segment 3", task)
        assert statuses[-1].segment is not None
        summary = await asyncio.wait_for(task, DEADLINE_S)
    finally:
        if not task.done() and ctl.api is not None:
            ctl.api.loop.request_quit("test")
        await asyncio.wait_for(asyncio.shield(task), DEADLINE_S)
        events.close()
    assert summary is not None
    cadences = [c for _, c in bridge.changes]
    assert cadences == [90.0, 120.0, None]  # each change once, no flicker
    times = [t for t, _ in bridge.changes]
    assert times == sorted(times)
    warnings = [r for r in events.records if r["kind"] == "warning"]
    sound = [r for r in warnings if str(r.get("text", "")).startswith(NO_SOUND)]
    assert len(sound) == 1, warnings
    assert bridge.opened.is_set()
    assert bridge.output is not None
    assert bridge.output.stream is None

    # What silences it, on a real status from this run: a running segment with a cue clicks,
    # and every state where the belt is not running (or the session is over) does not.
    running = next(s for s in statuses if s.mode == "running" and s.cue_spm == 120.0)
    assert wanted_cadence(running) == 120.0
    for update in (
        {"mode": "stopping"},
        {"mode": "stopped"},
        {"mode": "faulted", "latched": True},
        {"latched": True},
        {"ended": True},
        {"cue_spm": None},
    ):
        assert wanted_cadence(running.model_copy(update=update)) is None, update


async def test_stop_before_start_is_harmless() -> None:
    """A controller that fails before starting its bridges still stops them."""
    bridge = MetronomeBridge(MetronomeConfig(enabled=True))
    bridge.scheduler.set_cadence(100.0)
    await bridge.stop()
    assert bridge.cadence_spm is None  # silenced
    assert bridge.output is None  # nothing was opened
