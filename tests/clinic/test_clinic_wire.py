"""The MQTT batch's checks, before and while parsing: size, depth, non-finite numbers,
unknown fields (nothing about a patient but the pseudonym and numbers can arrive)."""

from __future__ import annotations

import json

import pytest

from treadctl.clinic.ship import Batch
from treadctl.clinic.wire import (
    MAX_BATCH_BYTES,
    batch_of,
    decode_ack,
    decode_batch,
    encode_batch,
    new_batch_id,
    topic_treadmill,
)
from treadctl.untrusted import InputRefusedError

SESSION = {
    "uuid": "a" * 32, "id": 3, "version": 7, "patient_json": '{"pseudonym": "P-1"}',
    "kind": "run", "profile_name": "p", "profile_sha256": None, "profile_text": None,
    "machine_name": "m", "started": "2025-01-01T00:00:00Z", "ended": None,
    "status": "running", "outcome": None, "planned_s": 600.0, "summary_json": None,
    "host": "h", "pid": 1, "heartbeat": "2025-01-01T00:00:00Z", "prescription_json": None,
    "standstill_kmh": 0.1, "rpe": None, "rpe_scale": None, "rpe_recorded": None,
    "simulated": 0, "moved": None, "segments_recount": None,
}  # fmt: skip
PATIENT = {
    "pseudonym": "P-1", "comfortable_forward_kmh": 3.0, "max_forward_kmh": None,
    "max_backward_kmh": 2.0, "created": "x", "updated": "y",
}  # fmt: skip
# walker's direction backward, the belt's own forward (a turn-round machine)
SAMPLE = (5, 0.5, 2.0, 2.0, 1.9, "backward", None, 0, 1, None, "normal", None, "forward")


def good() -> dict[str, object]:
    batch = Batch(SESSION, PATIENT, [], [SAMPLE], [(1, 0.1, "w", "k", "{}")], True)
    value: dict[str, object] = json.loads(encode_batch(batch, "tm-01", new_batch_id(), 1.0))
    return value


def test_a_batch_round_trips() -> None:
    wire = decode_batch(json.dumps(good()).encode())
    back = batch_of(wire)
    assert back.session == SESSION
    assert back.patient == PATIENT
    assert back.samples == [SAMPLE]
    assert wire.treadmill == "tm-01"


def test_a_batch_from_a_shipper_before_schema_6_is_taken() -> None:
    """No belt direction in its samples, no recount in its session: the ingester is
    upgraded first, and the treadmills after it."""
    data = good()
    session = data["session"]
    assert isinstance(session, dict)
    del session["segments_recount"]
    data["samples"] = [list(SAMPLE[:-1])]
    back = batch_of(decode_batch(json.dumps(data).encode()))
    assert back.samples == [(*SAMPLE[:-1], None)]
    assert back.session == SESSION


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda d: d.update(samples=[[*SAMPLE[:-1], "sideways"]]), "samples"),
        (lambda d: d["session"].update(segments_recount="guessed"), "segments_recount"),
        (lambda d: d["patient"].update(notes="Jane Example"), "notes"),
        (lambda d: d["patient"].update(name="Jane"), "name"),
        (lambda d: d.update(treadmill="tm/+"), "treadmill"),
        (lambda d: d["session"].update(uuid="../x"), "uuid"),
        (lambda d: d.update(samples=[[5, "0.5", *SAMPLE[2:]]]), "samples"),
        (lambda d: d.update(v=2), "v"),
    ],
)
def test_fields_are_checked(mutate: object, why: str) -> None:
    data = good()
    mutate(data)  # type: ignore[operator]
    with pytest.raises(InputRefusedError, match=why):
        decode_batch(json.dumps(data).encode())


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b'{"v": 1, "sent": NaN}', "non-finite"),
        (b'{"v": 1, "sent": 1e999}', "not finite"),
        (b"[" * 10_000 + b"]" * 10_000, "nested deeper"),
        (b" " * (MAX_BATCH_BYTES + 1), "larger than"),
        (b"\xff\xfe{}", "byte-order"),
        (b"[1, 2]", "not a JSON object"),
    ],
)
def test_hostile_payloads_are_refused_before_parsing(raw: bytes, why: str) -> None:
    with pytest.raises(InputRefusedError, match=why):
        decode_batch(raw)


def test_acks_and_topics() -> None:
    with pytest.raises(InputRefusedError):
        decode_ack(b'{"batch": "x", "ok": true}')
    assert decode_ack(json.dumps({"batch": "b" * 32, "ok": True}).encode()).ok
    assert topic_treadmill("treadctl/clinic-a/tm-01/records") == ("clinic-a", "tm-01")
    assert topic_treadmill("treadctl/clinic-a/tm-01/records/ack") is None
    assert topic_treadmill("other/clinic-a/tm-01/records") is None
