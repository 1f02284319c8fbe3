"""The bridge's command inbox: bounded, outliving any one broker connection.

aiomqtt hands each received message to a queue it owns, one per connection, and drops
new messages when that queue is full. A command already acknowledged to the broker
would die with the connection's queue, and a flood of garbage would push a stop out.
So the bridge gives aiomqtt a queue class (treadctl.mqtt_client.queue_class) whose
`put_nowait` hands the message on to this inbox, which belongs to the bridge and survives
reconnections:

- a message acknowledged to the broker (paho acknowledges QoS 1 once the callback
  returns) is decided even if the connection drops right after;
- when the inbox is full, the oldest message that does not look like a stop or pause is
  pushed out (and answered with a refusal); the newest message always gets in.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

INBOX_MAX = 256  # commands waiting to be decided; a flood beyond this is refused unread


@dataclass(frozen=True)
class Incoming:
    payload: bytes
    retain: bool
    at: float  # time.monotonic() at receipt


def looks_urgent(payload: bytes) -> bool:
    """Cheap, on raw bytes: might this be a stop or a pause? (Only decides which message
    an overflowing inbox pushes out first; the real decision is made after decoding.)"""
    return b'"stop"' in payload or b'"pause"' in payload


class Inbox:
    def __init__(self, maxlen: int = INBOX_MAX) -> None:
        self.maxlen = maxlen
        self.items: deque[Incoming] = deque()
        self.received = 0
        self.evicted = 0
        self.ready = asyncio.Event()  # create the inbox in the loop that reads it

    def __len__(self) -> int:
        return len(self.items)

    def put(self, payload: bytes, retain: bool) -> Incoming | None:
        """Queue a message; returns the one pushed out to make room, if any."""
        self.received += 1
        out: Incoming | None = None
        if len(self.items) >= self.maxlen:
            victim = next((i for i, m in enumerate(self.items) if not looks_urgent(m.payload)), 0)
            out = self.items[victim]
            del self.items[victim]
            self.evicted += 1
        self.items.append(Incoming(payload, retain, time.monotonic()))
        self.ready.set()
        return out

    def pop(self) -> Incoming | None:
        if not self.items:
            self.ready.clear()
            return None
        return self.items.popleft()


__all__ = ["INBOX_MAX", "Inbox", "Incoming", "looks_urgent"]
