"""Our own sd_notify client: one datagram to an AF_UNIX socket, sent without waiting.

systemd names the socket in NOTIFY_SOCKET: a filesystem path, or '@name' in the abstract
namespace. A send that would block, or fails for any reason, is counted and dropped:
the control loop and the stop path never wait on systemd.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

MAX_ADDRESS_BYTES = 107  # sockaddr_un.sun_path holds 108 bytes, one kept for the NUL
MAX_MESSAGE_BYTES = 4096  # systemd reads notify datagrams into a buffer of this order


def notify_address(value: str | None) -> str | bytes | None:
    """The socket address from NOTIFY_SOCKET, or None when it is unset or unusable.

    '/path' is a filesystem socket; '@name' is abstract (a leading NUL). Anything else
    (vsock addresses, relative paths, oversized names) is refused: no notifications.
    """
    if not value:
        return None
    raw = value.encode("utf-8", "surrogateescape")
    if len(raw) > MAX_ADDRESS_BYTES or b"\0" in raw:
        return None
    if value.startswith("@") and len(raw) > 1:
        return b"\0" + raw[1:]
    if value.startswith("/"):
        return value
    return None


class Notifier:
    """Sends sd_notify messages; `sent` and `errors` count what happened to them."""

    def __init__(self, address: str | bytes | None) -> None:
        self.address = address
        self.sent = 0
        self.errors = 0
        self._sock: socket.socket | None = None
        if address is not None:
            try:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                sock.setblocking(False)
                self._sock = sock
            except OSError:
                self.errors += 1

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Notifier:
        return cls(notify_address(env.get("NOTIFY_SOCKET")))

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, message: str) -> bool:
        """One datagram, never waited for: False (and counted) when it could not be sent."""
        sock = self._sock
        if sock is None or self.address is None:
            return False
        data = message.encode("utf-8", "replace")
        if not data or len(data) > MAX_MESSAGE_BYTES:
            self.errors += 1
            return False
        try:
            sock.sendto(data, self.address)
        except OSError:  # full (EAGAIN), gone (ENOENT/ECONNREFUSED), denied: count and go on
            self.errors += 1
            return False
        self.sent += 1
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval_s(env: Mapping[str, str], pid: int | None = None) -> float | None:
    """Half of WATCHDOG_USEC in seconds (systemd's advice), or None when no watchdog is
    asked of this process: unset, not a positive whole number, or WATCHDOG_PID names
    another process."""
    usec_text = env.get("WATCHDOG_USEC", "")
    if not usec_text.isdigit() or len(usec_text) > MAX_USEC_DIGITS:
        return None
    usec = int(usec_text)
    if usec <= 0:
        return None
    pid_text = env.get("WATCHDOG_PID")
    if pid_text is not None:
        if not pid_text.isdigit() or len(pid_text) > MAX_PID_DIGITS:
            return None
        if int(pid_text) != (os.getpid() if pid is None else pid):
            return None
    return usec / 1e6 / 2


MAX_USEC_DIGITS = 12  # about 11 days of watchdog: more is a typo, not a setting
MAX_PID_DIGITS = 10
