"""The controller's socket with real clients: commands, refusals, bad input, presence."""

from __future__ import annotations

import asyncio
import json
import math
import socket
from typing import Any

import pytest
from api_fixtures import Running, wait_for

from treadctl.api.client import ControllerClient
from treadctl.api.messages import Action, Error, Event, Role, Status
from treadctl.safety.types import Reason


async def test_welcome_describes_the_session(running: Running) -> None:
    client = await running.client()
    welcome = client.welcome
    assert welcome is not None
    info = welcome.session
    assert info.profile == "API test: forward then backward"
    assert info.patient == "DEMO-001"
    assert info.simulated
    assert info.supervision == "required"
    assert info.presence_timeout_s == 2.0
    assert info.heartbeat_s == 0.5
    assert [s.kind for s in info.segments] == ["forward", "backward"]
    assert any("facing" in c.lower() or "face" in c.lower() for c in info.pre_start_checks)
    await wait_for(lambda: client.status is not None, "a status")
    status = running.status(client)
    assert status.mode == "faulted"
    assert status.latched
    assert status.reasons == [Reason.POWER_ON.value]
    levels = {i.name: i.level.value for i in status.indicators}
    assert levels["operator"] == "fault"  # no console attached yet
    assert levels["estop"] == "ok"
    await client.close()


async def test_observer_may_stop_but_not_start_or_reset(running: Running) -> None:
    observer = await running.client(Role.OBSERVER, "watcher")
    arguments: dict[Action, dict[str, Any]] = {
        Action.START: {},
        Action.RESET: {},
        Action.SPEED_STEP: {"steps": 1},
        Action.DIRECTION: {"direction": "backward"},
    }
    for action, args in arguments.items():
        reply = await observer.command(action, **args)
        assert not reply.accepted
        assert "only the operator console may do this" in reply.text
    reply = await observer.command(Action.PAUSE)
    assert reply.accepted
    await observer.close()


async def test_start_refused_without_a_console_then_runs_with_one(running: Running) -> None:
    op = await running.client(Role.OPERATOR, "dash")
    beat = asyncio.create_task(_heartbeats(op))
    try:
        await asyncio.sleep(1.1)  # the standstill dwell after power-on
        await wait_for(lambda: op.status is not None and op.status.at_standstill, "standstill")
        assert (await op.command(Action.RESET)).accepted
        reply = await op.command(Action.START)
        assert reply.accepted, reply.text
        await wait_for(lambda: running.status(op).mode == "running", "running")
        await wait_for(lambda: (running.status(op).actual_kmh or 0) > 0.5, "belt moving")
        # +1 step from the profile's 2.0 km/h; a turn is refused while running
        assert (await op.command(Action.SPEED_STEP, steps=1)).text == "target 2.10 km/h"
        reply = await op.command(Action.DIRECTION, direction="backward")
        assert not reply.accepted
        assert reply.text == "belt running: stop first"
        reply = await op.command(Action.QUIT)
        assert not reply.accepted
        assert "stop it first" in reply.text
        assert (await op.command(Action.PAUSE)).accepted
        await wait_for(lambda: running.status(op).mode == "stopped", "paused")
        await wait_for(lambda: running.status(op).at_standstill, "at rest")
        assert (await op.command(Action.QUIT)).accepted
        await wait_for(running.task.done, "session ended")
    finally:
        beat.cancel()
    await op.close()


async def test_console_that_stops_answering_stops_the_belt(running: Running) -> None:
    op = await running.client(Role.OPERATOR, "dash")
    beat = asyncio.create_task(_heartbeats(op))
    await wait_for(lambda: op.status is not None and op.status.at_standstill, "standstill")
    await asyncio.sleep(1.1)
    assert (await op.command(Action.RESET)).accepted
    assert (await op.command(Action.START)).accepted
    await wait_for(lambda: (running.status(op).actual_kmh or 0) > 1.0, "belt moving")
    beat.cancel()  # the dashboard freezes: no more heartbeats, the socket stays open
    await wait_for(lambda: running.status(op).mode in ("stopping", "stopped"), "stopping")
    status = running.status(op)
    assert status.reasons == [Reason.OPERATOR_ABSENT.value]
    assert not status.latched
    assert status.operator_present is False
    await wait_for(lambda: running.status(op).mode == "stopped", "stopped")
    await wait_for(lambda: running.status(op).at_standstill, "standstill")
    # no automatic restart when the console comes back
    op.heartbeat()
    await asyncio.sleep(0.5)
    assert running.status(op).mode == "stopped"
    await op.close()


