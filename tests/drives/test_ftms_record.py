"""The shipped `ftms` machine recording a turn-round session: the real FtmsDrive against
the emulated FTMS treadmill on the virtual BLE link, in real time, with a database
recorder. The belt only ever runs forward; the walker turns round for the backward
segment, and the record credits that segment its moving time (crediting by the belt's
direction recorded 0 s backward on every FTMS treadmill).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest

from treadctl.app import build_session, load_session
from treadctl.ble.ftms_emulator import EmulatedTreadmill
from treadctl.clock import MonotonicClock
from treadctl.drives.ftms import FtmsDrive
from treadctl.heartrate.emulator import VirtualRadio
from treadctl.safety.types import Direction
from treadctl.sim.operator import ScriptedOperator
from treadctl.store import queries
from treadctl.store.db import open_db
from treadctl.store.eventlog import EventLog
from treadctl.store.recorder import SessionInfo, SessionRecorder

pytestmark = [pytest.mark.usefixtures("frozen_heap"), pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
FTMS = REPO / "src/treadctl/samples/machines/ftms.toml"
SHIPPED_ADDRESS = "F7:1A:33:0C:52:9E"  # the machine file's treadmill: emulated here
CENTRAL = "C0:7E:AD:C7:00:07"
SESSION_LIMIT_S = 40.0
PROFILE = """\
name = "FTMS turn-round"
supervision = "none"
[[blocks]]
  [[blocks.segments]]
  name = "forward"
  direction = "forward"
  duration_s = 6
  speed_kmh = 2.0
  [[blocks.segments]]
  name = "backward"
  direction = "backward"
  duration_s = 6
  speed_kmh = 1.0
"""


async def test_a_turn_round_session_credits_the_backward_segment(tmp_path: Path) -> None:
    profile = tmp_path / "turn.toml"
    profile.write_text(PROFILE, encoding="utf-8")
    files = load_session(FTMS, profile, None)
    assert files.machine.walker_turns
    standstill = files.machine.limits.standstill_kmh
    radio = VirtualRadio()
    treadmill = EmulatedTreadmill(radio, SHIPPED_ADDRESS)
    await treadmill.start()
    clock = MonotonicClock()
    events = EventLog(tmp_path / "events.jsonl")
    db = tmp_path / "treadctl.sqlite"
    info = SessionInfo(
        "run",
        files.profile.name,
        files.machine.name,
        files.plan.segments,
        None,
        PROFILE,
    )
    recorder = SessionRecorder(db, info, events, clock, standstill)
    # the scripted operator resets, confirms the walker's turn at the turnaround and
    # starts each segment; its pauses shortened so the session takes about 25 s
    operator = ScriptedOperator(confirm_delay_s=0.5, turnaround_s=2.0)
    session = build_session(
        files,
        clock,
        events,
        operator,
        end_on_fault=True,
        recorder=recorder,
        ble_link=radio.central(CENTRAL),
    )
    loop = session.loop
    assert isinstance(loop.p.drive, FtmsDrive)
    assert session.belt is None  # nothing simulated: the belt is the treadmill's
    run = asyncio.create_task(loop.run())
    try:
        summary = await asyncio.wait_for(asyncio.shield(run), SESSION_LIMIT_S)
    finally:
        if not run.done():
            loop.request_quit("test: too slow")
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(run, 10.0)
        if not run.done():
            run.cancel()
            with contextlib.suppress(BaseException):
                await run
        await loop.close()
        await treadmill.stop()
        recorder.close()
        events.close()

    assert summary.outcome == "completed", summary.lines()
    assert recorder.warnings() == ()
    turns = [
        r
        for r in events.records
        if r["kind"] == "command" and r["command"] == "confirm_turn" and r["accepted"]
    ]
    assert [r["direction"] for r in turns] == ["backward"]  # turned round to walk backward
    forward = summary.totals[Direction.FORWARD]
    backward = summary.totals[Direction.BACKWARD]
    assert forward.seconds > 3.0
    assert backward.seconds > 3.0

    conn = open_db(db, create=False)
    try:
        assert recorder.session_id is not None
        segments = queries.segments(conn, recorder.session_id)
    finally:
        conn.close()
    assert [g["kind"] for g in segments] == ["forward", "backward"]
    fwd, bwd = segments
    assert bwd["moving_s"] > 0
    assert bwd["moving_s"] == pytest.approx(backward.seconds, abs=1.0)
    assert fwd["moving_s"] == pytest.approx(forward.seconds, abs=1.0)
    assert bwd["distance_m"] == pytest.approx(backward.metres, rel=0.01, abs=0.5)
    assert fwd["completed"]
    assert bwd["completed"]

    with contextlib.closing(sqlite3.connect(db)) as raw:
        rows = raw.execute(
            "SELECT direction, belt_direction, count(*), max(actual_kmh) FROM samples "
            "WHERE actual_kmh IS NOT NULL GROUP BY direction, belt_direction"
        ).fetchall()
    belt = {r[1] for r in rows}
    walker = {r[0]: r[3] for r in rows}
    assert belt == {"forward"}, rows  # FTMS has no reverse: the belt ran forward throughout
    assert walker["backward"] > 0.5, rows  # the walker walked backward on it
