"""A failed or late safety-input read is never a fresh value, and never a trip by itself:
the last good reading stands within `input_read_timeout_s` (PROFIsafe's watchdog time);
past it the interlock trips within the maximum age plus one cycle, naming the input. A
reading that reports a fault still trips on the cycle it arrives.

The drive's status the same way within `drive_read_timeout_s`, except that a missed cycle
gives no reading (speed held, no standstill, no start) rather than the last good one; a
drive that answers reads but refuses commands ages too. Real sessions on the simulated
treadmill in virtual time; only the answers that do not come are injected."""

from __future__ import annotations

from pathlib import Path

import pytest

from treadctl.app import build_sim_session, load_session
from treadctl.clock import VirtualClock
from treadctl.control.loop import ControlLoop
from treadctl.drives.base import Drive, DriveCommand, DriveError, WatchdogSetting
from treadctl.inputs.base import InputError, SafetyInputSource
from treadctl.safety.types import DriveStatus, Mode, Reason, SafetyIO
from treadctl.sim.operator import ScriptedOperator
from treadctl.store.eventlog import EventLog

ROOT = Path(__file__).resolve().parents[2]
MACHINE = ROOT / "src/treadctl/samples/machines/sim.toml"
RUNNING_AT_S = 12.0  # demo-short's first segment runs from about 7 s


class SilentFor(SafetyInputSource):
    """The simulated inputs, silent for `cycles` reads from `RUNNING_AT_S` on."""

    def __init__(self, inner: SafetyInputSource, clock: VirtualClock, cycles: int) -> None:
        self.inner = inner
        self.clock = clock
        self.cycles = cycles
        self.name = inner.name
        self.t0: float | None = None
        self.failed_at: list[float] = []

    async def read(self) -> SafetyIO:
        now = self.clock.now()
        if self.t0 is None:
            self.t0 = now
        if now - self.t0 >= RUNNING_AT_S and len(self.failed_at) < self.cycles:
            self.failed_at.append(now)
            raise InputError(self.name, "no answer within the cycle's time budget")
        return await self.inner.read()


async def run_with_silence(
    tmp_path: Path, cycles: int
) -> tuple[list[dict[str, object]], SilentFor, float, float]:
    files = load_session(
        MACHINE,
        ROOT / "profiles/demo-short.toml",
        ROOT / "src/treadctl/samples/patients/demo.toml",
    )
    clock = VirtualClock()
    events = EventLog(tmp_path / "events.jsonl")
    s = build_sim_session(files, clock, events, ScriptedOperator(), end_on_fault=True)
    silent = SilentFor(s.loop.p.inputs, clock, cycles)
    s.loop.p.inputs = silent
    await s.loop.run()
    events.close()
    return events.records, silent, s.loop.t0, s.loop.period_s


def _trips(records: list[dict[str, object]]) -> list[dict[str, object]]:
    return [r for r in records if r["kind"] == "transition" and r["new"] == "faulted"]


async def test_a_single_late_answer_is_logged_once_and_trips_nothing(tmp_path: Path) -> None:
    records, silent, _, _ = await run_with_silence(tmp_path, 1)
    assert len(silent.failed_at) == 1
    assert [r for r in records if r["kind"] == "read_failed"] != []
    assert len([r for r in records if r["kind"] == "read_failed"]) == 1
    assert len([r for r in records if r["kind"] == "read_recovered"]) == 1
    assert _trips(records) == []
    end = next(r for r in records if r["kind"] == "session_end")
    assert end["outcome"] == "completed"


async def test_silence_within_the_maximum_age_trips_nothing(tmp_path: Path) -> None:
    # 0.1 s at 50 Hz: four silent cycles leave the last good reading 0.1 s old at most
    records, _, _, _ = await run_with_silence(tmp_path, 4)
    assert _trips(records) == []


async def test_silence_past_the_maximum_age_trips_within_it_plus_one_cycle(
    tmp_path: Path,
) -> None:
    records, silent, t0, period = await run_with_silence(tmp_path, 50)
    (trip,) = _trips(records)[:1]
    assert trip["reasons"] == [Reason.SAFETY_INPUTS_STALE.value]
    last_good = silent.failed_at[0] - period  # the read before the first silent one
    max_age = 0.1  # sim.toml's input_read_timeout_s
    tripped_after = (t0 + float(str(trip["t_s"]))) - last_good
    assert max_age < tripped_after <= max_age + period + 1e-9
    assert Mode.FAULTED.value == trip["new"]


class SilentDrive(Drive):
    """The simulated drive, its status read failing for `cycles` reads from `RUNNING_AT_S`
    on (or, with `refuse_writes`, its commands refused for that many writes). Each read
    and write is recorded with its loop time and what the loop saw."""

    def __init__(
        self, inner: Drive, clock: VirtualClock, cycles: int, *, refuse_writes: bool = False
    ) -> None:
        self.inner = inner
        self.clock = clock
        self.cycles = cycles
        self.refuse_writes = refuse_writes
        self.name = inner.name
        self.reverse_allowed = inner.reverse_allowed
        self.t0: float | None = None
        self.failed_at: list[float] = []

    def _fails(self) -> bool:
        now = self.clock.now()
        assert self.t0 is not None
        if now - self.t0 >= RUNNING_AT_S and len(self.failed_at) < self.cycles:
            self.failed_at.append(now)
            return True
        return False

    async def connect(self, comm_loss_timeout_s: float) -> WatchdogSetting:
        return await self.inner.connect(comm_loss_timeout_s)

    async def read_status(self) -> DriveStatus:
        if self.t0 is None:
            self.t0 = self.clock.now()  # the first cycle's read
        if not self.refuse_writes and self._fails():
            raise DriveError(self.name, "no answer within the cycle's time budget")
        return await self.inner.read_status()

    async def write_command(self, command: DriveCommand) -> None:
        if self.refuse_writes and self.t0 is not None and self._fails():
            raise DriveError(self.name, "write refused: the line is not trusted")
        await self.inner.write_command(command)

    async def reset_fault(self) -> None:
        await self.inner.reset_fault()

    def describe_fault(self, code: int) -> str:
        return self.inner.describe_fault(code)

    def describe_warning(self, code: int) -> str:
        return self.inner.describe_warning(code)

    async def close(self) -> None:
        await self.inner.close()


