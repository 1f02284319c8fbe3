"""What the bridge publishes: JSON objects with a schema version, a sequence number and the
wall-clock time they were sent, so a subscriber can measure latency and see gaps.

`seq` counts per topic from 1 at the bridge's start; telemetry the bridge had to drop
still took its number, so a gap in telemetry `seq` is a drop. `sent_at` is the bridge's
wall clock when it published, `sampled_at` the controller's when it took the status.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from treadctl.api.messages import Level, SessionInfo, Status

SCHEMA_VERSION = 1
LEVEL_ORDER = {Level.OK: 0, Level.WARN: 1, Level.FAULT: 2}


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Payload(Model):
    schema_version: int = SCHEMA_VERSION
    site: str
    treadmill: str
    seq: int = Field(ge=0)
    sent_at: float  # seconds since the epoch (UTC), when the bridge published this


class SessionRef(Model):
    profile: str
    machine: str
    patient: str | None  # the pseudonym, only with publish_patient = true
    simulated: bool
    loop_hz: float
    supervision: Literal["required", "none"]


class Availability(Payload):
    """The retained online/offline status; the broker publishes the offline one itself
    (the Last Will, `will` true) when the bridge's connection drops uncleanly."""

    kind: Literal["status"] = "status"
    state: Literal["online", "offline"]
    reason: str
    will: bool = False  # true: the broker's Last Will (sent_at: when the bridge connected)
    session: SessionRef | None = None


class Alarm(Model):
    name: str  # estop, key, rail_left, rail_right, drive_comm, drive_fault, heart_rate, operator
    label: str
    level: Literal["warn", "fault"]
    text: str


class Segment(Model):
    index: int
    label: str
    kind: Literal["forward", "backward", "rest"]
    target_kmh: float


class Incline(Model):
    """The powered incline (absent without an actuator); bounded: the Status's own
    fault words, the first only (the dashboard shows them all)."""

    target_pct: float
    actual_pct: float | None  # None: no position reading
    mode: Literal["halted", "holding", "moving up", "moving down", "faulted"]
    fault: str | None = None  # the first latched incline fault in words


class Snapshot(Payload):
    sampled_at: float  # seconds since the epoch, when the controller took this status
    mode: Literal["faulted", "stopped", "running", "stopping"]
    direction: Literal["forward", "backward"]  # the walker's (a turned walker: backward)
    target_kmh: float
    setpoint_kmh: float
    actual_kmh: float | None  # None: no fresh reading from the drive
    cap_kmh: float
    at_standstill: bool
    incline_pct: float
    heart_rate_bpm: float | None
    cue_spm: float | None
    segment: Segment | None
    segment_remaining_s: float
    session_elapsed_s: float
    session_remaining_s: float
    interlock: Literal["ok", "warn", "fault"]  # the worst of the interlock's indicators
    reasons: list[str]
    latched: bool
    alarms: list[Alarm]  # the indicators that are not ok
    operator_present: bool | None
    remote_pending: int  # remote requests waiting for the local operator
    ended: bool
    dropped_telemetry: int  # telemetry this bridge dropped so far (broker slow or down)
    dropped_events: int
    incline: Incline | None = None  # None: no powered incline (or an older bridge)
    # the belt's own direction: always forward where the walker turns round (None: a bridge
    # before it was published)
    belt_direction: Literal["forward", "backward"] | None = None


class Telemetry(Snapshot):
    kind: Literal["telemetry"] = "telemetry"


class State(Snapshot):
    kind: Literal["state"] = "state"
    detail: str
    warnings: list[str]


class EventMsg(Payload):
    kind: Literal["event"] = "event"
    t_s: float  # session time
    wall: str  # ISO 8601, as in the event log
    event: str  # the record's kind: transition, command, segment, broker_lost, ...
    text: str | None  # the line the dashboard shows, when it shows one
    fields: dict[str, Any]


