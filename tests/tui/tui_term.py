"""The real processes, as a person runs them: `treadctl serve` and `treadctl dashboard` in
an 80x24 tmux terminal, driven with send-keys and read with capture-pane."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TREADCTL = Path(sys.executable).with_name("treadctl")  # the venv's console script
DEADLINE_S = 30.0
ENV = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "xterm-256color"}


class WaitTimeoutError(AssertionError):
    pass


def wait(cond: Callable[[], bool], what: str, timeout_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise WaitTimeoutError(f"waited {timeout_s} s for {what}")
        time.sleep(0.1)


@dataclass
class Served:
    """`treadctl serve` on the built-in simulator, its output in a file (the demo session,
    or the machine and profile given)."""

    dir: Path
    machine: Path = ROOT / "src/treadctl/samples/machines/sim.toml"
    profile: Path = ROOT / "profiles/demo-short.toml"
    socket: Path = field(init=False)
    proc: subprocess.Popen[bytes] = field(init=False)

    def __post_init__(self) -> None:
        self.socket = self.dir / "c.sock"
        self.log = self.dir / "serve.log"
        argv = [
            str(TREADCTL),
            "serve",
            "--machine",
            str(self.machine),
            "--profile",
            str(self.profile),
            "--patient",
            str(ROOT / "src/treadctl/samples/patients/demo.toml"),
            "--socket",
            str(self.socket),
            "--db",
            str(self.dir / "sessions.sqlite"),
            "--events",
            str(self.dir / "events.jsonl"),
        ]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=ENV
            )
        wait(
            lambda: self.socket.exists() or self.proc.poll() is not None,
            "the controller's socket",
        )
        assert self.proc.poll() is None, self.log.read_text()

    def status(self) -> str:
        out = subprocess.run(
            [str(TREADCTL), "status", "--socket", str(self.socket)],
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
            check=False,
            env=ENV,
        )
        return out.stdout + out.stderr

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the controller quits once stopped
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Term:
    """A private tmux server (its own -L socket name) holding one 80x24 window."""

    dir: Path
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = f"treadctl-tui-{os.getpid()}-{self.dir.name}"
        self.pidfile = self.dir / "dashboard.pid"

    def tmux(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-u", "-L", self.name, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
            check=True,
            env=ENV,
        )
        return out.stdout

    def start_dashboard(self, socket: Path, width: int = 80, height: int = 24) -> None:
        inner = (
            f"echo $$ > {shlex.quote(str(self.pidfile))}; "
            f"exec {shlex.quote(str(TREADCTL))} dashboard --socket {shlex.quote(str(socket))}"
        )
        # Not the pane's own process: tmux sends SIGCONT to a pane process that stops,
        # which would thaw the freeze test's SIGSTOP at once. "; true" keeps the shell.
        self.tmux(
            "new-session", "-d", "-x", str(width), "-y", str(height), "-s", "dash",
            f"sh -c {shlex.quote(inner)}; true",
        )  # fmt: skip
        self.tmux("set-option", "-t", "dash", "remain-on-exit", "on")
        wait(lambda: self.pidfile.exists() and self.pidfile.read_text().strip() != "", "pid")

    @property
    def pid(self) -> int:
        return int(self.pidfile.read_text().strip())

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "dash")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "dash", *keys)

    def see(self, *texts: str, timeout_s: float = DEADLINE_S) -> str:
        """Wait until the screen shows every text; the screen."""
        try:
            wait(lambda: all(t in self.screen() for t in texts), f"{texts!r}", timeout_s)
        except WaitTimeoutError as exc:
            raise WaitTimeoutError(f"{exc}; the screen:\n{self.screen()}") from None
        return self.screen()

    def top_line(self) -> str:
        return self.screen().splitlines()[0]

    def dead(self) -> bool:
        return self.tmux("display-message", "-p", "-t", "dash", "#{pane_dead}").strip() == "1"

    def close(self) -> None:
        subprocess.run(
            ["tmux", "-L", self.name, "kill-server"], capture_output=True, check=False, env=ENV
        )
