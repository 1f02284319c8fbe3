"""Hostile payloads through `parse_command`, fast and many (hypothesis, bounded).

Whatever the bytes, `parse_command` returns a valid request or a refusal whose text is
clean (UTF-8 encodable, bounded) and that the bridge can publish; it never raises.
"""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from treadctl.mqtt.commands import (
    CLOCK_SKEW_S,
    MAX_AGE_S,
    MAX_COMMAND_BYTES,
    MOVING,
    Refusal,
    RemoteCommand,
    parse_command,
)
from treadctl.mqtt.outbox import Stamper

NOW = 1_800_000_000.0
FUZZ = settings(
    max_examples=250,
    deadline=500,  # ms per example: a slow decoder is a finding too
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
STAMP = Stamper("clinic", "tm-01")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["stop", "pause", "start", "speed", "direction", "forward", "\ud800"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
command_like = st.fixed_dictionaries(
    {
        "id": st.one_of(st.text(max_size=70), st.integers(), st.none()),
        "action": st.sampled_from(
            ["stop", "pause", "start", "speed", "direction", "fly", "\udfff"]
        ),
    },
    optional={
        "speed_kmh": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers()),
        "direction": st.sampled_from(["forward", "backward", "up", ""]),
        "origin": st.text(max_size=70),
        "sent_at": st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.floats(min_value=NOW - 2 * MAX_AGE_S, max_value=NOW + 2 * CLOCK_SKEW_S),
            st.integers(min_value=-(10**30), max_value=10**30),
        ),
        "extra": json_values,
    },
)


def encodings(value: object) -> st.SearchStrategy[bytes]:
    text = json.dumps(value, allow_nan=True)  # NaN / Infinity tokens, \ud800 escapes
    raw = json.dumps(value, allow_nan=True, ensure_ascii=False)
    variants = [text.encode()]
    for codec in ("utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8"):
        try:
            variants.append(raw.encode(codec))
        except UnicodeEncodeError:
            variants.append(raw.encode(codec, "surrogatepass"))
    return st.sampled_from(variants)


payloads = st.one_of(
    st.binary(max_size=300),
    command_like.flatmap(encodings),
    json_values.flatmap(encodings),
    st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(min_value=1, max_value=3000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.integers(min_value=MAX_COMMAND_BYTES - 8, max_value=MAX_COMMAND_BYTES + 64).map(
        lambda n: b'{"id":"big","action":"stop","origin":"' + b"a" * n + b'"}'
    ),
)


def _no_constant(name: str) -> object:
    raise AssertionError(f"{name} was accepted")


def check(got: RemoteCommand | Refusal) -> None:
    if isinstance(got, Refusal):
        assert got.text.startswith("refused: ")
        for text in (got.text, got.id, got.action):
            if text is not None:
                text.encode("utf-8")  # no lone surrogate reaches a log or the broker
                assert len(text) <= 300
        # and the bridge can always publish it
        STAMP.result(got.id, got.action, False, got.text).model_dump_json()
        return
    assert isinstance(got, RemoteCommand)
    got.id.encode("utf-8")
    assert 1 <= len(got.id) <= 64
    if got.speed_kmh is not None:
        assert math.isfinite(got.speed_kmh)
        assert 0 < got.speed_kmh <= 30
    if got.action in MOVING:
        assert got.sent_at is not None
        assert -CLOCK_SKEW_S <= NOW - got.sent_at <= MAX_AGE_S


@FUZZ
@given(payloads, st.booleans())
def test_any_payload_is_a_valid_request_or_a_clean_refusal(payload: bytes, retained: bool) -> None:
    got = parse_command(payload, retained, now=NOW)
    check(got)
    if retained or len(payload) > MAX_COMMAND_BYTES:
        assert isinstance(got, Refusal)
    if payload.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        assert isinstance(got, Refusal)


@FUZZ
@given(command_like.flatmap(encodings))
def test_only_plain_utf8_json_is_read(payload: bytes) -> None:
    got = parse_command(payload, now=NOW)
    check(got)
    if isinstance(got, RemoteCommand):
        # what was accepted decodes as plain UTF-8 JSON with no surrogate and no NaN
        value = json.loads(payload.decode("utf-8"), parse_constant=_no_constant)
        assert isinstance(value, dict)
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # no lone surrogate in it
