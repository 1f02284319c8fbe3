"""The socket file: the controller's user's alone (0600 from its bind on), one controller's
at a time (`socket_lock`), accepting new connections at a bounded rate, each set up as a
task of its own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from treadctl.api.budgets import (
    ACCEPT_BACKLOG,
    ACCEPT_BURST,
    ACCEPT_ERROR_PAUSE_S,
    ACCEPTS_PER_S,
)
from treadctl.api.connection import TokenBucket
from treadctl.api.socket_lock import SocketLock


class Listener:
    """Binds the socket file and hands every accepted connection to `protocol`."""

    def __init__(self, protocol: Callable[[], asyncio.BaseProtocol]) -> None:
        self.protocol = protocol
        self.path: Path | None = None
        self._sock: socket.socket | None = None
        self._accepts: TokenBucket | None = None
        self._aio: asyncio.AbstractEventLoop | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._own_lock: SocketLock | None = None

    def open(
        self, aio: asyncio.AbstractEventLoop, path: Path, lock: SocketLock | None = None
    ) -> None:
        """Bind `path` under its lock (`socket_lock`): `lock` if the caller holds it (and
        releases it), else taken here and released by `close`. ControllerRunningError,
        naming the other's pid, if another controller has it: its socket is left alone."""
        if lock is None:
            lock = self._own_lock = SocketLock.acquire(path)
        try:
            self._bind(aio, path)
        except BaseException:
            if self._own_lock is not None:
                self._own_lock.release()
                self._own_lock = None
            raise

    def _bind(self, aio: asyncio.AbstractEventLoop, path: Path) -> None:
        self._aio = aio
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if path.is_socket():
                # under the lock, which found nobody answering on it: a stale socket
                # from a controller that died
                path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket is the operator's alone: 0600 from its bind on
        try:
            listener.bind(str(path))
        except OSError:
            listener.close()
            raise
        finally:
            os.umask(old)
        listener.listen(ACCEPT_BACKLOG)
        listener.setblocking(False)
        self._sock = listener
        self._accepts = TokenBucket(ACCEPTS_PER_S, ACCEPT_BURST)
        aio.add_reader(listener.fileno(), self._accept_ready)
        self.path = path

    def stop(self) -> None:
        """Accept no more connections (the socket file stays until `close`)."""
        listener = self._sock
        if listener is not None:
            self._sock = None
            if self._aio is not None:
                self._aio.remove_reader(listener.fileno())
            listener.close()

    async def close(self) -> None:
        """Cancel the connections still being set up, then remove the socket file."""
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.wait(set(self._handlers), timeout=1.0)
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        if self._own_lock is not None:  # after the unlink: the next one finds no socket
            self._own_lock.release()
            self._own_lock = None

    def _accept_ready(self) -> None:
        """Accept what the token bucket allows, then stop listening until a token is due.

        Every connection leaves asyncio garbage in reference cycles behind it (transport,
        protocol): a client that connects and hangs up as fast as it can made the
        collector stop the event loop for 700 ms at a time. Bounding the accept rate
        bounds that garbage; connections past it wait in the kernel's backlog.
        """
        listener, bucket, aio = self._sock, self._accepts, self._aio
        if listener is None or bucket is None or aio is None:
            return
        pause_s = 0.0
        while bucket.take(time.monotonic()):
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                bucket.give_back()
                return
            except OSError:  # e.g. out of file descriptors: try again a little later
                bucket.give_back()
                pause_s = ACCEPT_ERROR_PAUSE_S
                break
            conn.setblocking(False)
            task = aio.create_task(self._connected(conn), name="api-client")
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        aio.remove_reader(listener.fileno())
        aio.call_later(max(pause_s, bucket.wait_s()), self._resume_accepting)

    def _resume_accepting(self) -> None:
        if self._sock is not None and self._aio is not None:
            self._aio.add_reader(self._sock.fileno(), self._accept_ready)

    async def _connected(self, conn: socket.socket) -> None:
        aio = asyncio.get_running_loop()
        try:
            await aio.connect_accepted_socket(self.protocol, sock=conn)
        except (OSError, asyncio.CancelledError):
            conn.close()
