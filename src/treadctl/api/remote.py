"""Remote requests that move the belt wait here for the local operator's confirmation.

Stop and pause from afar are always accepted and never wait. A start, speed or
direction request that the machine file enables is held for `ttl_s`, shown on the
dashboard, and becomes a command only when the operator at the belt confirms it.

What waits is bounded, whatever a publisher sends: one request per origin and action
(a newer one replaces the older, which the operator can no longer confirm), and at
most `max_held` in all; past that a new request is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from treadctl.api.messages import Action, RemoteRequest
from treadctl.safety.types import Command, CommandKind, Direction

REMOTE_TTL_S = 30.0
MAX_HELD = 8  # requests waiting at once: more than an operator can read at the belt


@dataclass
class _Held:
    request: RemoteRequest
    expires_at: float


@dataclass
class RemoteDesk:
    ttl_s: float = REMOTE_TTL_S
    max_held: int = MAX_HELD
    _held: dict[int, _Held] = field(default_factory=dict)
    _next_ref: int = 1
    _now: float = 0.0

    def ask(
        self,
        origin: str,
        action: Action,
        now: float,
        speed_kmh: float | None = None,
        direction: Direction | None = None,
    ) -> int | None:
        """Hold a request for confirmation; its reference, or None when the desk is full."""
        if action not in (Action.START, Action.SPEED, Action.DIRECTION):
            raise ValueError(f"{action.value} needs no confirmation")
        self.expire(now)
        for old_ref, held in list(self._held.items()):
            if held.request.origin == origin and held.request.action is action:
                del self._held[old_ref]  # the newer request from the same origin replaces it
        if len(self._held) >= self.max_held:
            return None
        ref = self._next_ref
        self._next_ref += 1
        self._held[ref] = _Held(
            RemoteRequest(
                ref=ref,
                origin=origin,
                action=action,
                speed_kmh=speed_kmh,
                direction=direction.value if direction is not None else None,
                expires_in_s=self.ttl_s,
            ),
            now + self.ttl_s,
        )
        self._now = now
        return ref

    def expire(self, now: float) -> list[RemoteRequest]:
        self._now = now
        gone = [ref for ref, held in self._held.items() if held.expires_at <= now]
        return [self._held.pop(ref).request for ref in gone]

    def listing(self) -> list[RemoteRequest]:
        return [
            held.request.model_copy(
                update={"expires_in_s": round(max(0.0, held.expires_at - self._now), 1)}
            )
            for held in self._held.values()
        ]

    def reject(self, ref: int, now: float) -> RemoteRequest | None:
        self.expire(now)
        held = self._held.pop(ref, None)
        return held.request if held is not None else None

    def confirm(self, ref: int, now: float, confirmed_by: str) -> Command | None:
        """The command to submit, or None when the reference is unknown or expired."""
        self.expire(now)
        held = self._held.pop(ref, None)
        if held is None:
            return None
        req = held.request
        source = f"{req.origin} (confirmed by {confirmed_by})"
        if req.action is Action.START:
            return Command(CommandKind.START, source)
        if req.action is Action.SPEED:
            return Command(CommandKind.SET_SPEED, source, speed_kmh=req.speed_kmh)
        direction = Direction(req.direction) if req.direction is not None else None
        return Command(CommandKind.SET_DIRECTION, source, direction=direction)
