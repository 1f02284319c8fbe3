"""One client connection of the controller's socket, in bounded memory and bounded work.

A `ClientProtocol` receives into one fixed buffer of `chunk_bytes` (asyncio's streams
read 256 KiB at a time whatever their limit, and a closed connection's buffer lived on
in reference cycles until a full collection: 134 of them at once under a flood), splits
lines of at most `max_line_bytes`, and hands the server one line per turn of the event
loop, reading no more until those lines are handled. Lines already received are handled
even when the client hangs up right after them: a stop followed by a close is a stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from treadctl.api.messages import Msg, Role, encode

_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid (SO_PEERCRED)


@dataclass(eq=False)
class Client:
    transport: asyncio.Transport
    high_water: int
    hard_limit: int
    stall_s: float
    name: str = "client"
    role: Role = Role.OBSERVER
    greeted: bool = False
    dropped: int = 0
    closed: bool = False
    peer_uid: int | None = None
    peer_pid: int | None = None
    connected_at: float = field(default_factory=time.monotonic)
    over_since: float | None = None  # when the buffer passed the high-water mark

    def send(self, msg: Msg, droppable: bool = False) -> None:
        self.send_bytes(encode(msg), droppable)

    def send_bytes(self, data: bytes, droppable: bool = False) -> None:
        """Queue an encoded message; drop a droppable one for a client that lags behind."""
        if self.closed:
            return
        size = self.transport.get_write_buffer_size()
        if size > self.hard_limit:
            self.cut()
            return
        if size > self.high_water:
            if self.over_since is None:
                self.over_since = time.monotonic()
            if droppable:
                self.dropped += 1
                return
        else:
            self.over_since = None
        try:
            self.transport.write(data)
        except (ConnectionError, RuntimeError):
            self.cut()

    def pending_bytes(self) -> int:
        return 0 if self.transport.is_closing() else self.transport.get_write_buffer_size()

    def stalled(self, now: float) -> bool:
        """Past the high-water mark for `stall_s`: it reads too slowly, or not at all."""
        if self.over_since is None:
            return False
        if self.transport.get_write_buffer_size() <= self.high_water:
            self.over_since = None
            return False
        return now - self.over_since > self.stall_s

    def close(self) -> None:
        """Close after what is queued has been sent (a last error message, say)."""
        if not self.closed:
            self.closed = True
            self.transport.close()

    def cut(self) -> None:
        """Close now, discarding what is queued: a client that does not read would hold
        a gracefully closing connection and its buffer for ever."""
        self.closed = True
        self.transport.abort()

    def identify(self) -> None:
        """Who is at the other end (SO_PEERCRED), and a small kernel send buffer, so that
        a client that stops reading shows in our own buffer within a second or two."""
        sock = self.transport.get_extra_info("socket")
        if sock is None:
            return
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        with contextlib.suppress(OSError, AttributeError, struct.error):
            pid, uid, _ = _UCRED.unpack(
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
            )
            self.peer_pid, self.peer_uid = pid, uid


SEND_BUFFER_BYTES = 32 * 1024


class LineHandler(Protocol):
    """The server, as a connection sees it."""

    def attach(self, client: Client) -> None: ...

    def line(self, client: Client, line: bytes | None) -> None: ...  # None: too long

    def detach(self, client: Client) -> None: ...


class ClientProtocol(asyncio.BufferedProtocol):
    def __init__(
        self,
        handler: LineHandler,
        *,
        chunk_bytes: int,
        max_line_bytes: int,
        high_water: int,
        hard_limit: int,
        stall_s: float,
    ) -> None:
        self._handler = handler
        self._buf = bytearray(chunk_bytes)
        self._lines = LineSplitter(max_line_bytes)
        self._pending: deque[bytes | None] = deque()
        self._scheduled = False
        self._gone = False  # the peer hung up (or the connection was cut)
        self._limits = (high_water, hard_limit, stall_s)
        self.client: Client | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        high_water, hard_limit, stall_s = self._limits
        client = self.client = Client(transport, high_water, hard_limit, stall_s)
        client.identify()
        self._handler.attach(client)

    def get_buffer(self, sizehint: int) -> bytearray:
        del sizehint  # the buffer's size is ours to choose: that is the point
        return self._buf

    def buffer_updated(self, nbytes: int) -> None:
        self._pending.extend(self._lines.feed(bytes(memoryview(self._buf)[:nbytes])))
        if self._pending and self.client is not None:
            self.client.transport.pause_reading()
            self._schedule()

    def eof_received(self) -> bool:
        self._gone = True
        # True keeps it half-open until the lines received are handled; False closes it
        return bool(self._pending)

    def connection_lost(self, exc: Exception | None) -> None:
        del exc  # a reset or a hang-up: either way the lines received are still handled
        self._gone = True
        if self.client is not None:
            self.client.closed = True
        if not self._pending:
            self._finish()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._next)

    def _next(self) -> None:
        """One line per turn of the event loop, then read again."""
        self._scheduled = False
        client = self.client
        if client is None:
            return
        if self._pending:
            self._handler.line(client, self._pending.popleft())
        if self._pending:
            self._schedule()
        elif self._gone:
            client.close()
            self._finish()
        elif not client.closed:
            client.transport.resume_reading()

    def _finish(self) -> None:
        if self.client is not None:
            self._handler.detach(self.client)


class LineSplitter:
    """Splits a byte stream into lines of at most `max_bytes`, in bounded memory.

    A longer line is reported once, as None, and discarded up to its end: the next line
    on the same connection (a stop, say) is read as usual.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._buf = bytearray()
        self._skipping = False

    def feed(self, chunk: bytes) -> list[bytes | None]:
        out: list[bytes | None] = []
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if self._skipping:
                pass
            elif len(self._buf) + len(piece) > self.max_bytes:
                self._buf.clear()
                self._skipping = True
                out.append(None)
            else:
                self._buf += piece
            if end < 0:
                return out
            if not self._skipping:
                out.append(bytes(self._buf).rstrip(b"\r"))
            self._buf.clear()
            self._skipping = False
            start = end + 1


class TokenBucket:
    """At most `rate` takes a second on average, `burst` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.at: float | None = None

    def take(self, now: float) -> bool:
        if self.at is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def give_back(self) -> None:
        self.tokens = min(self.burst, self.tokens + 1.0)

    def wait_s(self) -> float:
        """Until the next token, as of the last `take`: 0 when one is there already."""
        return max(0.0, (1.0 - self.tokens) / self.rate)
