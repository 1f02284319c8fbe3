"""The cycle loop's own promises, on the virtual clock with the simulated drive."""

from __future__ import annotations

from pathlib import Path

import pytest

from treadctl.app import build_sim_session, load_session
from treadctl.clock import VirtualClock
from treadctl.control.loop import ConnectError
from treadctl.drives.base import DriveCommand, WatchdogSetting
from treadctl.safety.types import Command, CommandKind, DriveStatus, Mode
from treadctl.sim.backends import SimDrive
from treadctl.sim.operator import ScriptedOperator
from treadctl.store.eventlog import EventLog

ROOT = Path(__file__).resolve().parents[2]


class RecordingDrive(SimDrive):
    """The simulated drive, keeping every command written to it."""

    def __init__(self, inner: SimDrive, fail_after_reads: int | None = None) -> None:
        super().__init__(inner.belt, inner.clock)
        self.written: list[DriveCommand] = []
        self.reads = 0
        self.fail_after_reads = fail_after_reads
        self.watchdog_reply: float | None = None

    async def connect(self, comm_loss_timeout_s: float) -> WatchdogSetting:
        setting = await super().connect(comm_loss_timeout_s)
        if self.watchdog_reply is not None:
            return WatchdogSetting(self.watchdog_reply, setting.action)
        return setting

    async def read_status(self) -> DriveStatus:
        self.reads += 1
        if self.fail_after_reads is not None and self.reads > self.fail_after_reads:
            raise RuntimeError("simulated programming error")
        return await super().read_status()

    async def write_command(self, command: DriveCommand) -> None:
        self.written.append(command)
        await super().write_command(command)


def session(tmp_path: Path, **drive_kw: object):  # type: ignore[no-untyped-def]
    files = load_session(
        ROOT / "src/treadctl/samples/machines/sim.toml",
        ROOT / "profiles/demo-short.toml",
        ROOT / "src/treadctl/samples/patients/demo.toml",
    )
    events = EventLog(tmp_path / "events.jsonl")
    s = build_sim_session(files, VirtualClock(), events, ScriptedOperator(), end_on_fault=True)
    drive = RecordingDrive(s.loop.p.drive, **drive_kw)  # type: ignore[arg-type]
    s.loop.p.drive = drive
    return s, drive, events


async def test_first_write_is_run_off_at_zero_speed(tmp_path: Path) -> None:
    s, drive, events = session(tmp_path)
    await s.loop.run()
    events.close()
    first = drive.written[0]
    assert not first.run
    assert first.speed_kmh == 0.0
    # and nothing runs before the operator's start was accepted
    start_t = next(
        r["t_s"] for r in events.records if r["kind"] == "command" and r["command"] == "start"
    )
    assert start_t > 0
    assert all(not c.run for c in drive.written[: int(start_t / s.loop.period_s) - 1])


async def test_a_bug_in_a_cycle_leaves_the_drive_commanded_off(tmp_path: Path) -> None:
    s, drive, events = session(tmp_path, fail_after_reads=600)  # ~12 s in: belt running
    with pytest.raises(RuntimeError, match="simulated programming error"):
        await s.loop.run()
    events.close()
    assert any(c.run for c in drive.written)
    last = drive.written[-1]
    assert not last.run
    assert last.speed_kmh == 0.0
    assert events.records[-1]["kind"] == "controller_error"


async def test_refuses_to_run_when_the_watchdog_reads_back_wrong(tmp_path: Path) -> None:
    s, drive, events = session(tmp_path)
    drive.watchdog_reply = 60.0  # a drive left at a long factory default
    with pytest.raises(ConnectError, match=r"watchdog read back as 60\.0 s"):
        await s.loop.run()
    events.close()
    assert drive.written == []


async def test_a_stop_reaches_the_drive_on_the_next_cycle(tmp_path: Path) -> None:
    s, drive, events = session(tmp_path)
    loop = s.loop
    stop_sent_at: list[int] = []

    def observe(_now: float) -> None:
        out = loop.snapshot.outputs
        running = out is not None and out.mode is Mode.RUNNING
        if running and not stop_sent_at and loop.snapshot.setpoint_kmh > 1.5:
            loop.submit(Command(CommandKind.STOP, "test"))
            stop_sent_at.append(len(drive.written))

    loop.p.on_cycle = observe
    summary = await loop.run()
    events.close()
    n = stop_sent_at[0]
    before, after = drive.written[n - 1], drive.written[n]
    # one cycle later the drive is told to slow down (controlled stop, jerk-limited)
    assert after.speed_kmh <= before.speed_kmh
    assert summary.outcome == "stopped by test"
    assert not drive.written[-1].run


async def test_a_drive_that_never_answers_again_ends_the_session_saying_standstill_unverified(
    tmp_path: Path,
) -> None:
    """Without the drive, standstill cannot be verified; the session must still be able to end."""
    s, drive, events = session(tmp_path)
    loop = s.loop
    silenced: list[float] = []

    def observe(now: float) -> None:
        if not silenced and loop.snapshot.setpoint_kmh > 1.5:
            drive.belt.silent = True
            silenced.append(now)

    loop.p.on_cycle = observe
    summary = await loop.run()
    events.close()
    wd = loop.p.machine.watchdog
    assert summary.final_mode is Mode.FAULTED
    assert summary.outcome.startswith("interrupted by latched fault; standstill NOT verified")
    ended = summary.duration_s + loop.t0
    assert ended - silenced[0] >= wd.drive_comm_loss_s + wd.unreachable_exit_s
    assert ended - silenced[0] <= wd.drive_comm_loss_s + wd.unreachable_exit_s + 1.0
    # the simulated drive's own watchdog did stop the belt meanwhile
    assert drive.belt.speed_kmh == 0.0
    assert any(r["kind"] == "warning" and "NOT verified" in r["text"] for r in events.records)


