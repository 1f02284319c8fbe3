"""Command messages are strict, and every refused one is answered (issue 27): an unknown
field, an argument the action does not take, a wrong type or a missing field is refused
with the reason, carrying the message's id when it can be read, else a null id."""

from __future__ import annotations

import asyncio
import json

from api_fixtures import Running, wait_for

OPERATOR_HELLO = b'{"type":"hello","role":"operator","client":"strict"}\n'


async def _answers(running: Running, lines: list[bytes]) -> list[dict[str, object]]:
    """The controller's answers (errors and replies) to `lines`, one each, in order."""
    reader, writer = await asyncio.open_unix_connection(str(running.socket), limit=1 << 20)
    writer.write(OPERATOR_HELLO)
    for line in lines:
        writer.write(line + b"\n")
    answers: list[dict[str, object]] = []
    async with asyncio.timeout(10):
        while len(answers) < len(lines):
            msg = json.loads(await reader.readline())
            if msg["type"] in ("error", "reply"):
                answers.append(msg)
    writer.close()
    await writer.wait_closed()
    return answers


async def test_an_argument_the_action_does_not_take_is_refused_not_ignored(
    running: Running,
) -> None:
    """The issue's case: a reset with a stray `ref` used to reset the latch."""
    watcher = await running.client()
    await wait_for(lambda: watcher.status is not None, "status")
    (answer,) = await _answers(running, [b'{"type":"command","id":9,"action":"reset","ref":1}'])
    assert answer["type"] == "error"
    assert answer["id"] == 9
    assert "reset takes no ref" in str(answer["text"])
    await asyncio.sleep(0.3)
    assert watcher.status is not None
    assert watcher.status.latched  # still at the power-on latch: nothing was reset
    await watcher.close()


async def test_every_refused_command_is_answered_with_its_id_or_a_null_one(
    running: Running,
) -> None:
    cases: list[tuple[bytes, int | None, str]] = [
        (b'{"type":"command","id":11,"action":"pause","extra":1}', 11, "extra"),
        (b'{"type":"command","id":12,"action":"speed","speed_kmh":"2"}', 12, "speed_kmh"),
        (b'{"type":"command","id":13,"action":"speed_step","steps":true}', 13, "steps"),
        (b'{"type":"command","id":14,"action":"launch"}', 14, "action"),
        (b'{"type":"command","id":"15","action":"pause"}', None, "id"),
        (b'{"type":"command","id":true,"action":"pause"}', None, "id"),
        (b'{"type":"command","action":"pause"}', None, "id"),
        (b'{"type":"command","id":16}', 16, "action"),
        (b'{"type":"sim","id":17,"input":"estop","value":"1"}', 17, "value"),
    ]
    answers = await _answers(running, [line for line, _, _ in cases])
    for (line, want_id, names), answer in zip(cases, answers, strict=True):
        assert answer["type"] == "error", (line, answer)
        assert answer["id"] == want_id, (line, answer)
        assert str(answer["text"]).startswith("refused: "), answer
        assert names in str(answer["text"]), (line, answer)
    # the connection is still good: a valid command after them is decided
    (reply,) = await _answers(running, [b'{"type":"command","id":20,"action":"pause"}'])
    assert reply["type"] == "reply"
    assert reply["id"] == 20
