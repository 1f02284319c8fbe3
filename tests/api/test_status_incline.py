"""The powered incline and the metronome's sound in the status (issue 14), and the
incline_home action: a real controller on the simulator (sim-incline and plain sim),
its real Unix socket, in the test's loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from api_fixtures import ROOT, Running, wait_for
from pydantic import ValidationError

from treadctl.api.client import ControllerClient
from treadctl.api.messages import Action, InclineStatus, Role, Status, server_message
from treadctl.app import load_session
from treadctl.cli.console import incline_home as console_home
from treadctl.cli.console import parse_line
from treadctl.cli.status import incline_summary, status_lines
from treadctl.clock import MonotonicClock
from treadctl.control.loop import LoopSnapshot
from treadctl.serve import Controller
from treadctl.store.eventlog import EventLog

PROFILE = """
name = "API test: backward up a slope"
[[blocks]]
name = "main"
  [[blocks.segments]]
  direction = "backward"
  duration_s = 600
  speed_kmh = 1.0
  incline_pct = 3.0
  cadence_spm = 100
"""

Start = Callable[[str], Awaitable[Running]]


@pytest.fixture
async def start(short_dir: Path) -> AsyncIterator[Start]:
    """start(machine): a controller on that sample machine and PROFILE."""
    runs: list[Running] = []

    async def make(machine: str) -> Running:
        profile = short_dir / "profile.toml"
        profile.write_text(PROFILE)
        files = load_session(
            ROOT / f"src/treadctl/samples/machines/{machine}.toml",
            profile,
            ROOT / "src/treadctl/samples/patients/demo.toml",
        )
        events = EventLog(None)
        sock = short_dir / f"c{len(runs)}.sock"
        controller = Controller(files, MonotonicClock(), events, sock)
        task: asyncio.Task[object] = asyncio.create_task(controller.run())
        await wait_for(lambda: controller.api is not None and sock.exists(), "up")
        run = Running(controller, task, sock, events)
        runs.append(run)
        return run

    yield make
    for run in runs:
        api = run.controller.api
        if not run.task.done() and api is not None:
            api.loop.request_quit("test teardown")
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(run.task), 30)
        if not run.task.done():
            run.task.cancel()
            with contextlib.suppress(BaseException):
                await run.task
        run.events.close()


async def follow(client: ControllerClient) -> asyncio.Task[None]:
    async def read() -> None:
        async for _ in client.messages():
            pass

    return asyncio.create_task(read())


def a_status(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "status",
        "t_s": 1.0,
        "mode": "stopped",
        "direction": "forward",
        "reasons": [],
        "latched": False,
        "detail": "",
        "target_kmh": 0.0,
        "setpoint_kmh": 0.0,
        "actual_kmh": 0.0,
        "cap_kmh": 1.0,
        "at_standstill": True,
        "incline_pct": 0.0,
        "heart_rate_bpm": None,
        "cue_spm": None,
        "segment": None,
        "next_segment": None,
        "segment_elapsed_s": 0.0,
        "segment_remaining_s": 0.0,
        "session_elapsed_s": 0.0,
        "session_remaining_s": 0.0,
        "indicators": [],
        "warnings": [],
        "operator_present": None,
    }
    return base | fields


def test_an_older_status_without_the_fields_decodes() -> None:
    msg = server_message.validate_json(json.dumps(a_status()))
    assert isinstance(msg, Status)
    assert msg.incline is None
    assert msg.metronome_sound is None


def test_the_incline_in_the_status_decodes_and_refuses_what_is_not_a_figure() -> None:
    inc = {"target_pct": 7.5, "goal_pct": 7.5, "actual_pct": 6.9, "mode": "moving up"}
    msg = server_message.validate_json(json.dumps(a_status(incline=inc, metronome_sound=False)))
    assert isinstance(msg, Status)
    assert msg.incline is not None
    assert msg.incline.actual_pct == 6.9
    assert msg.incline.faults == []
    assert msg.metronome_sound is False
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValidationError):
            InclineStatus.model_validate(inc | {"actual_pct": bad})
        with pytest.raises(ValidationError):
            InclineStatus.model_validate(inc | {"target_pct": bad})
    # the JSON spellings of non-finite numbers too
    with pytest.raises(ValidationError):
        server_message.validate_json(
            json.dumps(a_status(incline=inc)).replace("6.9", "NaN"),
        )
    with pytest.raises(ValidationError):
        InclineStatus.model_validate(inc | {"mode": "flying"})
    with pytest.raises(ValidationError):  # bounded: a list of faults, not a flood
        InclineStatus.model_validate(inc | {"faults": ["x"] * 9})
    with pytest.raises(ValidationError):
        InclineStatus.model_validate(inc | {"detail": "x" * 501})


async def test_the_status_carries_the_incline_moving_to_its_target(start: Start) -> None:
    run = await start("sim-incline")
    op = await run.client(Role.OPERATOR, "op")
    reader = await follow(op)
    try:
        await wait_for(lambda: op.status is not None and op.status.at_standstill, "standstill")
        first = run.status(op)
        assert first.incline is not None
        assert first.incline.mode == "halted"
        assert first.incline.home_allowed
        assert (await op.command(Action.RESET)).accepted
        await wait_for(lambda: run.status(op).mode == "stopped", "reset")
        assert (await op.command(Action.START)).accepted
        await wait_for(
            lambda: (inc := run.status(op).incline) is not None and inc.mode == "moving up",
            "the incline moving up",
        )
        seen = run.status(op).incline
        assert seen is not None
        assert seen.target_pct == 3.0
        assert seen.goal_pct == 3.0
        assert seen.actual_pct is not None
        assert 0.0 <= seen.actual_pct < 3.0
        assert "incline: target 3.0 %" in "\n".join(status_lines(run.status(op), "p"))
        await wait_for(
            lambda: (
                (inc := run.status(op).incline) is not None
                and inc.actual_pct is not None
                and inc.actual_pct > seen.actual_pct + 0.5
            ),  # type: ignore[operator]
            "the incline rising toward 3 %",
        )
        # the metronome's cue travels too; the sound is not known without a bridge
        assert run.status(op).cue_spm == 100.0
        assert run.status(op).metronome_sound is None
        # a home while the belt runs is the incline rules' refusal, in words
        reply = await op.command(Action.INCLINE_HOME)
        assert not reply.accepted
        assert reply.text == "belt not stopped"
        assert (await op.command(Action.PAUSE)).accepted  # a stop would end the session
        await wait_for(
            lambda: run.status(op).mode == "stopped" and run.status(op).at_standstill,
            "standstill after the pause",
        )
        at = run.status(op).incline
        assert at is not None
        assert at.actual_pct is not None
        assert at.actual_pct > 0.5
        reply = await op.command(Action.INCLINE_HOME)
        assert reply.accepted, reply.text
        assert reply.text == "incline returning to 0 %"
        await wait_for(
            lambda: (
                (inc := run.status(op).incline) is not None
                and inc.actual_pct is not None
                and inc.actual_pct < at.actual_pct - 0.3
            ),  # type: ignore[operator]
            "the incline going down to 0 %",
        )
        # an observer may not move the incline
        obs = await run.client(Role.OBSERVER, "watch")
        reply = await obs.command(Action.INCLINE_HOME)
        assert not reply.accepted
        assert "only the operator console" in reply.text
        await obs.close()
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await op.close()


async def test_without_an_actuator_no_incline_and_home_is_refused_with_why(
    start: Start,
) -> None:
    run = await start("sim")
    op = await run.client(Role.OPERATOR, "op")
    reader = await follow(op)
    try:
        await wait_for(lambda: op.status is not None, "a status")
        assert run.status(op).incline is None
        reply = await op.command(Action.INCLINE_HOME)
        assert not reply.accepted
        assert "no powered incline on this machine" in reply.text
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await op.close()


def test_the_incline_in_one_line() -> None:
    inc = InclineStatus(target_pct=7.5, goal_pct=4.8, actual_pct=None, mode="moving up")
    assert incline_summary(inc) == (
        "incline: target 7.5 %, actual - %, moving up (limited to 4.8 %)"
    )
    stalled = InclineStatus(
        target_pct=3.0,
        actual_pct=1.2,
        mode="faulted",
        faults=["incline stalled: no position change while driven"],
    )
    assert "FAULT: incline stalled: no position change while driven (reset: r)" in (
        incline_summary(stalled)
    )


async def test_the_headless_consoles_home(start: Start) -> None:
    assert parse_line("home", 0.0, 0.1).incline_home
    assert not parse_line("home now", 0.0, 0.1).incline_home
    assert "home" in parse_line("help", 0.0, 0.1).message
    plain = await start("sim")
    assert plain.controller.api is not None
    said = console_home(plain.controller.api.loop)
    assert said.startswith("refused: ")
    assert "no powered incline on this machine" in said
    lift = await start("sim-incline")
    assert lift.controller.api is not None
    loop = lift.controller.api.loop
    seen: list[tuple[str, bool, str]] = []

    def listen(snap: LoopSnapshot) -> None:
        if snap.incline is not None:
            seen.extend(d for d in snap.incline.decisions if d[0] == "incline_home")

    loop.listeners.append(listen)
    assert console_home(loop).startswith("incline home asked")
    # the rules decide at the next cycle: latched at power-on, the belt is not stopped
    await wait_for(lambda: bool(seen), "the incline rules' decision")
    assert seen[0] == ("incline_home", False, "belt not stopped")
