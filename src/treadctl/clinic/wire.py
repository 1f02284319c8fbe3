"""The MQTT form of a shipped batch and of the ingester's answer, and their checks.

A batch is bounded in bytes and nesting depth before any JSON parser runs
(treadctl.untrusted), non-finite numbers are refused, and then every field is checked
against a strict model: an unknown field is refused, so nothing about a patient but the
pseudonym and the session's copy of the patient file without its free text can arrive.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from treadctl.clinic.limits import ID_PATTERN
from treadctl.clinic.ship import Batch
from treadctl.untrusted import InputRefusedError, decode_json

WIRE_VERSION = 1
MAX_BATCH_BYTES = 8 * 1024 * 1024  # a batch of MQTT_BATCH_ROWS samples and events fits
MAX_ACK_BYTES = 4096
MAX_DEPTH = 6  # batch > session/rows > row: 3 levels used
MQTT_BATCH_ROWS = 2_000  # samples (and events) per MQTT batch: ~3 min at 10 Hz
MAX_TEXT = 1_000_000  # one text column (a profile, a summary, an event record)

Text = Annotated[str, Field(max_length=MAX_TEXT)]
Short = Annotated[str, Field(max_length=200)]
Hex32 = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class WireSession(_Strict):
    uuid: Hex32
    id: int = Field(ge=1)
    version: int = Field(ge=0)
    patient_json: Text | None
    kind: Short
    profile_name: Short
    profile_sha256: Short | None
    profile_text: Text | None
    machine_name: Short
    started: Short
    ended: Short | None
    status: Short
    outcome: Text | None
    planned_s: float
    summary_json: Text | None
    host: Short
    pid: int
    heartbeat: Short
    prescription_json: Text | None
    standstill_kmh: float | None
    rpe: float | None
    rpe_scale: Short | None
    rpe_recorded: Short | None
    simulated: int
    moved: int | None
    segments_recount: Literal["recomputed", "unknown"] | None = None  # schema 6


class WirePatient(_Strict):
    """The pseudonym and the numbers the progression needs: never a name or notes."""

    pseudonym: Annotated[str, Field(pattern=ID_PATTERN)]
    comfortable_forward_kmh: float
    max_forward_kmh: float | None
    max_backward_kmh: float | None
    created: Short
    updated: Short


SegmentRow = tuple[int, Short, Short, float, float, float, float, int, int | None]
# A shipper before schema 6 sends samples without the belt's own direction (its last
# column); both are taken, so the ingester can be upgraded before the treadmills.
SampleRowV1 = tuple[
    int, float, float, float, float | None, Short, float | None, int | None, int | None,
    float | None, Short, float | None,
]  # fmt: skip
SampleRow = tuple[
    int, float, float, float, float | None, Short, float | None, int | None, int | None,
    float | None, Short, float | None, Literal["forward", "backward"] | None,
]  # fmt: skip
SAMPLE_FIELDS = 13  # SampleRow's length
EventRow = tuple[int, float, Short, Short, Text]


class WireBatch(_Strict):
    v: Literal[1]
    batch: Hex32
    treadmill: Annotated[str, Field(pattern=ID_PATTERN)]
    session: WireSession
    patient: WirePatient | None
    segments: Annotated[list[SegmentRow], Field(max_length=10_000)]
    samples: Annotated[list[SampleRow | SampleRowV1], Field(max_length=MQTT_BATCH_ROWS)]
    events: Annotated[list[EventRow], Field(max_length=MQTT_BATCH_ROWS)]
    complete: bool
    sent: float = Field(ge=0)  # the shipper's wall clock when sent: for lag figures only


class Ack(_Strict):
    batch: Hex32
    ok: bool
    retry: bool = False  # not stored for a passing reason (the records are down): send again
    reason: Annotated[str, Field(max_length=500)] = ""


def new_batch_id() -> str:
    return uuid.uuid4().hex


def encode_batch(batch: Batch, treadmill: str, batch_id: str, sent: float) -> bytes:
    return json.dumps(
        {
            "v": WIRE_VERSION,
            "batch": batch_id,
            "treadmill": treadmill,
            "session": batch.session,
            "patient": batch.patient,
            "segments": batch.segments,
            "samples": batch.samples,
            "events": batch.events,
            "complete": batch.complete,
            "sent": sent,
        },
        allow_nan=False,
        separators=(",", ":"),
    ).encode()


def _refusal(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(x) for x in first["loc"])
    return f"{where}: {first['msg']}" + (
        f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    )


def decode_batch(data: bytes) -> WireBatch:
    """A checked batch; InputRefusedError says why not."""
    value = decode_json(data, max_bytes=MAX_BATCH_BYTES, max_depth=MAX_DEPTH)
    try:
        return WireBatch.model_validate_json(data) if isinstance(value, dict) else _not_object()
    except ValidationError as exc:
        raise InputRefusedError(_refusal(exc)) from None


def _not_object() -> WireBatch:
    raise InputRefusedError("not a JSON object")


def batch_of(wire: WireBatch) -> Batch:
    """The shipper's Batch again, for treadctl.clinic.ship.write_batch."""
    return Batch(
        wire.session.model_dump(),
        wire.patient.model_dump() if wire.patient is not None else None,
        [tuple(r) for r in wire.segments],
        [tuple(r) if len(r) == SAMPLE_FIELDS else (*r, None) for r in wire.samples],
        [tuple(r) for r in wire.events],
        wire.complete,
    )


def encode_ack(ack: Ack) -> bytes:
    return ack.model_dump_json().encode()


def decode_ack(data: bytes) -> Ack:
    value = decode_json(data, max_bytes=MAX_ACK_BYTES, max_depth=2)
    if not isinstance(value, dict):
        raise InputRefusedError("not a JSON object")
    try:
        return Ack.model_validate_json(data)
    except ValidationError as exc:
        raise InputRefusedError(_refusal(exc)) from None


def records_topic(site: str, treadmill: str) -> str:
    return f"treadctl/{site}/{treadmill}/records"


def ack_topic(site: str, treadmill: str) -> str:
    return f"treadctl/{site}/{treadmill}/records/ack"


RECORDS_FILTER = "treadctl/+/+/records"


def topic_treadmill(topic: str) -> tuple[str, str] | None:
    """(site, treadmill) of a records topic, None for any other topic."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != "treadctl" or parts[3] != "records":
        return None
    return parts[1], parts[2]