class Watched:
    """What the interlock was given each cycle: the drive's reading and its age."""

    def __init__(self, loop: ControlLoop) -> None:
        self.seen: list[tuple[float, DriveStatus | None, float]] = []
        step = loop.interlock.step

        def watching(state, inputs, now):  # type: ignore[no-untyped-def]
            self.seen.append((now, inputs.drive, inputs.drive_age_s))
            return step(state, inputs, now)

        loop.interlock.step = watching  # type: ignore[method-assign]


async def run_with_silent_drive(
    tmp_path: Path, cycles: int, *, refuse_writes: bool = False
) -> tuple[list[dict[str, object]], SilentDrive, Watched, float, float, float]:
    files = load_session(
        MACHINE,
        ROOT / "profiles/demo-short.toml",
        ROOT / "src/treadctl/samples/patients/demo.toml",
    )
    clock = VirtualClock()
    events = EventLog(tmp_path / "events.jsonl")
    s = build_sim_session(files, clock, events, ScriptedOperator(), end_on_fault=True)
    silent = SilentDrive(s.loop.p.drive, clock, cycles, refuse_writes=refuse_writes)
    s.loop.p.drive = silent
    watched = Watched(s.loop)
    await s.loop.run()
    events.close()
    max_age = files.machine.watchdog.drive_read_timeout_s
    return events.records, silent, watched, s.loop.t0, s.loop.period_s, max_age


def _cycles_within(max_age: float, period: float) -> int:
    """Silent cycles that leave the last good reading at most `max_age` old."""
    return round(max_age / period) - 1


async def test_a_single_missed_drive_read_is_logged_once_and_trips_nothing(
    tmp_path: Path,
) -> None:
    records, silent, watched, _, _, _ = await run_with_silent_drive(tmp_path, 1)
    assert len(silent.failed_at) == 1
    failed = [r for r in records if r["kind"] == "read_failed"]
    assert len(failed) == 1
    assert failed[0]["source"] == silent.name
    assert len([r for r in records if r["kind"] == "read_recovered"]) == 1
    assert _trips(records) == []
    end = next(r for r in records if r["kind"] == "session_end")
    assert end["outcome"] == "completed"
    # never the last good status offered as this cycle's: no reading on the missed cycle
    (missed,) = [(d, age) for now, d, age in watched.seen if now == silent.failed_at[0]]
    assert missed[0] is None
    assert missed[1] > 0


async def test_drive_silence_within_the_maximum_age_trips_nothing(tmp_path: Path) -> None:
    files = load_session(
        MACHINE,
        ROOT / "profiles/demo-short.toml",
        ROOT / "src/treadctl/samples/patients/demo.toml",
    )
    wd, loop = files.machine.watchdog, files.machine.loop
    cycles = _cycles_within(wd.drive_read_timeout_s, loop.period_s)
    records, silent, watched, _, period, max_age = await run_with_silent_drive(tmp_path, cycles)
    assert len(silent.failed_at) == cycles >= 3
    assert _trips(records) == []
    oldest = max(age for now, d, age in watched.seen if now in silent.failed_at)
    assert oldest == pytest.approx(cycles * period)  # the last silent cycle's
    assert oldest <= max_age
    # every missed cycle gave the rules no reading, never the last good one again
    assert all(d is None for now, d, _ in watched.seen if now in silent.failed_at)


async def test_drive_silence_past_the_maximum_age_trips_within_it_plus_one_cycle(
    tmp_path: Path,
) -> None:
    records, silent, watched, t0, period, max_age = await run_with_silent_drive(tmp_path, 50)
    (trip,) = _trips(records)[:1]
    assert trip["reasons"] == [Reason.DRIVE_COMM_LOST.value]
    assert trip["old"] == Mode.RUNNING.value
    last_good = silent.failed_at[0] - period  # the read before the first silent one
    tripped_after = (t0 + float(str(trip["t_s"]))) - last_good
    assert max_age < tripped_after <= max_age + period + 1e-9
    # the first age the interlock judged past the maximum: on the tripping cycle
    now, age = next((now, age) for now, _, age in watched.seen if age > max_age)
    assert now - t0 == pytest.approx(float(str(trip["t_s"])), abs=1e-3)
    assert age <= max_age + period + 1e-9
    (failed,) = [r for r in records if r["kind"] == "read_failed"]
    assert failed["source"] == silent.name  # the input, named in the event log


async def test_a_drive_that_refuses_commands_ages_as_a_silent_one(tmp_path: Path) -> None:
    records, silent, _, t0, period, max_age = await run_with_silent_drive(
        tmp_path, 50, refuse_writes=True
    )
    (trip,) = _trips(records)[:1]
    assert trip["reasons"] == [Reason.DRIVE_COMM_LOST.value]
    first_refused = silent.failed_at[0]  # the write after that cycle's good read
    tripped_after = (t0 + float(str(trip["t_s"]))) - first_refused
    assert max_age < tripped_after <= max_age + period + 1e-9
    assert [r for r in records if r["kind"] == "write_failed"] != []