async def test_second_operator_console_is_an_observer(running: Running) -> None:
    first = await running.client(Role.OPERATOR, "dash-1")
    second = await running.client(Role.OPERATOR, "dash-2")
    assert any("'dash-1' is already attached" in n for n in second.notices)
    reply = await second.command(Action.RESET)
    assert not reply.accepted
    await first.close()
    await second.close()


async def test_malformed_lines_are_refused_and_nothing_breaks(running: Running) -> None:
    reader, writer = await asyncio.open_unix_connection(str(running.socket))
    bad = [
        b"not json\n",
        b'{"type": "launch"}\n',
        b'{"type": "hello", "role": "god"}\n',
        b'{"type": "command", "id": 1, "action": "start"}\n',  # before hello
    ]
    answers = []
    for line in bad:
        writer.write(line)
        answers.append(json.loads(await asyncio.wait_for(reader.readline(), 5)))
    assert all(a["type"] == "error" for a in answers)
    assert answers[0]["text"].startswith("refused: ")
    assert "type" in answers[1]["text"]
    assert "role" in answers[2]["text"]
    assert answers[3]["text"] == "say hello first"
    writer.write(b'{"type": "hello"}\n{"type": "command", "id": 7, "action": "speed"}\n')
    seen = []
    async with asyncio.timeout(5):
        while not any(m.get("type") == "reply" for m in seen):
            seen.append(json.loads(await reader.readline()))
    reply = next(m for m in seen if m["type"] == "reply")
    assert reply == {"type": "reply", "id": 7, "accepted": False, "text": reply["text"]}
    writer.write(b'{"type":"command","id":8,"action":"speed","speed_kmh":NaN}\n')
    async with asyncio.timeout(5):
        while True:
            msg = json.loads(await reader.readline())
            if msg["type"] == "error":
                break
    writer.close()
    await writer.wait_closed()
    assert not running.task.done()


async def test_overlong_line_is_refused_and_a_stop_after_it_is_executed(
    running: Running,
) -> None:
    reader, writer = await asyncio.open_unix_connection(str(running.socket))
    writer.write(b'{"type": "hello"}\n' + b"x" * (70 * 1024) + b"\n")
    writer.write(b'{"type": "command", "id": 3, "action": "stop"}\n')
    seen: list[dict[str, object]] = []
    async with asyncio.timeout(5):
        while not any(m.get("type") == "reply" for m in seen):
            seen.append(json.loads(await reader.readline()))
    errors = [m["text"] for m in seen if m["type"] == "error"]
    assert errors == ["refused: line longer than 4096 bytes (discarded up to its end)"]
    reply = next(m for m in seen if m["type"] == "reply")
    assert reply["id"] == 3
    assert reply["accepted"], reply
    writer.close()
    await writer.wait_closed()
    assert not running.task.done()


async def test_client_that_never_reads_is_cut_off_and_the_loop_goes_on(running: Running) -> None:
    api = running.controller.api
    assert api is not None
    api.high_water_bytes = 4096
    reader, writer = await asyncio.open_unix_connection(str(running.socket))
    writer.write(b'{"type": "hello", "client": "frozen"}\n')
    await wait_for(lambda: any(c.name == "frozen" for c in api.clients), "attached")
    frozen = next(c for c in api.clients if c.name == "frozen")
    # a small kernel buffer, so that a test need not wait for 200 kB of status to pile up
    frozen.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    cycles_before = api.loop.stats.work.count
    await wait_for(lambda: all(c.name != "frozen" for c in api.clients), "cut off")
    assert api.loop.stats.work.count > cycles_before
    assert not running.task.done()
    writer.close()
    await writer.wait_closed()
    del reader


async def test_sim_inputs_trip_the_latch_and_reset_names_the_cause(running: Running) -> None:
    op = await running.client(Role.OPERATOR, "dash")
    beat = asyncio.create_task(_heartbeats(op))
    try:
        assert (await op.sim("estop", 1)).accepted
        await wait_for(
            lambda: Reason.ESTOP_CHAIN_OPEN.value in running.status(op).reasons, "e-stop seen"
        )
        estop = next(i for i in running.status(op).indicators if i.name == "estop")
        assert (estop.level.value, estop.text) == ("fault", "OPEN: release the e-stop")
        reply = await op.command(Action.RESET)
        assert not reply.accepted
        assert "emergency-stop chain open" in reply.text
        assert (await op.sim("estop", 0)).accepted
        await wait_for(
            lambda: (
                next(i for i in running.status(op).indicators if i.name == "estop").text
                == "closed again: reset to clear"
            ),
            "closed again",
        )
        await wait_for(lambda: running.status(op).at_standstill, "verified standstill")
        reply = await op.command(Action.RESET)
        assert reply.accepted, reply.text
    finally:
        beat.cancel()
    await op.close()


