"""Commands from clients are taken at a bounded number per cycle; a stop never waits and
nothing in its cycle overrides it; equal commands in a row are coalesced and answered."""

from __future__ import annotations

from pathlib import Path

from treadctl.app import build_sim_session, load_session
from treadctl.clock import VirtualClock
from treadctl.control.intake import CommandIntake
from treadctl.safety.types import (
    Command,
    CommandKind,
    Decel,
    Decision,
    Direction,
    Mode,
    SafetyOutputs,
)
from treadctl.sim.operator import ScriptedOperator
from treadctl.store.eventlog import EventLog

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "src/treadctl/samples"
PROFILES_DIR = SAMPLES.parents[2] / "profiles"  # the shipped profiles, at the top


def outputs(decisions: tuple[Decision, ...]) -> SafetyOutputs:
    return SafetyOutputs(
        drive_enable=False,
        direction=Direction.FORWARD,
        speed_cap_kmh=0.0,
        static_cap_kmh=0.0,
        target_kmh=0.0,
        decel=Decel.NORMAL,
        mode=Mode.STOPPED,
        reasons=(),
        at_standstill=True,
        decisions=decisions,
    )


def test_a_flood_is_taken_a_bounded_number_per_cycle_and_refused_past_the_queue() -> None:
    intake = CommandIntake(per_cycle=8, max_queued=64)
    accepted = [intake.submit(Command(CommandKind.START, f"client-{i}")) for i in range(3000)]
    assert accepted.count(True) == 64  # the rest are refused at once: the caller says busy
    taken, stops = intake.take()
    assert len(taken) == 8
    assert stops == []
    assert len(intake) == 56


def test_a_stop_never_waits_behind_a_flood() -> None:
    intake = CommandIntake(per_cycle=8, max_queued=64)
    for i in range(64):
        intake.submit(Command(CommandKind.PAUSE, f"observer-{i}"))
    assert not intake.submit(Command(CommandKind.PAUSE, "late"))
    stop = Command(CommandKind.STOP, "operator")
    assert intake.submit(stop)  # the full queue is no reason to refuse a stop
    taken, stops = intake.take()
    assert stops == [stop]
    assert len(taken) == 8


def test_equal_commands_in_a_row_are_coalesced_and_share_the_decision() -> None:
    intake = CommandIntake(per_cycle=2, max_queued=64)
    pauses = [Command(CommandKind.PAUSE, "observer") for _ in range(20)]
    for c in pauses:
        intake.submit(c)
    reset = Command(CommandKind.RESET, "operator")
    intake.submit(reset)
    taken, _ = intake.take()
    assert taken == [pauses[0], reset]  # 19 coalesced into the first: the budget is not spent
    out = intake.answer(outputs((Decision(pauses[0], True, "paused"), Decision(reset, False, "x"))))
    answered = {id(d.command): d for d in out.decisions}
    assert all(answered[id(c)].accepted for c in pauses)
    assert all(answered[id(c)].detail == "paused" for c in pauses)
    assert len(out.decisions) == 21


async def test_a_stop_sent_before_a_start_in_the_same_cycle_wins(tmp_path: Path) -> None:
    """Reset, stopped, ready: a stop then a start arrive between two cycles. The stop is
    judged last, so the start cannot override it: the belt never moves."""
    files = load_session(
        SAMPLES / "machines/sim.toml",
        PROFILES_DIR / "demo-short.toml",
        SAMPLES / "patients/demo.toml",
    )
    events = EventLog(tmp_path / "events.jsonl")
    session = build_sim_session(files, VirtualClock(), events, ScriptedOperator())
    loop = session.loop
    sent: list[float] = []

    def on_cycle(now: float) -> None:
        out = loop.snapshot.outputs
        assert out is not None
        if not sent and out.mode is Mode.STOPPED and out.reasons == ():  # reset, not started
            loop.submit(Command(CommandKind.STOP, "operator"))
            loop.submit(Command(CommandKind.START, "operator"))
            sent.append(now - loop.t0)

    loop.p.on_cycle = on_cycle
    summary = await loop.run()
    events.close()
    assert sent
    judged = [
        r
        for r in events.records
        if r["kind"] == "command" and r["source"] == "operator" and r["t_s"] > sent[0]
    ]
    assert [r["command"] for r in judged[:2]] == ["start", "stop"]  # the stop judged last
    assert all(t.seconds == 0.0 for t in summary.totals.values())  # the belt never moved
