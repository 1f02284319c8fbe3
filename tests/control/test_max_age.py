"""A failed or late safety-input read is never a fresh value, and never a trip by itself:
the last good reading stands within `input_read_timeout_s` (PROFIsafe's watchdog time);
past it the interlock trips within the maximum age plus one cycle, naming the input. A
reading that reports a fault still trips on the cycle it arrives."""

from __future__ import annotations

from pathlib import Path

from treadctl.app import build_sim_session, load_session
from treadctl.clock import VirtualClock
from treadctl.inputs.base import InputError, SafetyInputSource
from treadctl.safety.types import Mode, Reason, SafetyIO
from treadctl.sim.operator import ScriptedOperator
from treadctl.store.eventlog import EventLog

ROOT = Path(__file__).resolve().parents[2]
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
        ROOT / "src/treadctl/samples/machines/sim.toml",
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
