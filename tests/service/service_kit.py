"""Helpers: systemd's side of sd_notify, played by a real AF_UNIX datagram socket, and a real
`treadctl serve` process started the way the unit starts it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 30.0
SIM_MACHINE = (
    ROOT / "src/treadctl/samples/machines/sim.toml"
)  # generous: a loaded 2-core machine starts Python slowly


@dataclass
class Datagram:
    at: float  # time.monotonic() at receipt
    text: str
    api_socket_existed: bool  # the controller's API socket existed when it arrived


@dataclass
class NotifyListener:
    """Receives sd_notify datagrams in a thread, as systemd would."""

    path: Path
    api_socket: Path
    sock: socket.socket
    received: list[Datagram] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: bool = False

    def run(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                data = self.sock.recv(8192)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.received.append(
                    Datagram(time.monotonic(), data.decode(), self.api_socket.exists())
                )

    def messages(self) -> list[Datagram]:
        with self._lock:
            return list(self.received)

    def with_line(self, line: str) -> list[Datagram]:
        return [d for d in self.messages() if line in d.text.split("\n")]

    def wait_for(self, line: str, timeout_s: float = DEADLINE_S) -> Datagram:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.with_line(line)
            if found:
                return found[0]
            time.sleep(0.02)
        raise AssertionError(f"no {line!r} within {timeout_s} s: {self.messages()}")


def serve_command(api_socket: Path, tmp: Path, machine: Path = SIM_MACHINE) -> list[str]:
    return [
        sys.executable,
        "-m",
        "treadctl.cli",
        "serve",
        "--machine",
        str(machine),
        "--profile",
        str(ROOT / "profiles/demo-short.toml"),
        "--patient",
        str(ROOT / "src/treadctl/samples/patients/demo.toml"),
        "--socket",
        str(api_socket),
        "--db",
        str(tmp / "t.sqlite"),
        "--events",
        str(tmp / "events.jsonl"),
    ]


def start_serve(
    api_socket: Path,
    tmp: Path,
    env: dict[str, str],
    stdout: IO[str] | int = subprocess.PIPE,
    machine: Path = SIM_MACHINE,
    extra: tuple[str, ...] = (),
) -> subprocess.Popen[str]:
    full = {k: v for k, v in os.environ.items() if k not in SYSTEMD_VARS}
    full.update(env)
    return subprocess.Popen(
        [*serve_command(api_socket, tmp, machine), *extra],
        stdout=stdout,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env=full,
    )


def stop_serve(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(DEADLINE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(DEADLINE_S)
    out = proc.stdout.read() if proc.stdout is not None else ""
    if proc.stdout is not None:
        proc.stdout.close()
    return out


SYSTEMD_VARS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM")


def wait_ready(listener: NotifyListener, proc: subprocess.Popen[str]) -> Datagram:
    """READY=1, or a failure that shows what the controller printed."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        found = listener.with_line("READY=1")
        if found:
            return found[0]
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    raise AssertionError(f"no READY=1: {listener.messages()}\n{stop_serve(proc)}")
