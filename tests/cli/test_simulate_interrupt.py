"""Ctrl-C during `treadctl simulate` (issue 24): the simulated belt is brought to rest, the
event log and the session record are kept, one line says so, and the exit is 130."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Four hours on the virtual clock: half a minute or more of wall time, long enough to be
# interrupted while the belt runs.
LONG_PROFILE = """
name = "Long forward walk"
[[blocks]]
  [[blocks.segments]]
  direction = "forward"
  duration_min = 240
  speed_kmh = 1.0
"""


def _events(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]


def _wait_running(proc: subprocess.Popen[str], events: Path, timeout_s: float = 60.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        assert proc.poll() is None, "simulate ended before it was interrupted"
        if any(
            e.get("kind") == "transition" and e.get("new") == "running" for e in _events(events)
        ):
            return
        time.sleep(0.05)
    raise AssertionError("the simulated belt never started")


def test_ctrl_c_brings_the_belt_to_rest_and_exits_130(tmp_path: Path) -> None:
    profile = tmp_path / "long.toml"
    profile.write_text(LONG_PROFILE)
    events = tmp_path / "events.jsonl"
    db = tmp_path / "sim.sqlite"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "treadctl.cli",
            "simulate",
            str(profile),
            "--machine",
            str(ROOT / "src/treadctl/samples/machines/sim.toml"),
            "--quiet",
            "--events",
            str(events),
            "--db",
            str(db),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        _wait_running(proc, events)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err
    assert err.count("\n") == 1, err  # one line
    assert err.startswith("simulate: interrupted by Ctrl-C: belt brought to rest at ")
    assert f"event log: {events}" in err
    assert "session record: session 1 in" in err
    assert out == ""

    log = _events(events)
    end = log[-1]
    assert end["kind"] == "session_end"
    assert end["outcome"] == "stopped by signal"
    assert isinstance(end["t_s"], float)
    assert end["t_s"] < 3 * 3600
    stop = next(e for e in log if e.get("kind") == "command" and e.get("source") == "signal")
    assert stop["accepted"] is True
    at_rest = [e for e in log if e.get("kind") == "transition" and e.get("new") == "stopped"]
    assert at_rest
    assert at_rest[-1]["detail"] == "standstill"
    assert not any(e.get("kind") == "controller_error" for e in log)

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT status, outcome, ended FROM sessions").fetchall()
    assert len(rows) == 1
    status, outcome, ended = rows[0]
    assert (status, outcome) == ("stopped", "stopped by signal")
    assert ended is not None
