"""`treadctl run --headless` in real time: stdin is the operator, refusals say why."""

from __future__ import annotations

import contextlib
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DWELL_S = 1.3  # samples/machines/sim.toml standstill_dwell_s is 1.0

SHORT_PROFILE = """
name = "Short forward check"
[[blocks]]
  [[blocks.segments]]
  direction = "forward"
  duration_s = 2
  speed_kmh = 1.0
"""

KEY_OUT_AT_START = """
name = "key out at start"
[[event]]
at_s = 0
action = "pull_key"
[[event]]
at_s = 2.0
action = "insert_key"
"""


class Session:
    """A running `treadctl run --headless` whose stdout is read line by line."""

    def __init__(self, tmp: Path, *extra: str) -> None:
        profile = tmp / "short.toml"
        profile.write_text(SHORT_PROFILE)
        self.events = tmp / "events.jsonl"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "treadctl.cli",
                "run",
                "--headless",
                "--machine",
                str(ROOT / "src/treadctl/samples/machines/sim.toml"),
                "--profile",
                str(profile),
                "--events",
                str(self.events),
                *extra,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout_s: float = 15.0) -> str:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} not seen; output so far:\n" + "\n".join(self.seen))

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self, timeout_s: float = 15.0) -> int:
        code = self.proc.wait(timeout=timeout_s)
        self.pump.join(timeout=5)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        self.close()
        return code

    def close(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None and not pipe.closed:
                with contextlib.suppress(BrokenPipeError):
                    pipe.close()


@pytest.fixture
def session_factory(tmp_path: Path):  # type: ignore[no-untyped-def]
    started: list[Session] = []

    def make(*extra: str) -> Session:
        s = Session(tmp_path, *extra)
        started.append(s)
        return s

    yield make
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()
        s.pump.join(timeout=5)
        s.close()


def test_reset_refused_with_reason_then_session_runs_to_completion(session_factory) -> None:  # type: ignore[no-untyped-def]
    s = session_factory()
    s.wait_for("session   Short forward check")
    s.send("start")
    refused = s.wait_for("command   start from console")
    assert "REFUSED" in refused
    assert "latched fault: reset first" in refused
    time.sleep(DWELL_S)  # reset needs verified standstill for the dwell time, at power-on too
    s.send("reset")
    s.wait_for("interlock faulted -> stopped")
    s.send("start")
    s.wait_for("interlock stopped -> running")
    s.wait_for("session   ended: completed", timeout_s=30)
    assert s.finish() == 0
    out = "\n".join(s.seen)
    assert "outcome: completed" in out
    assert "cycle work  p50" in out
    assert s.events.exists()


def test_reset_refused_while_the_key_is_out(session_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    scenario = tmp_path / "key.toml"
    scenario.write_text(KEY_OUT_AT_START)
    s = session_factory("--scenario", str(scenario))
    s.wait_for("injected pull_key")
    s.send("reset")
    refused = s.wait_for("command   reset from console")
    assert "REFUSED" in refused
    assert "safety key pulled" in refused
    s.wait_for("injected insert_key")
    s.send("reset")
    assert "accepted" in s.wait_for("command   reset from console")
    s.send("quit")
    assert s.finish() == 4  # session not completed (1 would be a crash)
    assert "outcome: stopped by quit" in "\n".join(s.seen)


def test_sigint_is_a_stop_and_the_program_leaves_at_standstill(session_factory) -> None:  # type: ignore[no-untyped-def]
    s = session_factory()
    s.wait_for("session   Short forward check")
    time.sleep(DWELL_S)
    s.send("reset")
    s.wait_for("interlock faulted -> stopped")
    s.send("start")
    s.wait_for("interlock stopped -> running")
    time.sleep(1.0)
    s.proc.send_signal(signal.SIGINT)
    s.wait_for("interlock running -> stopping: stop command")
    assert s.finish() == 4  # session not completed (1 would be a crash)
    out = "\n".join(s.seen)
    assert "outcome: stopped by signal" in out
    assert "final state: stopped" in out


def test_home_returns_the_incline_or_says_why_not(session_factory) -> None:  # type: ignore[no-untyped-def]
    """`home` at the headless console: asked on a machine whose lift may return to 0 %,
    refused with the reason on one without a powered incline."""
    lifted = session_factory("--machine", "sim-incline")
    lifted.wait_for("session   Short forward check")
    lifted.send("home")
    lifted.wait_for("incline home asked")
    lifted.send("quit")
    lifted.finish()
    flat = session_factory()
    flat.wait_for("session   Short forward check")
    flat.send("home")
    refused = flat.wait_for("refused:")
    assert "no powered incline" in refused
    flat.send("quit")
    flat.finish()
