"""One controller per socket: `<socket>.lock`, flock'd for the controller's life.

The lock file beside the socket holds the pid of the controller that has it locked. A
second controller on the same socket finds it locked and is refused, naming that pid,
before it builds or connects anything; the first one is never touched. The kernel drops
the lock when its holder exits, however it exits, so a controller that died leaves no
lock behind (its socket file stays: the next controller removes it once it holds the
lock and nobody answers on it). The lock file itself is never removed: removing it
would let two controllers each lock a file of their own under the same name.

A socket that answers although its lock is free (a treadctl older than this lock, a
lock file removed by hand) refuses the same way, naming the peer's pid as the kernel
gives it (SO_PEERCRED).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import struct
import time
from pathlib import Path

PID_READ_TRIES = 20  # a holder writes its pid just after locking: wait for it, bounded
PID_READ_PAUSE_S = 0.01


class ControllerRunningError(Exception):
    """Another controller runs on this socket; `pid` is its process id, if known."""

    def __init__(self, socket_path: Path, pid: int | None) -> None:
        who = f"pid {pid}" if pid is not None else "pid unknown"
        super().__init__(
            f"another controller ({who}) is running on {socket_path}: refusing to start a "
            f"second one (stop it first: treadctl stop --socket {socket_path})"
        )
        self.socket_path = socket_path
        self.pid = pid


def lock_path(socket_path: Path) -> Path:
    return socket_path.with_name(socket_path.name + ".lock")


class SocketLock:
    """Held from `acquire` until `release` (or the process's end); release is idempotent."""

    def __init__(self, socket_path: Path, fd: int) -> None:
        self.socket_path = socket_path
        self.path = lock_path(socket_path)
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, socket_path: Path) -> SocketLock:
        """Lock `<socket>.lock` and write this process's pid in it, or raise
        ControllerRunningError naming the holder's pid (or the pid of a process that
        listens on the socket without the lock). Never waits on the holder."""
        path = lock_path(socket_path)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            pid = _holder_pid(fd)
            os.close(fd)
            raise ControllerRunningError(socket_path, pid) from None
        lock = cls(socket_path, fd)
        try:
            if socket_path.is_socket():
                answers, pid = listener_on(socket_path)
                if answers:  # a listener that takes no lock: never taken over either
                    raise ControllerRunningError(socket_path, pid)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except BaseException:
            lock.release()
            raise
        return lock

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # drops the lock; the file stays (see the module's docstring)


def _holder_pid(fd: int) -> int | None:
    for _ in range(PID_READ_TRIES):
        with contextlib.suppress(OSError, ValueError):
            text = os.pread(fd, 32, 0).decode("ascii").strip()
            if text:
                pid = int(text)
                return pid if pid > 0 else None
        time.sleep(PID_READ_PAUSE_S)
    return None


def listener_on(socket_path: Path) -> tuple[bool, int | None]:
    """(whether a process listens on `socket_path`, its pid as the kernel gives it):
    (False, None) for a stale socket file, or none."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.setblocking(False)
    try:
        probe.connect(str(socket_path))
    except BlockingIOError:  # its backlog is full: it is there, only busy
        return True, None
    except OSError:  # refused (nobody listens), gone, not a socket
        return False, None
    else:
        return True, _peer_pid(probe)
    finally:
        probe.close()


def _peer_pid(sock: socket.socket) -> int | None:
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    except OSError:
        return None
    pid, _uid, _gid = struct.unpack("3i", creds)
    return pid if pid > 0 else None
