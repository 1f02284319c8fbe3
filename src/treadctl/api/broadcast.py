"""What every client receives, encoded once for all of them: the event backlog, the
latest status and the welcome per role; and the catch-up of a client that has just said
hello."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from treadctl.api.budgets import EVENT_BACKLOG
from treadctl.api.connection import Client
from treadctl.api.messages import Ended, Event, Role, Status, Welcome, encode
from treadctl.store.timeline import format_event
from treadctl.untrusted import printable


@dataclass
class Broadcast:
    events: deque[Event] = field(default_factory=lambda: deque(maxlen=EVENT_BACKLOG))
    _event_bytes: deque[bytes] = field(default_factory=lambda: deque(maxlen=EVENT_BACKLOG))
    _status_bytes: bytes | None = None  # the latest status, encoded once for every client
    _welcomes: dict[Role, bytes] = field(default_factory=dict)

    def event(self, record: dict[str, Any], clients: Iterable[Client]) -> None:
        """An event-log record, as the timeline words it, to every client that said hello."""
        text = format_event(record)
        if text is None:
            return
        event = Event(t_s=float(record["t_s"]), kind=str(record["kind"]), text=printable(text, 500))
        self.events.append(event)
        data = encode(event)
        self._event_bytes.append(data)
        for client in clients:
            if client.greeted:
                client.send_bytes(data)

    def status(self, status: Status, clients: Iterable[Client]) -> None:
        """The latest status to every client that said hello (dropped for one that lags)."""
        data = self._status_bytes = encode(status)
        for client in clients:
            if client.greeted:
                client.send_bytes(data, droppable=True)

    def catch_up(
        self,
        client: Client,
        welcome: Welcome,
        ended: Ended | None,
        fresh_status: Callable[[], Status | None],
    ) -> None:
        """A client that has just said hello: its welcome, the event backlog, the status
        (built afresh before the first one and at the end) and, at the end, the end."""
        client.send_bytes(self._welcome_bytes(welcome, client.role))
        client.send_bytes(b"".join(self._event_bytes))
        if ended is not None or self._status_bytes is None:
            status = fresh_status()
            if status is not None:
                client.send(status)
        else:
            client.send_bytes(self._status_bytes)
        if ended is not None:
            client.send(ended)

    def _welcome_bytes(self, welcome: Welcome, role: Role) -> bytes:
        cached = self._welcomes.get(role)
        if cached is None:
            cached = self._welcomes[role] = encode(welcome.model_copy(update={"role": role}))
        return cached
