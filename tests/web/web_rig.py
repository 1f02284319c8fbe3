"""Real processes for the browser console's tests: a controller on the simulator
(`treadctl serve`), `python -m treadctl.web` in front of it, and Debian's chromium.

Waits poll a condition until a generous deadline (a loaded 2-core machine runs chromium,
a controller and a dashboard at once); a wait that reaches its deadline fails with what
was seen, never passes quietly.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from treadctl.api.messages import Hello, Role, Status, server_message

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "src/treadctl/samples"
PROFILES_DIR = SAMPLES.parents[2] / "profiles"  # the shipped profiles, at the top
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEADLINE_S = 60.0
POLL_S = 0.1
TOKEN = "test-token-0123456789abcdef"
_ANSI = re.compile(r"\x1b(\[[0-9;?<>=$]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|.)")

T = TypeVar("T")


def until(
    cond: Callable[[], T | None],
    what: str,
    timeout_s: float = DEADLINE_S,
    pause: Callable[[float], object] = time.sleep,
) -> T:
    """Poll `cond` until it returns something truthy; fail saying `what` was awaited.

    With a page open, pass `pause=pause_in(page)`: Playwright's sync API delivers the
    page's events (websocket frames) only while the test is inside one of its calls."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout_s:g} s for {what}")
        pause(POLL_S)


def need_chromium() -> Path:
    """The browser tests never skip: a machine without chromium fails, saying what to do."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"{CHROMIUM} not found: the browser tests need Debian's chromium "
            "(apt-get install chromium; scripts/test installs it)"
        )
    return CHROMIUM


def terminal_text(frames: list[bytes]) -> str:
    """What the dashboard sent the page, escape codes removed (cursor moves become gaps)."""
    raw = b"".join(frames).decode("utf-8", "replace")
    return _ANSI.sub(" ", raw)


@dataclass
class Proc:
    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    def output(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)


def spawn(argv: list[str], where: Path, name: str) -> Proc:
    out, err = where / f"{name}.out", where / f"{name}.err"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=o, stderr=e, cwd=ROOT)
    return Proc(proc, out, err)


def start_controller(where: Path) -> tuple[Proc, Path]:
    sock = where / "c.sock"
    ctl = spawn(
        [
            sys.executable, "-m", "treadctl.cli", "serve",
            "--machine", str(SAMPLES / "machines/sim.toml"),
            "--profile", str(PROFILES_DIR / "demo-short.toml"),
            "--patient", str(SAMPLES / "patients/demo.toml"),
            "--socket", str(sock),
            "--db", str(where / "t.sqlite"),
            "--events", str(where / "events.jsonl"),
        ],
        where,
        "controller",
    )  # fmt: skip

    def up() -> bool:
        assert ctl.proc.poll() is None, f"the controller ended:\n{ctl.output()}"
        return sock.exists()

    until(up, "the controller's socket")
    return ctl, sock


def start_web(where: Path, sock: Path, *extra: str) -> tuple[Proc, str]:
    """The web server on a free port with the test token; (process, base URL)."""
    token_file = where / "token"
    token_file.write_text(TOKEN + "\n")
    web = spawn(
        [
            sys.executable, "-m", "treadctl.web", "dashboard", "--socket", str(sock),
            "--port", "0", "--token-file", str(token_file), "--verbose", *extra,
        ],
        where,
        "web",
    )  # fmt: skip

    def url() -> str | None:
        assert web.proc.poll() is None, f"treadctl web ended:\n{web.output()}"
        m = re.search(r"at (http://127\.0\.0\.1:\d+)/\?token=(\S+)", web.out.read_text())
        return m[1] if m else None

    base = until(url, "treadctl web's URL")
    return web, base


def status(sock: Path) -> Status:
    """The controller's status now, read as an observer over its real socket (plain
    blocking socket: Playwright's sync API owns this thread's event loop)."""
    hello = Hello(role=Role.OBSERVER, client="web-test").model_dump_json() + "\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(DEADLINE_S)
        conn.connect(str(sock))
        conn.sendall(hello.encode())
        with conn.makefile("rb") as lines:
            for line in lines:
                msg = server_message.validate_json(line)
                if isinstance(msg, Status):
                    return msg
    pytest.fail("the controller closed before it sent a status")


def children(pid: int) -> list[int]:
    """The live child processes of `pid` (the consoles a web server runs)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            kids.append(int(stat.parent.name))
    return kids


def cleanup(where: Path) -> None:
    shutil.rmtree(where, ignore_errors=True)
