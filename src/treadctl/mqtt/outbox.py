"""What the bridge sends, made ready: the bounded queues and the stamped payloads.

`DropQueue` is how the control loop's thread hands work to the bridge's thread: appends
never block and never fail, the oldest entry falls out when the queue is full, and the
drops are counted without a lock (one thread appends and counts `put`, the other pops
and counts `taken`; what is neither queued nor taken was dropped).

`Stamper` numbers and timestamps every payload and keeps the patient's pseudonym off the
broker unless the bridge's file says otherwise.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from treadctl.api.messages import Status
from treadctl.mqtt import topics
from treadctl.mqtt.payloads import (
    Availability,
    CommandResult,
    EventMsg,
    SessionRef,
    State,
    Summary,
    Telemetry,
    snapshot_fields,
)
from treadctl.store.timeline import format_event

WITHHELD = "(withheld)"


class DropQueue:
    def __init__(self, maxlen: int) -> None:
        self.items: deque[Any] = deque(maxlen=maxlen)
        self.put = 0
        self.taken = 0
        self.lost = 0  # taken but not published (the connection broke meanwhile)

    def append(self, item: Any) -> None:
        self.items.append(item)
        self.put += 1

    def pop(self) -> Any:
        item = self.items.popleft()  # IndexError when empty
        self.taken += 1
        return item

    @property
    def dropped(self) -> int:
        return max(0, self.put - self.taken - len(self.items)) + self.lost


class Stamper:
    def __init__(self, site: str, treadmill: str) -> None:
        self.site = site
        self.treadmill = treadmill
        self.session: SessionRef | None = None
        self.withhold: str | None = None  # the patient's pseudonym, kept off the broker
        self._seq: dict[str, int] = {}

    def head(self, leaf: topics.Leaf, numbered: bool = True) -> dict[str, Any]:
        seq = 0
        if numbered:
            seq = self._seq[leaf.name] = self._seq.get(leaf.name, 0) + 1
        return {"site": self.site, "treadmill": self.treadmill, "seq": seq, "sent_at": time.time()}

    def availability(self, state: str, reason: str, will: bool = False) -> Availability:
        # the Last Will (seq 0) is sent by the broker, whenever: not part of the sequence
        head = self.head(topics.STATUS, numbered=not will)
        return Availability.model_validate(
            {**head, "state": state, "reason": reason, "will": will, "session": self.session}
        )

    def telemetry(
        self, seq: int, sampled: float, status: Status, drops: tuple[int, int]
    ) -> Telemetry:
        head = self.head(topics.TELEMETRY, numbered=False)
        head["seq"] = seq  # numbered as queued: a dropped one leaves a gap
        return Telemetry(
            **head,
            sampled_at=sampled,
            **snapshot_fields(status),
            dropped_telemetry=drops[0],
            dropped_events=drops[1],
        )

    def state(self, sampled: float, status: Status, drops: tuple[int, int]) -> State:
        return State(
            **self.head(topics.STATE),
            sampled_at=sampled,
            **snapshot_fields(status),
            dropped_telemetry=drops[0],
            dropped_events=drops[1],
            detail=status.detail,
            warnings=status.warnings,
        )

    def summary(self, outcome: str, lines: list[str]) -> Summary:
        return Summary(
            **self.head(topics.SUMMARY),
            outcome=outcome,
            lines=[self.hide(line) for line in lines],
            session=self.session,
        )

    def result(
        self, rid: str | None, action: str | None, accepted: bool, text: str
    ) -> CommandResult:
        return CommandResult(
            **self.head(topics.RESULT), id=rid, action=action, accepted=accepted, text=text
        )

    def event(self, record: dict[str, Any]) -> EventMsg:
        text: str | None
        try:
            text = format_event(record)
        except Exception:
            text = None
        fields = {k: v for k, v in record.items() if k not in ("t_s", "wall", "kind")}
        return EventMsg(
            **self.head(topics.EVENTS),
            t_s=float(record.get("t_s", 0.0)),
            wall=str(record.get("wall", "")),
            event=str(record.get("kind", "?")),
            text=None if text is None else self.hide(text),
            fields=self._hide_all(fields),
        )

    def hide(self, text: str) -> str:
        name = self.withhold
        return text.replace(name, WITHHELD) if name else text

    def _hide_all(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.hide(value)
        if isinstance(value, list):
            return [self._hide_all(v) for v in value]
        if isinstance(value, dict):
            return {k: self._hide_all(v) for k, v in value.items()}
        return value


__all__ = ["WITHHELD", "DropQueue", "Stamper"]
