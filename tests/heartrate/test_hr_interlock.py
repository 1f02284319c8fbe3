"""The signal-loss rule end to end: an emulated strap on the virtual radio, the BLE source,
the real control loop on the real clock with the simulated drive, and the interlock.

No heart rate at start: the heart-rate segment does not start. Contact lost while
running: warned, speed capped, and after hr_lost_end_s the session ends with a
controlled stop.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from treadctl.app import SessionFiles, build_sim_session, load_session
from treadctl.clock import MonotonicClock
from treadctl.config.heartrate import BackoffConfig, BleSourceConfig
from treadctl.heartrate.ble import BleHeartRate
from treadctl.heartrate.emulator import EmulatedStrap, VirtualRadio
from treadctl.heartrate.hrs import Contact
from treadctl.safety.types import Command, CommandKind, Mode, Reason
from treadctl.store.eventlog import EventLog

REPO = Path(__file__).resolve().parents[2]
SIM_HR = REPO / "src/treadctl/samples/machines/sim-hr.toml"
DEMO = REPO / "src/treadctl/samples/patients/demo.toml"
WAIT_S = 30.0
LOST_END_S = 3.0  # shortened from the sample's 60 s so the test ends the session quickly

HR_PROFILE = """\
name = "Heart-rate walk"

[heart_rate]
required = true

[[blocks]]
name = "hr"
  [[blocks.segments]]
  name = "forward"
  direction = "forward"
  duration_min = 3
  speed_kmh = 3.0
"""


def records(events: EventLog, kind: str) -> list[dict[str, Any]]:
    return [r for r in events.records if r["kind"] == kind]


def starts(events: EventLog) -> list[dict[str, Any]]:
    return [r for r in records(events, "command") if r["command"] == "start"]


async def until(cond: Any, what: str) -> None:
    try:
        async with asyncio.timeout(WAIT_S):
            while not cond():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"not within {WAIT_S:g} s: {what}") from None


async def test_no_rate_no_start_then_contact_lost_caps_and_ends(tmp_path: Path) -> None:
    profile = tmp_path / "hr-walk.toml"
    profile.write_text(HR_PROFILE, encoding="utf-8")
    files = load_session(SIM_HR, profile, DEMO)
    limits = files.machine.limits.model_copy(update={"hr_lost_end_s": LOST_END_S})
    machine = files.machine.model_copy(update={"limits": limits})
    files = SessionFiles(machine, files.profile, files.patient, files.plan, files.machine_source)
    events = EventLog(tmp_path / "events.jsonl")
    session = build_sim_session(files, MonotonicClock(), events)
    loop = session.loop

    radio = VirtualRadio()
    strap = EmulatedStrap(radio, "C1:00:00:00:00:0A", "Polar H10 A")
    await strap.start()
    cfg = BleSourceConfig(
        kind="ble", name="Polar H10 A", stale_after_s=3.0,
        reconnect=BackoffConfig(initial_s=0.05, max_s=0.5),
    )  # fmt: skip
    source = BleHeartRate(cfg, radio.central("C0:7E:AD:C7:00:01"))
    loop.p.heart_rate = source  # what build_session will do for a [heart_rate.source] ble
    source.start()

    contact = Contact.DETECTED
    sending = asyncio.Event()

    async def strap_beats() -> None:
        while True:
            await sending.wait()
            if strap.subscribed.is_set():
                await strap.send(95, contact)
            await asyncio.sleep(0.2)

    beats = asyncio.create_task(strap_beats())
    run = asyncio.create_task(loop.run())
    try:
        await asyncio.wait_for(strap.subscribed.wait(), WAIT_S)
        # The power-on latch first, as an operator does (retried: the first cycles may
        # still be verifying standstill).
        async with asyncio.timeout(WAIT_S):
            while loop.snapshot.outputs is None or loop.snapshot.outputs.mode is not Mode.STOPPED:
                loop.submit(Command(CommandKind.RESET, "test"))
                await asyncio.sleep(0.5)
        # 1. Connected but no rate yet: the heart-rate segment must not start.
        loop.submit(Command(CommandKind.START, "test"))
        await until(lambda: starts(events), "the start is answered")
        (refused,) = starts(events)
        assert not refused["accepted"]
        assert "no heart-rate signal" in refused["detail"]

        # 2. The strap beats: the start is accepted and the belt runs.
        sending.set()
        await until(lambda: loop.snapshot.heart_rate_bpm == 95.0, "the rate reaches the loop")
        loop.submit(Command(CommandKind.START, "test"))
        await until(
            lambda: (
                loop.snapshot.outputs is not None
                and loop.snapshot.outputs.mode is Mode.RUNNING
                and loop.snapshot.setpoint_kmh > limits.hr_lost_cap_kmh
            ),
            "running above the loss cap",
        )

        # 3. Skin contact lost: no reading at once, warned and capped, then the end.
        contact = Contact.LOST
        await until(lambda: loop.snapshot.heart_rate_bpm is None, "the loss reaches the loop")
        t_lost = loop.snapshot.now
        await until(
            lambda: any(
                "heart-rate signal lost: speed capped" in r["warnings"]
                for r in records(events, "warnings")
            ),
            "the loss is warned",
        )
        await until(
            lambda: (
                loop.snapshot.outputs is not None
                and loop.snapshot.outputs.target_kmh <= limits.hr_lost_cap_kmh
            ),
            "the target is capped",
        )
        summary = await asyncio.wait_for(asyncio.shield(run), WAIT_S)
    finally:
        beats.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beats
        if not run.done():
            loop.request_quit("test teardown")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(run, WAIT_S)
        await source.stop()
        await strap.stop()
        events.close()

    stop = next(
        r for r in records(events, "transition") if r["old"] == "running" and r["new"] == "stopping"
    )
    assert stop["reasons"] == [Reason.HEART_RATE_LOST.value]
    assert stop["t_s"] - (t_lost - loop.t0) >= LOST_END_S - 0.5
    assert summary.outcome == "ended: heart-rate signal lost"
    assert session.belt is not None
    assert session.belt.speed_kmh == 0.0
