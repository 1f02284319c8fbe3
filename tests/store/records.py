"""Helpers for the session-database tests: real files, the real loop on the virtual clock."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from treadctl.app import SessionFiles, build_sim_session, load_session
from treadctl.cli import main
from treadctl.clock import VirtualClock
from treadctl.control.summary import SessionSummary
from treadctl.sim.operator import ScriptedOperator
from treadctl.store.eventlog import EventLog
from treadctl.store.recorder import SessionInfo, SessionRecorder

ROOT = Path(__file__).resolve().parents[2]
SIM = ROOT / "src/treadctl/samples/machines" / "sim.toml"
DEMO = ROOT / "src/treadctl/samples/patients" / "demo.toml"
DEMO_SHORT = ROOT / "profiles" / "demo-short.toml"


def demo_files() -> SessionFiles:
    return load_session(SIM, DEMO_SHORT, DEMO)


def recorder_for(
    files: SessionFiles,
    db: Path,
    events: EventLog,
    clock: VirtualClock,
    kind: str = "simulate",
    **kw: Any,
) -> SessionRecorder:
    info = SessionInfo(
        kind,
        files.profile.name,
        files.machine.name,
        files.plan.segments,
        files.patient,
        DEMO_SHORT.read_text(encoding="utf-8"),
    )
    return SessionRecorder(db, info, events, clock, files.machine.limits.standstill_kmh, **kw)


@dataclass
class Recorded:
    summary: SessionSummary
    records: list[dict[str, Any]]
    recorder: SessionRecorder
    period_s: float
    events: EventLog


async def record_demo(tmp_path: Path, db: Path, close: bool = True, **recorder_kw: Any) -> Recorded:
    """demo-short on the virtual clock, recorded into `db`; with `close`, the recorder and
    the event log are closed afterwards (else the caller closes them)."""
    files = demo_files()
    clock = VirtualClock()
    events = EventLog(tmp_path / "events.jsonl")
    recorder = recorder_for(files, db, events, clock, **recorder_kw)
    session = build_sim_session(
        files, clock, events, ScriptedOperator(), end_on_fault=True, recorder=recorder
    )
    try:
        summary = await session.loop.run()
    finally:
        if close:
            recorder.close()
            events.close()
    return Recorded(summary, events.records, recorder, session.loop.period_s, events)


@contextlib.contextmanager
def connect(db: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def run_cli(argv: list[str]) -> int:
    """treadctl's main() in this process, leaving the process's SIGPIPE handling as it was
    (main() restores the default, which would let a later broken pipe kill pytest)."""
    previous = signal.getsignal(signal.SIGPIPE)
    try:
        return main(argv)
    finally:
        signal.signal(signal.SIGPIPE, previous)
