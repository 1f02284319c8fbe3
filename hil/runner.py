"""HIL runner: the simulator and the real controller as separate processes.

`treadctl sim` serves the drive and the safety-input module over Modbus TCP or over
Modbus RTU on one end of a socat pty pair; `treadctl run --headless` controls it from
the other end. The test reads the controller's console, types operator commands, and
injects faults through the simulator's control channel.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MACHINE_TEMPLATE = """
name = "HIL treadmill ({transport})"
backward_walking = "{backward_walking}"
[drive]
kind = "modbus"
map = "{map}"
kmh_per_hz = 0.1
[drive.link]
{link}
[safety_inputs]
kind = "modbus"
link = "drive"
device_id = 2
[loop]
rate_hz = {rate_hz}
realtime_priority = {realtime_priority}
[limits]
max_forward_kmh = 8.0
max_backward_kmh = 4.0
reverse_start_cap_kmh = 1.5
reverse_start_hold_s = 2.0
quick_stop_decel_mps2 = 1.0
standstill_dwell_s = 0.5
rail_grace_s = 1.0
rail_release_cap_kmh = 0.8
[limits.forward]
accel_mps2 = 0.4
decel_mps2 = 0.5
jerk_mps3 = 2.0
[limits.backward]
accel_mps2 = 0.3
decel_mps2 = 0.4
jerk_mps3 = 1.5
[watchdog]
drive_read_timeout_s = 0.2
input_read_timeout_s = 0.1
drive_comm_loss_s = 0.5
unreachable_exit_s = 3.0
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LineReader:
    """Collects a process's output lines on a thread.

    `wait_for` scans forward from just after its last match, so a line that arrived
    before the call is still found, and no line is matched twice.
    """

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.cursor = 0
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def drain(self) -> list[str]:
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return self.seen

    def wait_for(self, text: str, timeout_s: float = 20.0) -> str:
        end = time.monotonic() + timeout_s
        while True:
            self.drain()
            for i in range(self.cursor, len(self.seen)):
                if text in self.seen[i]:
                    self.cursor = i + 1
                    return self.seen[i]
            self.cursor = max(self.cursor, 0)
            if time.monotonic() > end:
                tail = "\n".join(self.seen[-60:])
                raise AssertionError(f"{text!r} not seen; output so far:\n{tail}")
            time.sleep(0.02)


@dataclass
class Hil:
    transport: str  # "tcp" or "rtu"
    tmp: Path
    map_name: str = "delta-ms300"
    rate_hz: int = 50  # the loop rate: lower for a map whose RTU cycle needs more bus time
    backward_walking: str = "belt_reverses"  # or "walker_turns": the belt never reverses
    # As a clinic's machine file asks (docs/deploy.md); the simulator and the pty pair run
    # SCHED_FIFO at the same priority, as the hardware they stand for is slowed by nothing
    # on the controller's computer. Where it is not permitted, all run at normal priority.
    realtime_priority: int = 10
    procs: list[subprocess.Popen[str]] = field(default_factory=list)
    control_port: int = 0
    sim: LineReader | None = None
    ctl: LineReader | None = None
    controller: subprocess.Popen[str] | None = None
    events: Path | None = None
    endpoint: str = ""  # where a Modbus client reaches the simulator: host:port or a pty

    def _popen(self, *args: str, stdin: bool = False) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "treadctl.cli", *args],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.tmp,
            env=env,
        )
        self.procs.append(proc)
        return proc

    def start_sim(self) -> str:
        """Start the simulator; return the machine file's [drive.link] body."""
        self.control_port = free_port()
        control = f"127.0.0.1:{self.control_port}"
        if self.transport == "tcp":
            port = free_port()
            args = ["--tcp", f"127.0.0.1:{port}"]
            link = f'kind = "tcp"\nhost = "127.0.0.1"\nport = {port}\ntimeout_s = 0.05'
            self.endpoint = f"127.0.0.1:{port}"
        else:
            a, b = self._pty_pair()
            args = ["--rtu", a, "--baud", "115200"]
            link = f'kind = "rtu"\nport = "{b}"\nbaudrate = 115200\nparity = "N"\ntimeout_s = 0.05'
            self.endpoint = b
        proc = self._popen(
            "sim", "--map", self.map_name, "--kmh-per-hz", "0.1", "--control", control, *args
        )
        self.sim = LineReader(proc)
        for started in self.procs:  # the simulator, and on RTU the pty pair
            self.hardware_priority(started.pid)
        self.sim.wait_for("ready", timeout_s=20)
        return link

    def hardware_priority(self, pid: int) -> None:
        if self.realtime_priority > 0:
            with contextlib.suppress(OSError):
                os.sched_setscheduler(pid, os.SCHED_FIFO, os.sched_param(self.realtime_priority))

    def _pty_pair(self) -> tuple[str, str]:
        socat = shutil.which("socat")
        assert socat, "socat is not installed (scripts/test installs it)"
        a, b = self.tmp / "ttySim", self.tmp / "ttyCtl"
        proc = subprocess.Popen(
            [socat, f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.procs.append(proc)
        end = time.monotonic() + 5
        while not (a.exists() and b.exists()):
            assert time.monotonic() < end, "socat made no pty pair"
            time.sleep(0.01)
        return str(a), str(b)

    def start_controller(self, profile: str, *, auto: bool = True, link: str | None = None) -> None:
        """Start the controller against the simulator (started here unless `link` is given)."""
        if link is None:
            link = self.start_sim()
        machine = self.tmp / "machine.toml"
        machine.write_text(
            MACHINE_TEMPLATE.format(
                transport=self.transport,
                map=self.map_name,
                link=link,
                rate_hz=self.rate_hz,
                realtime_priority=self.realtime_priority,
                backward_walking=self.backward_walking,
            )
        )
        profile_path = self.tmp / "profile.toml"
        profile_path.write_text(profile)
        self.events = self.tmp / "events.jsonl"
        args = [
            "run",
            "--headless",
            "--machine",
            str(machine),
            "--profile",
            str(profile_path),
            "--events",
            str(self.events),
        ]
        if auto:
            args += ["--operator", "auto"]
        self.controller = self._popen(*args, stdin=True)
        self.ctl = LineReader(self.controller)

    # -- talking to the processes -----------------------------------------------------
    def sim_cmd(self, line: str) -> str:
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=5) as s:
            s.sendall((line + "\n").encode())
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
        text = reply.decode().strip()
        assert not text.startswith("error"), text
        return text

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.sim_cmd("status"))
        return result

    def wait_status(self, pred: Any, timeout_s: float = 10.0, what: str = "") -> dict[str, Any]:
        end = time.monotonic() + timeout_s
        st = self.status()
        while not pred(st):
            if time.monotonic() > end:
                raise AssertionError(f"simulator never reached {what}: {st}")
            time.sleep(0.02)
            st = self.status()
        return st

    def type(self, line: str) -> None:
        assert self.controller is not None
        assert self.controller.stdin is not None
        self.controller.stdin.write(line + "\n")
        self.controller.stdin.flush()

    def wait_exit(self, timeout_s: float = 30.0) -> int:
        assert self.controller is not None
        code = self.controller.wait(timeout=timeout_s)
        assert self.ctl is not None
        self.ctl.thread.join(timeout=5)
        self.ctl.drain()
        return code

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None and not pipe.closed:
                    with contextlib.suppress(BrokenPipeError):
                        pipe.close()