class Summary(Payload):
    kind: Literal["summary"] = "summary"
    outcome: str
    lines: list[str]
    session: SessionRef | None = None


class CommandResult(Payload):
    kind: Literal["command_result"] = "command_result"
    id: str | None  # the request's id; None when the request was not readable
    action: str | None
    accepted: bool
    text: str


AnyPayload = Availability | Telemetry | State | EventMsg | Summary | CommandResult
any_payload: TypeAdapter[AnyPayload] = TypeAdapter(
    Annotated[
        Availability | Telemetry | State | EventMsg | Summary | CommandResult,
        Field(discriminator="kind"),
    ]
)


def session_ref(info: SessionInfo, publish_patient: bool) -> SessionRef:
    return SessionRef(
        profile=info.profile,
        machine=info.machine,
        patient=info.patient if publish_patient else None,
        simulated=info.simulated,
        loop_hz=info.loop_hz,
        supervision=info.supervision,
    )


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def snapshot_fields(status: Status) -> dict[str, Any]:
    """The fields a Telemetry and a State share, from the controller's Status."""
    seg = status.segment
    worst = max((LEVEL_ORDER[i.level] for i in status.indicators), default=0)
    return {
        "mode": status.mode,
        "direction": status.direction,
        "belt_direction": status.belt_direction or status.direction,
        "target_kmh": round(status.target_kmh, 3),
        "setpoint_kmh": round(status.setpoint_kmh, 3),
        "actual_kmh": _r(status.actual_kmh),
        "cap_kmh": round(status.cap_kmh, 3),
        "at_standstill": status.at_standstill,
        "incline_pct": status.incline_pct,
        "heart_rate_bpm": _r(status.heart_rate_bpm),
        "cue_spm": status.cue_spm,
        "segment": None
        if seg is None
        else Segment(index=seg.index, label=seg.label, kind=seg.kind, target_kmh=seg.target_kmh),
        "segment_remaining_s": round(status.segment_remaining_s, 2),
        "session_elapsed_s": round(status.session_elapsed_s, 2),
        "session_remaining_s": round(status.session_remaining_s, 2),
        "interlock": ("ok", "warn", "fault")[worst],
        "reasons": status.reasons,
        "latched": status.latched,
        "alarms": [
            Alarm(name=i.name, label=i.label, level=i.level.value, text=i.text)
            for i in status.indicators
            if i.level is not Level.OK
        ],
        "operator_present": status.operator_present,
        "remote_pending": len(status.remote_requests),
        "ended": status.ended,
        "incline": incline_fields(status),
    }


def incline_fields(status: Status) -> Incline | None:
    inc = status.incline
    if inc is None:
        return None
    return Incline(
        target_pct=round(inc.target_pct, 2),
        actual_pct=None if inc.actual_pct is None else round(inc.actual_pct, 2),
        mode=inc.mode,
        fault=inc.faults[0] if inc.faults else None,
    )


def state_key(status: Status) -> tuple[Any, ...]:
    """What makes a new retained State worth publishing (speeds alone do not)."""
    seg = status.segment
    return (
        status.mode,
        status.direction,
        tuple(status.reasons),
        status.latched,
        tuple((i.name, i.level, i.text) for i in status.indicators if i.level is not Level.OK),
        seg.index if seg is not None else None,
        status.ended,
        status.operator_present,
        len(status.remote_requests),
        tuple(status.warnings),
        status.detail,
        # a latched incline fault is news; its moving and holding are telemetry
        tuple(status.incline.faults) if status.incline is not None else None,
    )


__all__ = [
    "SCHEMA_VERSION",
    "Alarm",
    "AnyPayload",
    "Availability",
    "CommandResult",
    "EventMsg",
    "Incline",
    "Payload",
    "SessionRef",
    "Snapshot",
    "State",
    "Summary",
    "Telemetry",
    "any_payload",
    "session_ref",
    "snapshot_fields",
    "state_key",
]
