"""Remote requests from the command topic: validated here, decided by the controller.

A request is a JSON object; anything else (not JSON, unknown fields, an unknown action,
a missing argument, too large, retained, too old) is refused with a reason and never
reaches the controller. A valid one goes to `ApiServer.remote`, which accepts stop and
pause at once and holds start, speed and direction for the local operator's confirmation
when the machine file enables them (refusing them otherwise).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from treadctl.api.messages import Action
from treadctl.safety.types import Direction

MAX_COMMAND_BYTES = 4096
MAX_AGE_S = 30.0  # a request with a sent_at older than this is refused as stale


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


@dataclass(frozen=True)
class Refusal:
    id: str | None
    action: str | None
    text: str


def _best_effort_id(raw: object) -> tuple[str | None, str | None]:
    """The request's id and action when they can be read, to label a refusal."""
    if not isinstance(raw, dict):
        return None, None
    rid, action = raw.get("id"), raw.get("action")
    ok_id = str(rid)[:64] if isinstance(rid, str | int) and not isinstance(rid, bool) else None
    return ok_id, action[:32] if isinstance(action, str) else None


def _validation_text(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:3]:
        where = ".".join(str(x) for x in err["loc"]) or "request"
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{where}: {msg}")
    return "refused: " + "; ".join(parts)


def parse_command(
    payload: bytes, retained: bool = False, now: float | None = None
) -> RemoteCommand | Refusal:
    """A valid request, or the refusal to publish (never raises)."""
    if len(payload) > MAX_COMMAND_BYTES:
        return Refusal(None, None, f"refused: larger than {MAX_COMMAND_BYTES} bytes")
    try:
        raw = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return Refusal(None, None, "refused: not JSON")
    rid, action = _best_effort_id(raw)
    if retained:
        return Refusal(rid, action, "refused: a retained command (it would replay at reconnect)")
    if not isinstance(raw, dict):
        return Refusal(None, None, "refused: not a JSON object")
    try:
        cmd = RemoteCommand.model_validate(raw)
    except ValidationError as exc:
        return Refusal(rid, action, _validation_text(exc))
    if cmd.sent_at is not None:
        age = (time.time() if now is None else now) - cmd.sent_at
        if age > MAX_AGE_S:
            return Refusal(cmd.id, cmd.action, f"refused: stale ({age:.0f} s old)")
    return cmd


__all__ = ["MAX_COMMAND_BYTES", "Refusal", "RemoteCommand", "parse_command"]
