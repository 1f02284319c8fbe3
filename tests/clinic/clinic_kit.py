"""Helpers of the clinic-records tests: sessions recorded into real treadmill files by the
real loop and simulator on the virtual clock, and counts read back from PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg

from treadctl.app import SessionFiles, build_sim_session, load_session
from treadctl.clock import VirtualClock
from treadctl.sim.operator import ScriptedOperator
from treadctl.sim.scenario import Scenario
from treadctl.store.eventlog import EventLog
from treadctl.store.recorder import SessionInfo, SessionRecorder

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "src/treadctl/samples"
PROFILES_DIR = SAMPLES.parents[2] / "profiles"  # the shipped profiles, at the top
SIM = SAMPLES / "machines/sim.toml"
DEMO = SAMPLES / "patients/demo.toml"
DEMO_SHORT = PROFILES_DIR / "demo-short.toml"
KNEE = PROFILES_DIR / "knee-oa-10min.toml"


def demo_files(profile: Path = DEMO_SHORT) -> SessionFiles:
    return load_session(SIM, profile, DEMO)


async def simulate_into(
    db: Path,
    files: SessionFiles,
    profile_path: Path,
    the_scenario: Scenario | None = None,
    *,
    wall_start: float | None = None,
    kind: str = "simulate",
) -> int:
    """One session on the simulator recorded into `db` (as `treadctl simulate --db`); its id."""
    clock = VirtualClock(wall_start=wall_start)
    events = EventLog(None)
    info = SessionInfo(
        kind,
        files.profile.name,
        files.machine.name,
        files.plan.segments,
        files.patient,
        profile_path.read_text(encoding="utf-8"),
        files.plan.prescription,
    )
    recorder = SessionRecorder(db, info, events, clock, files.machine.limits.standstill_kmh)
    operator = the_scenario.operator_for() if the_scenario is not None else ScriptedOperator()
    session = build_sim_session(
        files, clock, events, operator, the_scenario, end_on_fault=True, recorder=recorder
    )
    try:
        await session.loop.run()
    finally:
        recorder.close()
        events.close()
    assert recorder.session_id is not None
    assert recorder.warnings() == ()
    return recorder.session_id


def local_counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        return {
            t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
            for t in ("sessions", "samples", "events", "segment_results")
        }
    finally:
        conn.close()


def clinic_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        out: dict[str, int] = {}
        for t in ("sessions", "samples", "events", "segment_results"):
            row = conn.execute(f"SELECT count(*) FROM {t}".encode()).fetchone()
            assert row is not None
            out[t] = int(row[0])
        return out


def clinic_rows(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return list(conn.execute(sql.encode(), params).fetchall())


def local_rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.execute(sql, params).fetchall())
    finally:
        conn.close()
