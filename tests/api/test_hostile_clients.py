"""Hostile local clients against a real controller on its real socket (issue 17).

Each test asserts what must hold whatever a client sends: a clear refusal, the stop
path intact (a stop after garbage on the same connection is executed), the controller
alive, no non-JSON in the event log, and memory and connections bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

from api_fixtures import Running, wait_for

from treadctl.api.client import ControllerClient
from treadctl.api.messages import Action, Role
from treadctl.control.summary import SessionSummary
from treadctl.store.eventlog import EventLog

GARBAGE = [
    b"[" * 100_000,  # past the line limit: discarded up to its end
    b"[" * 3000,  # within the line limit, far too deep
    b'{"type":"command","id":1,"action":"stop","speed_kmh":' + b"1" * 400 + b"}",
    b'{"type":"hello","client":"\\ud800"}',  # a lone surrogate
    b'{"type":"command","id":2,"action":"speed","speed_kmh":NaN}',
    b'{"type":"command","id":2,"action":"speed","speed_kmh":1e999}',
    b'{"type":"command","id":2,"action":"speed","speed_kmh":-Infinity}',
    b"\xef\xbb\xbf" + b'{"type":"heartbeat"}',  # a byte-order mark
    '{"type":"heartbeat"}'.encode("utf-16"),
    b"\x00\xff\xfe\x80 binary",
    b'"just a string"',
    b"[]",
    b'{"type":"hello","client":"\\u001b[2Jwipe"}',  # control characters in a name
    b"",
]


async def _raw(running: Running) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_unix_connection(str(running.socket), limit=1 << 20)


async def _until_reply(reader: asyncio.StreamReader, rid: int) -> list[dict[str, object]]:
    seen: list[dict[str, object]] = []
    async with asyncio.timeout(10):
        while not any(m.get("type") == "reply" and m.get("id") == rid for m in seen):
            line = await reader.readline()
            assert line, f"connection closed before the reply to {rid}: {seen[-3:]}"
            seen.append(json.loads(line))
    return seen


async def _heartbeats(client: ControllerClient) -> None:
    while True:
        client.heartbeat()
        await asyncio.sleep(0.25)


async def _running_belt(running: Running) -> tuple[ControllerClient, asyncio.Task[None]]:
    op = await running.client(Role.OPERATOR, "dash")
    beat = asyncio.create_task(_heartbeats(op))
    await wait_for(lambda: op.status is not None and op.status.at_standstill, "standstill")
    await asyncio.sleep(1.1)  # the standstill dwell after power-on
    assert (await op.command(Action.RESET)).accepted
    assert (await op.command(Action.START)).accepted
    await wait_for(lambda: (running.status(op).actual_kmh or 0) > 0.5, "belt moving")
    return op, beat


def _log_is_clean(events: EventLog) -> None:
    for record in events.records:
        line = json.dumps(record, allow_nan=False, ensure_ascii=False)
        line.encode("utf-8")  # no lone surrogate survives into a record


async def test_stop_after_garbage_on_the_same_connection_stops_the_belt(
    running: Running,
) -> None:
    op, beat = await _running_belt(running)
    try:
        reader, writer = await _raw(running)
        writer.write(b'{"type":"hello","client":"hostile"}\n')
        for line in GARBAGE:
            writer.write(line + b"\n")
        writer.write(b'{"type":"command","id":99,"action":"stop"}\n')
        seen = await _until_reply(reader, 99)
        errors = [str(m["text"]) for m in seen if m["type"] == "error"]
        assert len(errors) == len(GARBAGE), errors
        assert all(e.startswith("refused: ") for e in errors), errors
        reply = next(m for m in seen if m["type"] == "reply")
        assert reply["accepted"], reply
        await wait_for(lambda: running.status(op).mode in ("stopping", "stopped"), "stopping")
        await wait_for(lambda: running.status(op).at_standstill, "standstill")
        # a stop ends the session at standstill: cleanly, with its summary
        await wait_for(running.task.done, "session ended")
        summary = running.task.result()
        assert isinstance(summary, SessionSummary)
        assert summary.outcome == "stopped by hostile", (
            summary.outcome
        )  # the client that stopped it
        writer.close()
        await writer.wait_closed()
    finally:
        beat.cancel()
    await op.close()
    _log_is_clean(running.events)


async def test_refusals_name_the_reason(running: Running) -> None:
    reader, writer = await _raw(running)
    writer.write(b'{"type":"hello"}\n')
    for line in (
        b"[" * 3000,
        b'{"type":"command","id":2,"action":"speed","speed_kmh":1e999}',
        b'{"type":"hello","client":"\\ud800"}',
        b"\xef\xbb\xbf{}",
        b'{"type":"command","id":' + b"9" * 40 + b',"action":"stop"}',
    ):
        writer.write(line + b"\n")
    writer.write(b'{"type":"command","id":5,"action":"pause"}\n')
    texts = [str(m["text"]) for m in await _until_reply(reader, 5) if m["type"] == "error"]
    assert texts == [
        "refused: nested deeper than 4 levels",
        "refused: number 1e999 is out of range (not finite)",
        "refused: a string: not valid Unicode text (surrogates not allowed)",
        "refused: starts with a byte-order mark (send plain UTF-8)",
        "refused: integer of 40 digits is out of range",
    ]
    writer.close()
    await writer.wait_closed()


async def test_sim_inputs_only_from_the_operator_and_only_in_their_domain(
    running: Running,
) -> None:
    reader, writer = await _raw(running)
    writer.write(b'{"type":"hello","role":"observer","client":"watcher"}\n')
    writer.write(b'{"type":"sim","id":1,"input":"estop","value":1}\n')
    seen = await _until_reply(reader, 1)
    reply = next(m for m in seen if m["type"] == "reply")
    assert not reply["accepted"]
    assert reply["text"] == "sim: only the operator console may set simulator inputs"
    writer.close()
    await writer.wait_closed()

    op_reader, op_writer = await _raw(running)
    op_writer.write(b'{"type":"hello","role":"operator","client":"dash"}\n')
    bad = {
        b'{"type":"sim","id":2,"input":"drive_fault","value":-Infinity}': "finite number",
        b'{"type":"sim","id":2,"input":"heart_rate","value":NaN}': "not a number",
        b'{"type":"sim","id":2,"input":"drive_fault","value":1e19}': "a fault code 0 to 65535",
        b'{"type":"sim","id":2,"input":"drive_fault","value":2.5}': "a fault code 0 to 65535",
        b'{"type":"sim","id":2,"input":"heart_rate","value":-5}': "0 (no reading) to 300",
        b'{"type":"sim","id":2,"input":"estop","value":0.5}': "a switch: value 0 or 1",
        b'{"type":"sim","id":2,"input":"key","value":-1}': "a switch: value 0 or 1",
    }
    for line in bad:
        op_writer.write(line + b"\n")
    op_writer.write(b'{"type":"sim","id":3,"input":"heart_rate","value":95}\n')
    seen = await _until_reply(op_reader, 3)
    errors = [str(m["text"]) for m in seen if m["type"] == "error"]
    assert len(errors) == len(bad), errors
    for text, want in zip(errors, bad.values(), strict=True):
        assert want in text, (text, want)
    assert next(m for m in seen if m["type"] == "reply")["accepted"]
    op_writer.close()
    await op_writer.wait_closed()
    assert not running.task.done()
    _log_is_clean(running.events)


async def test_connections_are_bounded_and_the_operator_is_never_pushed_out(
    running: Running,
) -> None:
    api = running.controller.api
    assert api is not None
    api.max_clients = 6
    op = await running.client(Role.OPERATOR, "dash")
    others = []
    for i in range(12):
        others.append(await running.client(Role.OBSERVER, f"crowd-{i}"))
    await wait_for(lambda: len(api.clients) <= api.max_clients, "bounded")
    assert api.operator is not None
    assert api.operator.name == "dash"
    assert any(c.name == "crowd-11" for c in api.clients)  # the newest got in
    reply = await op.command(Action.PAUSE)
    assert reply.accepted
    for client in others:
        await client.close()
    await op.close()


async def test_a_connection_that_never_says_hello_is_closed(running: Running) -> None:
    api = running.controller.api
    assert api is not None
    reader, writer = await _raw(running)
    writer.write(b'{"type":"hel')  # and nothing more, ever
    async with asyncio.timeout(15):
        assert await reader.read() == b""
    writer.close()
    await writer.wait_closed()


async def test_the_socket_is_the_owners_alone(running: Running) -> None:
    mode = stat.S_IMODE(os.stat(running.socket).st_mode)
    assert mode == 0o600, oct(mode)
    assert Path(running.socket).is_socket()


async def test_a_stop_sent_just_before_hanging_up_is_still_a_stop(running: Running) -> None:
    op, beat = await _running_belt(running)
    try:
        _, writer = await _raw(running)
        writer.write(b'{"type":"hello","client":"hit-and-run"}\n')
        writer.write(b'{"type":"command","id":1,"action":"stop"}\n')
        writer.close()  # without waiting for any answer
        await writer.wait_closed()
        await wait_for(lambda: running.status(op).mode in ("stopping", "stopped"), "stopping")
        await wait_for(running.task.done, "session ended")
        assert running.task.result().outcome == "stopped by hit-and-run"
    finally:
        beat.cancel()
    await op.close()
