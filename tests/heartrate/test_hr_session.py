"""A whole session with an emulated strap the loop itself starts and stops: contact lost
and back (capped, then free again), the strap out of range and back (reconnected), the
sample age the interlock sees is the sample's own, and close() stops the radio task.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from test_hr_interlock import DEMO, HR_PROFILE, SIM_HR, WAIT_S, records, until

from treadctl.app import SessionFiles, build_sim_session, load_session
from treadctl.clock import MonotonicClock
from treadctl.config.heartrate import BackoffConfig, BleSourceConfig
from treadctl.heartrate.ble import BleHeartRate
from treadctl.heartrate.emulator import EmulatedStrap, VirtualRadio
from treadctl.heartrate.hrs import Contact
from treadctl.safety.types import Command, CommandKind, Mode
from treadctl.store.eventlog import EventLog

LOST_END_S = 30.0  # long enough that the brief losses below never end the session
BEAT_S = 0.2


def running(loop: Any) -> bool:
    out = loop.snapshot.outputs
    return out is not None and out.mode is Mode.RUNNING


async def test_contact_loss_and_reconnection_keep_the_session(tmp_path: Path) -> None:
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
    strap = EmulatedStrap(radio, "C1:00:00:00:00:0B", "Polar H10 B")
    await strap.start()
    cfg = BleSourceConfig(
        kind="ble", name="Polar H10 B", stale_after_s=3.0,
        reconnect=BackoffConfig(initial_s=0.05, max_s=0.5),
    )  # fmt: skip
    source = BleHeartRate(cfg, radio.central("C0:7E:AD:C7:00:02"))
    loop.p.heart_rate = source  # not started here: the loop starts it with the session
    contact = Contact.DETECTED
    ages: list[float] = []

    async def strap_beats() -> None:
        while True:
            if strap.subscribed.is_set():
                await strap.send(100, contact)
            await asyncio.sleep(BEAT_S)

    def sample(_snap: Any) -> None:
        if loop.snapshot.heart_rate_age_s is not None:
            ages.append(loop.snapshot.heart_rate_age_s)

    loop.listeners.append(sample)
    beats = asyncio.create_task(strap_beats())
    run = asyncio.create_task(loop.run())
    try:
        await asyncio.wait_for(strap.subscribed.wait(), WAIT_S)  # the loop started the source
        async with asyncio.timeout(WAIT_S):
            while loop.snapshot.outputs is None or loop.snapshot.outputs.mode is not Mode.STOPPED:
                loop.submit(Command(CommandKind.RESET, "test"))
                await asyncio.sleep(0.5)
        await until(lambda: loop.snapshot.heart_rate_bpm == 100.0, "the rate reaches the loop")
        loop.submit(Command(CommandKind.START, "test"))
        await until(
            lambda: running(loop) and loop.snapshot.setpoint_kmh > limits.hr_lost_cap_kmh + 0.5,
            "running above the loss cap",
        )

        # Contact lost briefly: capped and warned, then back: the cap lifts, still running.
        contact = Contact.LOST
        await until(lambda: loop.snapshot.heart_rate_bpm is None, "the loss reaches the loop")
        await until(
            lambda: running(loop) and loop.snapshot.outputs.target_kmh <= limits.hr_lost_cap_kmh,
            "the target is capped",
        )
        contact = Contact.DETECTED
        await until(
            lambda: running(loop) and loop.snapshot.outputs.target_kmh == 3.0,
            "the cap lifts when contact is back",
        )

        # Out of range and back: the source reconnects on its own; the session carries on.
        before = strap.connections
        await strap.drop()
        await until(lambda: loop.snapshot.heart_rate_bpm is None, "the drop reaches the loop")
        assert running(loop)
        await strap.come_back()
        await until(lambda: strap.connections > before, "the source reconnects")
        await until(
            lambda: running(loop) and loop.snapshot.outputs.target_kmh == 3.0,
            "running free again after the reconnection",
        )
        assert loop.snapshot.heart_rate_bpm == 100.0
        loop.request_quit("test")
        summary = await asyncio.wait_for(asyncio.shield(run), WAIT_S)
    finally:
        beats.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beats
        if not run.done():
            loop.request_quit("test teardown")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(run, WAIT_S)
        await loop.close()
        await strap.stop()
        events.close()

    assert summary.outcome == "stopped by test"
    assert source._task is None  # close() stopped the radio task
    assert source.latest.read() is None
    warned = [r["warnings"] for r in records(events, "warnings")]
    assert any("heart-rate signal lost: speed capped" in w for w in warned)
    # The interlock saw each sample's own age (strap notification to now), not "now minus
    # the cycle that last saw a value", which is exactly 0 on every cycle with a value.
    assert ages
    assert min(ages) >= 0.0
    assert max(ages) <= cfg.stale_after_s
    assert sorted(ages)[len(ages) // 2] > 0.0