async def test_events_reach_clients_as_operator_lines(running: Running) -> None:
    client = await running.client(Role.OPERATOR, "dash")
    events: list[Event] = []

    async def collect() -> None:
        async for msg in client.messages():
            if isinstance(msg, Event):
                events.append(msg)

    task = asyncio.create_task(collect())
    await wait_for(lambda: any("session" in e.text for e in events), "the backlog")
    await client.command(Action.START)
    await wait_for(
        lambda: any("command   start from dash: REFUSED" in e.text for e in events), "refusal"
    )
    task.cancel()
    await client.close()


async def test_remote_requests_need_the_machine_file_and_a_local_confirmation(
    running: Running,
) -> None:
    api = running.controller.api
    assert api is not None
    accepted, text = api.remote("mqtt:desk", Action.START)
    assert not accepted
    assert text == (
        "start: remote start is not enabled in the machine file (remote_commands.start)"
    )
    assert api.remote("mqtt:desk", Action.PAUSE) == (True, "pause submitted")
    machine = api.loop.p.machine
    api.loop.p.machine = machine.model_copy(
        update={"remote_commands": machine.remote_commands.model_copy(update={"speed": True})}
    )
    accepted, text = api.remote("mqtt:desk", Action.SPEED, speed_kmh=1.5)
    assert not accepted
    assert "no local operator console attached" in text
    op = await running.client(Role.OPERATOR, "dash")
    accepted, text = api.remote("mqtt:desk", Action.SPEED, speed_kmh=math.nan)
    assert not accepted
    accepted, text = api.remote("mqtt:desk", Action.SPEED, speed_kmh=1.5)
    assert accepted
    assert "waiting for the local operator's confirmation (request 1)" in text
    await wait_for(lambda: bool(running.status(op).remote_requests), "shown to the operator")
    shown = running.status(op).remote_requests[0]
    assert (shown.ref, shown.origin, shown.speed_kmh) == (1, "mqtt:desk", 1.5)
    reply = await op.command(Action.CONFIRM_REMOTE, ref=1)
    assert (reply.accepted, reply.text) == (True, "target 1.50 km/h")
    reply = await op.command(Action.CONFIRM_REMOTE, ref=1)
    assert not reply.accepted
    assert "no remote request 1" in reply.text
    assert api.remote("mqtt:desk", Action.STOP) == (True, "stop submitted")
    await wait_for(running.task.done, "a remote stop ends the session")
    assert api.remote("mqtt:desk", Action.PAUSE) == (False, "the session has ended")
    await op.close()


async def _heartbeats(client: ControllerClient) -> None:
    while True:
        client.heartbeat()
        await asyncio.sleep(0.25)


@pytest.mark.parametrize("kind", [Status, Error])
def test_server_messages_are_strict(kind: type) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - pydantic's ValidationError is a ValueError
        kind.model_validate({"type": "status" if kind is Status else "error", "bogus": 1})


async def test_a_turn_against_the_profile_is_refused_with_the_segment(running: Running) -> None:
    op = await running.client(Role.OPERATOR, "dash")
    assert op.welcome is not None
    assert op.welcome.role is Role.OPERATOR
    await wait_for(lambda: op.status is not None and op.status.at_standstill, "standstill")
    assert (await op.command(Action.RESET)).accepted
    await wait_for(lambda: running.status(op).mode == "stopped", "stopped")
    reply = await op.command(Action.DIRECTION, direction="backward")
    assert (reply.accepted, reply.text) == (
        False,
        "the profile sets the direction: segment main/forward walks forward",
    )
    reply = await op.command(Action.DIRECTION, direction="forward")
    assert (reply.accepted, reply.text) == (True, "already forward")
    second = await running.client(Role.OPERATOR, "dash-2")
    assert second.welcome is not None
    assert second.welcome.role is Role.OBSERVER
    await second.close()
    await op.close()
