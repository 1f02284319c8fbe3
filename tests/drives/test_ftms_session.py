"""Whole sessions through the real control loop with an emulated FTMS treadmill on the
virtual BLE link: the missing watchdog is warned at connect and on every start, the
treadmill's safety key trips the interlock, and a treadmill that stops answering is a
comm-loss fault after which the session ends (standstill unverified, said so).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from treadctl.app import Session, SessionFiles, build_sim_session, load_session
from treadctl.ble.ftms_emulator import EmulatedTreadmill
from treadctl.clock import MonotonicClock
from treadctl.control.loop import NO_WATCHDOG_WARNING
from treadctl.drives.ftms import FtmsDrive, Range
from treadctl.heartrate.emulator import VirtualRadio
from treadctl.safety.types import Command, CommandKind, Mode, Reason
from treadctl.store.eventlog import EventLog

pytestmark = pytest.mark.usefixtures("frozen_heap")
REPO = Path(__file__).resolve().parents[2]
SIM_TURN = REPO / "src/treadctl/samples/machines/sim-turn.toml"
WAIT_S = 30.0
TREADMILL = "F7:00:00:00:00:02"
PROFILE = """\
name = "FTMS walk"
supervision = "none"
[[blocks]]
  [[blocks.segments]]
  direction = "forward"
  duration_min = 5
  speed_kmh = 2.0
"""


@dataclass
class Rig:
    session: Session
    events: EventLog
    treadmill: EmulatedTreadmill
    drive: FtmsDrive


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    profile = tmp_path / "walk.toml"
    profile.write_text(PROFILE, encoding="utf-8")
    files = load_session(SIM_TURN, profile, None)
    # Bluetooth is slower than a fieldbus: a reading may be up to stale_after_s old.
    wd = files.machine.watchdog.model_copy(
        update={"drive_read_timeout_s": 1.0, "unreachable_exit_s": 2.0}
    )
    machine = files.machine.model_copy(update={"watchdog": wd})
    files = SessionFiles(machine, files.profile, files.patient, files.plan, files.machine_source)
    events = EventLog(tmp_path / "events.jsonl")
    session = build_sim_session(files, MonotonicClock(), events)
    radio = VirtualRadio()
    treadmill = EmulatedTreadmill(radio, TREADMILL, speed_range=Range(0.5, 10.0, 0.1))
    await treadmill.start()
    drive = FtmsDrive(
        radio.central("C0:7E:AD:C7:00:04"), TREADMILL,
        connect_timeout_s=5.0, answer_timeout_s=2.0, stale_after_s=0.5,
    )  # fmt: skip
    session.loop.p.drive = drive  # what build_session will do for a [drive] kind = "ftms"
    try:
        yield Rig(session, events, treadmill, drive)
    finally:
        await session.loop.close()
        await treadmill.stop()
        events.close()


def records(events: EventLog, kind: str) -> list[dict[str, Any]]:
    return [r for r in events.records if r["kind"] == kind]


async def until(cond: Any, what: str) -> None:
    try:
        async with asyncio.timeout(WAIT_S):
            while not cond():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"not within {WAIT_S:g} s: {what}") from None


def mode(loop: Any) -> Mode | None:
    out = loop.snapshot.outputs
    return None if out is None else out.mode


async def start_running(rig: Rig) -> asyncio.Task[Any]:
    loop = rig.session.loop
    run = asyncio.create_task(loop.run())
    async with asyncio.timeout(WAIT_S):
        while mode(loop) is not Mode.STOPPED:
            if run.done():
                run.result()
            loop.submit(Command(CommandKind.RESET, "test"))
            await asyncio.sleep(0.5)
    loop.submit(Command(CommandKind.START, "test"))
    await until(
        lambda: mode(loop) is Mode.RUNNING and abs(rig.treadmill.speed_kmh - 2.0) < 0.15,
        "the treadmill's belt at the segment's 2 km/h",
    )
    return run


async def finish(rig: Rig, run: asyncio.Task[Any]) -> Any:
    rig.session.loop.request_quit("test")
    try:
        return await asyncio.wait_for(run, WAIT_S)
    finally:
        if not run.done():
            run.cancel()
            with contextlib.suppress(BaseException):
                await run


async def test_the_safety_key_trips_the_interlock(rig: Rig) -> None:
    loop = rig.session.loop
    run = await start_running(rig)
    warned = [r["text"] for r in records(rig.events, "warning")]
    assert warned.count(NO_WATCHDOG_WARNING) == 2  # at connect, and at the start
    await rig.treadmill.pull_safety_key()
    await until(lambda: mode(loop) is Mode.FAULTED, "the interlock trips")
    assert Reason.DRIVE_FAULT in loop.snapshot.outputs.reasons
    (fault,) = records(rig.events, "drive_fault")
    assert fault["text"] == "stopped by the treadmill's safety key"
    summary = await finish(rig, run)
    assert "NOT verified" not in summary.outcome  # the belt reported standstill
    assert rig.treadmill.speed_kmh == 0.0


async def test_a_treadmill_that_stops_answering_ends_the_session(rig: Rig) -> None:
    loop = rig.session.loop
    run = await start_running(rig)
    rig.treadmill.go_silent()
    await until(lambda: mode(loop) is Mode.FAULTED, "the interlock trips")
    assert Reason.DRIVE_COMM_LOST in loop.snapshot.outputs.reasons
    assert loop.snapshot.drive is None  # no stale speed shown
    summary = await finish(rig, run)
    assert "standstill NOT verified" in summary.outcome
    assert rig.treadmill.running  # no watchdog: only the treadmill's own key stops it now
