"""A flood of valid commands from a client (issue 27: 3,000 starts and 20,000 pauses as an
observer, in two writes): every one is answered, the loop takes a bounded number a cycle,
and a stop sent after the flood still stops the belt."""

from __future__ import annotations

import asyncio
import json

from api_fixtures import Running, wait_for

from treadctl.api.messages import Action, Role

STARTS, PAUSES = 3_000, 20_000


async def test_every_command_of_a_flood_is_answered_and_a_stop_gets_through(
    running: Running,
) -> None:
    op = await running.client(Role.OPERATOR, "dash")
    beat = asyncio.create_task(_heartbeats(op))
    try:
        await wait_for(lambda: op.status is not None and op.status.at_standstill, "standstill")
        await asyncio.sleep(1.1)  # the standstill dwell after power-on
        assert (await op.command(Action.RESET)).accepted
        assert (await op.command(Action.START)).accepted
        await wait_for(lambda: (running.status(op).actual_kmh or 0) > 0.5, "belt moving")

        reader, writer = await asyncio.open_unix_connection(str(running.socket), limit=1 << 20)
        writer.write(b'{"type":"hello","role":"observer","client":"flood"}\n')
        writer.write(
            b"".join(b'{"type":"command","id":%d,"action":"start"}\n' % i for i in range(STARTS))
        )
        writer.write(
            b"".join(
                b'{"type":"command","id":%d,"action":"pause"}\n' % (STARTS + i)
                for i in range(PAUSES)
            )
        )
        await writer.drain()
        answered: dict[int, dict[str, object]] = {}
        async with asyncio.timeout(120):
            while len(answered) < STARTS + PAUSES:
                line = await reader.readline()
                assert line, f"connection closed after {len(answered)} answers"
                msg = json.loads(line)
                if msg.get("type") == "reply":
                    answered[int(msg["id"])] = msg
        starts = [answered[i] for i in range(STARTS)]
        assert all(not m["accepted"] for m in starts)  # an observer may not start
        pauses = [answered[STARTS + i] for i in range(PAUSES)]
        busy = [m for m in pauses if "too many commands are waiting" in str(m["text"])]
        decided = [m for m in pauses if m not in busy]
        assert decided, "some pauses reached the loop"
        assert all(str(m["text"]) for m in pauses)  # every answer says what happened

        # the operator's stop after the flood: executed, the belt stops
        assert (await op.command(Action.STOP)).accepted
        await wait_for(lambda: running.status(op).at_standstill, "standstill after the flood")
        writer.close()
        await writer.wait_closed()
    finally:
        beat.cancel()
    await op.close()


async def _heartbeats(client: object) -> None:
    while True:
        client.heartbeat()  # type: ignore[attr-defined]
        await asyncio.sleep(0.25)
