"""The metronome in the sessions the CLI runs: `serve` and `run --headless` with a machine
file that enables it on this machine (no sound card) print the no-sound warning to stderr,
log it, and run the session to its end; the headless metronome follows the running
segment's cue and falls silent when the belt stops."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from treadctl.app import build_session, load_session
from treadctl.cli.metronome import HeadlessMetronome
from treadctl.clock import FINE_SLEEP_S, MonotonicClock
from treadctl.metronome.bridge import NO_SOUND
from treadctl.samples import folder
from treadctl.sim.operator import ScriptedOperator
from treadctl.store.eventlog import EventLog

SIM = (folder("machine") / "sim.toml").read_text()
CUE_SPM = 100.0
PROFILE = f"""
name = "Short cued walk"
supervision = "none"  # serve runs it with no dashboard attached
[[blocks]]
  [[blocks.segments]]
  direction = "forward"
  duration_s = 3
  speed_kmh = 1.0
  cadence_spm = {CUE_SPM:g}
"""


def files_in(tmp: Path) -> tuple[Path, Path]:
    machine = tmp / "clicking.toml"
    machine.write_text(SIM + "\n[metronome]\nenabled = true\n")
    profile = tmp / "cued.toml"
    profile.write_text(PROFILE)
    return machine, profile


def run_cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "treadctl.cli", *args],
        cwd=tmp,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def warnings_in(events: Path) -> list[str]:
    records = [json.loads(line) for line in events.read_text().splitlines()]
    return [r["text"] for r in records if r["kind"] == "warning"]


def test_serve_warns_on_stderr_without_a_sound_device_and_runs(tmp_path: Path) -> None:
    machine, profile = files_in(tmp_path)
    events = tmp_path / "events.jsonl"
    done = run_cli(
        tmp_path,
        "serve",
        "--machine",
        str(machine),
        "--profile",
        str(profile),
        "--operator",
        "auto",
        "--socket",
        str(tmp_path / "ctl.sock"),
        "--db",
        str(tmp_path / "t.sqlite"),
        "--events",
        str(events),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"treadctl: {NO_SOUND}" in done.stderr
    assert "listening on" in done.stdout
    assert "outcome: completed" in done.stdout
    assert [w for w in warnings_in(events) if w.startswith(NO_SOUND)]


def test_run_headless_warns_on_stderr_without_a_sound_device_and_runs(tmp_path: Path) -> None:
    machine, profile = files_in(tmp_path)
    events = tmp_path / "events.jsonl"
    done = run_cli(
        tmp_path,
        "run",
        "--headless",
        "--operator",
        "auto",
        "--machine",
        str(machine),
        "--profile",
        str(profile),
        "--db",
        str(tmp_path / "t.sqlite"),
        "--events",
        str(events),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"treadctl: {NO_SOUND}" in done.stderr
    assert "outcome: completed" in done.stdout
    assert [w for w in warnings_in(events) if w.startswith(NO_SOUND)]


def test_a_disabled_metronome_says_nothing(tmp_path: Path) -> None:
    _, profile = files_in(tmp_path)
    done = run_cli(
        tmp_path,
        "run",
        "--headless",
        "--operator",
        "auto",
        "--machine",
        "sim",
        "--profile",
        str(profile),
        "--db",
        str(tmp_path / "t.sqlite"),
        "--events",
        str(tmp_path / "events.jsonl"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "metronome" not in done.stderr


async def test_the_headless_metronome_follows_the_running_segments_cue(tmp_path: Path) -> None:
    machine, profile = files_in(tmp_path)
    files = load_session(machine, profile, None)
    events = EventLog(tmp_path / "events.jsonl")
    session = build_session(
        files, MonotonicClock(fine_s=FINE_SLEEP_S), events, ScriptedOperator(confirm_delay_s=0.2)
    )
    metronome = HeadlessMetronome(files, session)
    metronome.start()
    try:
        summary = await session.loop.run()
    finally:
        await metronome.stop()
        await session.loop.close()
        events.close()
    assert summary.outcome == "completed"
    cues = [c for _, c in metronome.bridge.changes]
    assert CUE_SPM in cues  # the cue while the belt ran the segment
    assert cues[-1] is None  # silent once it stopped
    assert metronome.bridge.cadence_spm is None
    assert metronome.bridge.opened.is_set()
    out = metronome.bridge.output
    assert out is not None
    assert out.stream is None  # no sound card here
