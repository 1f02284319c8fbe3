"""Topics and command parsing, without a broker."""

from __future__ import annotations

import json

import pytest

from treadctl.mqtt import topics
from treadctl.mqtt.commands import MAX_COMMAND_BYTES, Refusal, RemoteCommand, parse_command


def test_topic_schema() -> None:
    t = topics.Topics("clinic-a", "tm-01")
    assert t.status == "treadctl/clinic-a/tm-01/status"
    assert t.result == "treadctl/clinic-a/tm-01/command/result"
    assert topics.parse(t.result) == ("clinic-a", "tm-01", topics.RESULT)
    assert topics.parse("treadctl/clinic-a/tm-01/other") is None
    assert topics.parse("elsewhere/a/b/status") is None
    assert topics.site_filter("clinic-a") == "treadctl/clinic-a/#"
    assert topics.site_filter("clinic-a", topics.STATE) == "treadctl/clinic-a/+/state"
    assert (topics.TELEMETRY.qos, topics.TELEMETRY.retain) == (0, False)
    assert (topics.STATUS.qos, topics.STATUS.retain) == (1, True)


def cmd(**body: object) -> bytes:
    return json.dumps(body).encode()


def test_valid_commands() -> None:
    got = parse_command(cmd(id="a", action="speed", speed_kmh=1.5, origin="desk"))
    assert isinstance(got, RemoteCommand)
    assert got.api_action.value == "speed"
    assert got.speed_kmh == 1.5
    got = parse_command(cmd(id="b", action="direction", direction="backward"))
    assert isinstance(got, RemoteCommand)
    assert got.api_direction is not None
    assert isinstance(
        parse_command(cmd(id="c", action="stop", sent_at=1000.0), now=1010.0), RemoteCommand
    )


@pytest.mark.parametrize(
    ("payload", "retained", "rid", "why"),
    [
        (b"\xff\xfe", False, None, "not JSON"),
        (b"42", False, None, "not a JSON object"),
        (cmd(action="stop"), False, None, "id: Field required"),
        (cmd(id=7, action="stop"), False, "7", "id: Input should be a valid string"),
        (cmd(id="a", action="reset"), False, "a", "action: Input should be"),
        (cmd(id="a", action="stop", speed_kmh=2.0), False, "a", "speed_kmh is for action speed"),
        (cmd(id="a", action="speed", speed_kmh=float("nan")), False, "a", "speed_kmh"),
        (cmd(id="a", action="speed", speed_kmh=99.0), False, "a", "less than or equal to 30"),
        (cmd(id="a", action="stop", origin="a b"), False, "a", "origin"),
        (cmd(id="a", action="stop"), True, "a", "retained"),
        (b"{" + b" " * MAX_COMMAND_BYTES + b"}", False, None, "larger than"),
    ],
)
def test_refusals(payload: bytes, retained: bool, rid: str | None, why: str) -> None:
    got = parse_command(payload, retained)
    assert isinstance(got, Refusal)
    assert got.id == rid
    assert why in got.text
    assert got.text.startswith("refused: ")