async def test_a_quit_arriving_mid_cycle_is_seen_as_a_stop_before_the_session_ends(
    tmp_path: Path,
) -> None:
    """Over a real bus the console's quit can run during a cycle's awaits; the stop it
    queues must reach the interlock and the sequencer before the quit ends the session."""
    s, drive, events = session(tmp_path)
    loop = s.loop

    class QuitDuringRead(RecordingDrive):
        async def read_status(self) -> DriveStatus:
            status = await super().read_status()
            out = loop.snapshot.outputs
            if out is not None and out.mode is Mode.STOPPED and not loop._quit_requested:
                loop.request_quit()  # what the console handler does, mid-cycle
            return status

    quitter = QuitDuringRead(drive)
    loop.p.drive = quitter
    summary = await loop.run()
    events.close()
    assert summary.outcome == "stopped by quit"
    stops = [r for r in events.records if r["kind"] == "command" and r["command"] == "stop"]
    assert stops
    assert stops[0]["accepted"]


async def test_a_drive_declared_without_a_watchdog_runs_with_a_warning_at_every_start(
    tmp_path: Path,
) -> None:
    s, drive, events = session(tmp_path)

    class NoWatchdog(RecordingDrive):
        async def connect(self, comm_loss_timeout_s: float) -> WatchdogSetting:
            await super().connect(comm_loss_timeout_s)
            return WatchdogSetting(0.0, "none: declared absent in the machine file", False)

    s.loop.p.drive = NoWatchdog(drive)
    summary = await s.loop.run()
    events.close()
    assert summary.outcome == "completed"
    starts = [r for r in events.records if r["kind"] == "command" and r["command"] == "start"]
    warnings = [r for r in events.records if r["kind"] == "warning"]
    assert len(starts) == 3  # demo-short: forward, backward, forward
    assert len(warnings) == 1 + len(starts)  # at connect and at every start
    assert all("no comm-loss watchdog" in w["text"] for w in warnings)


RAMP_PROFILE = """
name = "ramp override"
[[blocks]]
  [[blocks.segments]]
  direction = "forward"
  duration_s = 20
  speed_kmh = 2.0
  [[blocks.segments]]
  direction = "backward"
  duration_s = 30
  speed_kmh = 1.2
  ramp = { accel_mps2 = 0.05 }
"""


async def test_a_segment_ramp_override_governs_the_setpoint_in_its_direction(
    tmp_path: Path,
) -> None:
    profile = tmp_path / "ramp.toml"
    profile.write_text(RAMP_PROFILE)
    files = load_session(
        ROOT / "src/treadctl/samples/machines/sim.toml",
        profile,
        ROOT / "src/treadctl/samples/patients/demo.toml",
    )
    events = EventLog(None)
    s = build_sim_session(files, VirtualClock(), events, ScriptedOperator(), end_on_fault=True)
    loop = s.loop
    rises: dict[str, float] = {"forward": 0.0, "backward": 0.0}
    last = [0.0]

    def observe(_now: float) -> None:
        out = loop.snapshot.outputs
        sp = loop.snapshot.setpoint_kmh
        if out is not None:
            rises[out.direction.value] = max(rises[out.direction.value], sp - last[0])
        last[0] = sp

    loop.p.on_cycle = observe
    summary = await loop.run()
    events.close()
    assert summary.outcome == "completed"
    period = loop.period_s
    override = 0.05 * 3.6 * period  # km/h per cycle
    machine_bwd = files.machine.limits.backward.accel_kmh_per_s * period
    machine_fwd = files.machine.limits.forward.accel_kmh_per_s * period
    assert rises["backward"] <= override + 1e-9
    assert rises["backward"] < machine_bwd  # the override, not the machine's ramp
    assert rises["forward"] == pytest.approx(machine_fwd, rel=1e-6)  # the machine's ramp


async def test_implausible_drive_readings_are_no_readings_and_trip_the_watchdog(
    tmp_path: Path,
) -> None:
    """A drive that keeps answering with a NaN speed must not keep the watchdog fed."""
    s, drive, events = session(tmp_path)
    loop = s.loop
    broken: list[float] = []

    class NanDrive(RecordingDrive):
        async def read_status(self) -> DriveStatus:
            status = await super().read_status()
            if loop.snapshot.setpoint_kmh > 1.5 or broken:
                if not broken:
                    broken.append(loop.snapshot.now)
                return DriveStatus(status.ready, status.fault_code, float("nan"), status.direction)
            return status

    loop.p.drive = NanDrive(drive)
    summary = await loop.run()
    events.close()
    trips = [r for r in events.records if r["kind"] == "transition" and r["new"] == "faulted"]
    assert trips[-1]["reasons"][0] == "drive stopped answering (watchdog expired)"
    assert trips[-1]["t_s"] + loop.t0 - broken[0] <= (
        loop.p.machine.watchdog.drive_read_timeout_s + 2 * loop.period_s
    )
    assert any(
        r["kind"] == "read_failed" and "implausible speed reading nan" in r["reason"]
        for r in events.records
    )
    assert summary.final_mode is Mode.FAULTED
