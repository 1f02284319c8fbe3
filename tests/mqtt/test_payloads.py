"""Topics and command parsing, without a broker."""

from __future__ import annotations

import json

import pytest

from treadctl.mqtt import topics
from treadctl.mqtt.commands import (
    CLOCK_SKEW_S,
    MAX_AGE_S,
    MAX_COMMAND_BYTES,
    RecentIds,
    Refusal,
    RemoteCommand,
    parse_command,
    timing_note,
)


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
    now = 1_800_000_000.0
    got = parse_command(
        cmd(id="a", action="speed", speed_kmh=1.5, origin="desk", sent_at=now), now=now
    )
    assert isinstance(got, RemoteCommand)
    assert got.api_action.value == "speed"
    assert got.speed_kmh == 1.5
    got = parse_command(
        cmd(id="b", action="direction", direction="backward", sent_at=now - 1), now=now
    )
    assert isinstance(got, RemoteCommand)
    assert got.api_direction is not None
    assert isinstance(
        parse_command(cmd(id="c", action="stop", sent_at=1000.0), now=1010.0), RemoteCommand
    )


@pytest.mark.parametrize(
    ("payload", "retained", "rid", "why"),
    [
        (b"\xff\xfe", False, None, "byte-order mark"),
        (b"\xff", False, None, "not UTF-8"),
        (b"42", False, None, "not a JSON object"),
        (cmd(action="stop"), False, None, "id: Field required"),
        (cmd(id=7, action="stop"), False, "7", "id: Input should be a valid string"),
        (cmd(id="a", action="reset"), False, "a", "action: Input should be"),
        (cmd(id="a", action="stop", speed_kmh=2.0), False, "a", "speed_kmh is for action speed"),
        (cmd(id="a", action="speed", speed_kmh=float("nan")), False, None, "NaN is not a number"),
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


NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"action": "start"}, "start needs sent_at"),
        ({"action": "start", "sent_at": NOW - MAX_AGE_S - 1}, "stale"),
        ({"action": "speed", "speed_kmh": 1.0, "sent_at": NOW + 1e9}, "in the future"),
        (
            {"action": "direction", "direction": "forward", "sent_at": NOW + CLOCK_SKEW_S + 1},
            "in the future",
        ),
    ],
)
def test_a_command_that_moves_the_belt_needs_a_fresh_sent_at(
    body: dict[str, object], why: str
) -> None:
    got = parse_command(cmd(id="m", **body), now=NOW)
    assert isinstance(got, Refusal)
    assert why in got.text
    assert got.id == "m"


@pytest.mark.parametrize(
    "sent_at", [None, NOW - 1e9, NOW + 1e9, NOW - MAX_AGE_S - 1, NOW + CLOCK_SKEW_S - 1]
)
@pytest.mark.parametrize("action", ["stop", "pause"])
def test_stop_and_pause_are_never_refused_for_their_timing(
    action: str, sent_at: float | None
) -> None:
    body: dict[str, object] = {"id": "s", "action": action}
    if sent_at is not None:
        body["sent_at"] = sent_at
    got = parse_command(cmd(**body), now=NOW)
    assert isinstance(got, RemoteCommand)
    note = timing_note(got, NOW)
    if sent_at is not None and abs(NOW - sent_at) > MAX_AGE_S:
        assert note is not None  # executed, and the answer says what was odd


def test_a_replayed_id_is_one_request() -> None:
    recent = RecentIds(window_s=60.0, max_ids=3)
    start = cmd(id="r", action="start", sent_at=NOW)
    got = parse_command(start, now=NOW)
    assert isinstance(got, RemoteCommand)
    assert recent.duplicate(got, start, 0.0) is None
    recent.remember(got, start, True, "waiting (request 1)", 0.0)
    for t in (1.0, 2.0, 59.0):
        why = recent.duplicate(got, start, t)
        assert why is not None
        assert "duplicate id" in why
        assert "accepted" in why
    # the same id with another moving action is a duplicate too
    speed = cmd(id="r", action="speed", speed_kmh=1.0, sent_at=NOW)
    other = parse_command(speed, now=NOW)
    assert isinstance(other, RemoteCommand)
    assert recent.duplicate(other, speed, 3.0) is not None
    # ... but a stop reusing the id is executed: never lost to an id collision
    stop = cmd(id="r", action="stop")
    s = parse_command(stop, now=NOW)
    assert isinstance(s, RemoteCommand)
    assert recent.duplicate(s, stop, 3.0) is None
    recent.remember(s, stop, True, "stop submitted", 3.0)
    assert recent.duplicate(s, stop, 4.0) is not None  # the same stop replayed: answered
    # a stop the controller refused is not remembered: it may be sent again
    stop2 = cmd(id="s2", action="stop")
    s2 = parse_command(stop2, now=NOW)
    assert isinstance(s2, RemoteCommand)
    recent.remember(s2, stop2, False, "no answer in time", 5.0)
    assert recent.duplicate(s2, stop2, 6.0) is None
    # bounded in time and in count
    assert recent.duplicate(s, stop, 3.0 + 61.0) is None
    for i in range(10):
        c = cmd(id=f"x{i}", action="start", sent_at=NOW)
        p = parse_command(c, now=NOW)
        assert isinstance(p, RemoteCommand)
        recent.remember(p, c, False, "refused", 100.0)
    assert len(recent) == 3
