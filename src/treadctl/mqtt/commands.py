"""Remote requests from the command topic: validated here, decided by the controller.

A request is a JSON object; anything else is refused with a reason and never reaches
the controller: too large, nested too deep, not strict UTF-8 (a byte-order mark, UTF-16,
UTF-32, a lone surrogate), a non-finite number or an over-long integer, not an object,
an unknown field or action, a missing argument, retained, and for the commands that can
make the belt move (start, speed, direction) a missing, stale or future `sent_at`. A
valid one goes to `ApiServer.remote`, which accepts stop and pause at once and holds
start, speed and direction for the local operator's confirmation when the machine file
enables them (refusing them otherwise).

Stop and pause are never refused for their timing: one that arrives late (queued on the
broker during an outage) or with a sender's clock that is off is still executed, with a
note in the answer. A stop is always a safe thing to do; a start that arrives late is
not, so those are refused.

`RecentIds` collapses replays: a request id seen recently is answered as a duplicate and
never becomes a second request.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from treadctl.api.messages import Action
from treadctl.safety.types import Direction
from treadctl.untrusted import InputRefusedError, decode_json, printable

MAX_COMMAND_BYTES = 4096  # a larger payload is refused before it is decoded
MAX_COMMAND_DEPTH = 4  # a request is a flat object (depth 1); deeper is refused unparsed
MAX_AGE_S = 30.0  # start/speed/direction with a sent_at older than this: refused as stale
CLOCK_SKEW_S = 5.0  # start/speed/direction with a sent_at further ahead: refused as future
REPLAY_WINDOW_S = 900.0  # request ids are remembered this long ...
REPLAY_MAX_IDS = 1000  # ... and at most this many (the oldest are forgotten first)

URGENT = frozenset({"stop", "pause"})  # executed whatever their age
MOVING = frozenset({"start", "speed", "direction"})  # need a fresh sent_at


class RemoteCommand(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: str = Field(min_length=1, max_length=64)  # echoed in the result
    action: Literal["stop", "pause", "start", "speed", "direction"]
    speed_kmh: float | None = Field(default=None, gt=0, le=30, allow_inf_nan=False)
    direction: Literal["forward", "backward"] | None = None
    origin: str = Field(default="remote", min_length=1, max_length=64, pattern=r"^[\w.@:-]+$")
    sent_at: float | None = Field(default=None, allow_inf_nan=False)  # epoch seconds

    @model_validator(mode="after")
    def _arguments(self) -> RemoteCommand:
        if self.action == "speed" and self.speed_kmh is None:
            raise ValueError("speed needs speed_kmh")
        if self.action == "direction" and self.direction is None:
            raise ValueError("direction needs direction (forward or backward)")
        if self.speed_kmh is not None and self.action != "speed":
            raise ValueError(f"speed_kmh is for action speed, not {self.action}")
        if self.direction is not None and self.action != "direction":
            raise ValueError(f"direction is for action direction, not {self.action}")
        return self

    @property
    def api_action(self) -> Action:
        return Action(self.action)

    @property
    def api_direction(self) -> Direction | None:
        return Direction(self.direction) if self.direction is not None else None

    @property
    def urgent(self) -> bool:
        return self.action in URGENT


@dataclass(frozen=True)
class Refusal:
    id: str | None
    action: str | None
    text: str


def _best_effort_id(raw: object) -> tuple[str | None, str | None]:
    """The request's id and action when they can be read, to label a refusal (clean text:
    the decoder has already refused lone surrogates; lengths are capped)."""
    if not isinstance(raw, dict):
        return None, None
    rid, action = raw.get("id"), raw.get("action")
    ok_id = (
        printable(str(rid), 64)
        if isinstance(rid, str | int) and not isinstance(rid, bool)
        else None
    )
    return ok_id, printable(action, 32) if isinstance(action, str) else None


def _validation_text(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:3]:
        where = printable(".".join(str(x) for x in err["loc"]) or "request", 64)
        msg = "unknown field" if err["type"] == "extra_forbidden" else printable(err["msg"], 160)
        parts.append(f"{where}: {msg}")
    return "refused: " + "; ".join(parts)


def _age_text(age: float) -> str:
    return f"{age:.0f} s" if abs(age) < 1e7 else f"{age:.3g} s"


def timing_refusal(cmd: RemoteCommand, now: float) -> str | None:
    """Why a start/speed/direction is refused for its `sent_at`; None when it is fresh.
    Stop and pause are never refused for timing (see `timing_note`)."""
    if cmd.urgent:
        return None
    if cmd.sent_at is None:
        return (
            f"refused: {cmd.action} needs sent_at (s since the epoch), so that a late "
            "delivery cannot move the belt"
        )
    age = now - cmd.sent_at
    if age > MAX_AGE_S:
        return f"refused: stale ({_age_text(age)} old, the limit is {MAX_AGE_S:g} s)"
    if -age > CLOCK_SKEW_S:
        return (
            f"refused: sent_at is {_age_text(-age)} in the future (more than the "
            f"{CLOCK_SKEW_S:g} s clock-skew tolerance): check the sender's clock"
        )
    return None


def timing_note(cmd: RemoteCommand, now: float) -> str | None:
    """For a stop or pause: what is odd about its `sent_at` (it is executed all the same)."""
    if cmd.sent_at is None:
        return None
    age = now - cmd.sent_at
    if age > MAX_AGE_S:
        return f"stale ({_age_text(age)} old), executed anyway: a late {cmd.action} is safe"
    if -age > CLOCK_SKEW_S:
        return f"sent_at is {_age_text(-age)} in the future: check the sender's clock"
    return None


# A payload too large to keep reaches the inbox as this prefix and its size in bytes.
OVERSIZED = b"\x00oversized:"


def oversized_marker(size: int) -> bytes:
    return OVERSIZED + str(size).encode()


def subscription_refused(granted: object) -> str | None:
    """Why the broker refused a subscription (a SUBACK reason code of 0x80 or more), or
    None when it granted it."""
    codes = granted if isinstance(granted, tuple | list) else (granted,)
    for code in codes:
        value = getattr(code, "value", code)
        if not isinstance(value, int) or value >= 0x80:
            return str(code)
    return None


def parse_command(
    payload: bytes, retained: bool = False, now: float | None = None
) -> RemoteCommand | Refusal:
    """A valid request, or the refusal to publish (never raises)."""
    if payload.startswith(OVERSIZED):
        size = payload[len(OVERSIZED) :].decode()
        return Refusal(
            None, None, f"refused: {size} bytes, larger than {MAX_COMMAND_BYTES} (not read)"
        )
    try:
        raw = decode_json(payload, max_bytes=MAX_COMMAND_BYTES, max_depth=MAX_COMMAND_DEPTH)
    except InputRefusedError as exc:
        return Refusal(None, None, "refused: " + printable(str(exc), 200))
    rid, action = _best_effort_id(raw)
    if retained:
        return Refusal(rid, action, "refused: a retained command (it would replay at reconnect)")
    if not isinstance(raw, dict):
        return Refusal(None, None, "refused: not a JSON object")
    try:
        cmd = RemoteCommand.model_validate(raw)
    except ValidationError as exc:
        return Refusal(rid, action, _validation_text(exc))
    why = timing_refusal(cmd, time.time() if now is None else now)
    if why is not None:
        return Refusal(cmd.id, cmd.action, why)
    return cmd


@dataclass
class _Seen:
    at: float  # monotonic
    action: str
    digest: bytes
    accepted: bool
    text: str


class RecentIds:
    """The ids of recent valid requests, bounded in time and in count.

    - start, speed, direction: an id seen before (with any action) is a duplicate.
    - stop, pause: a duplicate only when the very same payload was accepted before (a
      replay); a stop that merely reuses an id is executed: a stop is never lost to an
      id collision, and a replayed one is answered, not submitted again.
    """

    def __init__(self, window_s: float = REPLAY_WINDOW_S, max_ids: int = REPLAY_MAX_IDS) -> None:
        self.window_s = window_s
        self.max_ids = max_ids
        self._seen: OrderedDict[str, _Seen] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def _expire(self, now: float) -> None:
        while self._seen:
            first = next(iter(self._seen.values()))
            if now - first.at <= self.window_s and len(self._seen) <= self.max_ids:
                return
            self._seen.popitem(last=False)

    def duplicate(self, cmd: RemoteCommand, payload: bytes, now: float) -> str | None:
        """The refusal text when `cmd` replays a remembered request; None otherwise."""
        self._expire(now)
        seen = self._seen.get(cmd.id)
        if seen is None:
            return None
        if cmd.urgent and not (seen.accepted and seen.digest == _digest(payload)):
            return None
        verdict = "accepted" if seen.accepted else "refused"
        ago = now - seen.at
        return (
            f"refused: duplicate id, not a new request (the first {seen.action} with this id, "
            f"{ago:.0f} s ago, was {verdict}: {printable(seen.text, 120)})"
        )

    def remember(
        self, cmd: RemoteCommand, payload: bytes, accepted: bool, text: str, now: float
    ) -> None:
        if cmd.urgent and not accepted:
            return  # a stop that did not go through may be sent again with its id
        self._seen.pop(cmd.id, None)
        self._seen[cmd.id] = _Seen(now, cmd.action, _digest(payload), accepted, text)
        self._expire(now)


def _digest(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=16).digest()


__all__ = [
    "CLOCK_SKEW_S",
    "MAX_AGE_S",
    "MAX_COMMAND_BYTES",
    "MAX_COMMAND_DEPTH",
    "MOVING",
    "REPLAY_MAX_IDS",
    "REPLAY_WINDOW_S",
    "URGENT",
    "RecentIds",
    "Refusal",
    "RemoteCommand",
    "oversized_marker",
    "parse_command",
    "subscription_refused",
    "timing_note",
    "timing_refusal",
]
