"""Status.limit_remaining_s (issue 13): the session's time limit, counted down.

Backwards-tolerant: a Status without the field (an older controller) decodes, with no
limit; a non-finite value is refused like any other hostile number. The builder counts
down the loop's own LoopParts.max_session_s from the loop's start.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from treadctl.api.messages import Status, encode, server_message
from treadctl.api.status import StatusBuilder
from treadctl.app import build_session, load_session
from treadctl.clock import MonotonicClock
from treadctl.control.loop import LoopSnapshot
from treadctl.store.eventlog import EventLog

SAMPLES = Path(__file__).resolve().parents[2] / "src/treadctl/samples"
PROFILES_DIR = SAMPLES.parents[2] / "profiles"  # the shipped profiles, at the top


def a_status(**fields: object) -> Status:
    """A stopped status with every required field (as the controller sends it)."""
    base: dict[str, object] = {
        "t_s": 12.0, "mode": "stopped", "direction": "forward", "reasons": [],
        "latched": False, "detail": "-", "target_kmh": 0.0, "setpoint_kmh": 0.0,
        "actual_kmh": 0.0, "cap_kmh": 0.0, "at_standstill": True, "incline_pct": 0.0,
        "heart_rate_bpm": None, "cue_spm": None, "segment": None, "next_segment": None,
        "segment_elapsed_s": 0.0, "segment_remaining_s": 0.0, "session_elapsed_s": 0.0,
        "session_remaining_s": 0.0, "indicators": [], "warnings": [],
        "operator_present": None,
    }  # fmt: skip
    return Status.model_validate({**base, **fields})


def test_a_status_without_the_field_decodes_with_no_limit() -> None:
    wire = json.loads(encode(a_status(limit_remaining_s=42.5)))
    assert wire["limit_remaining_s"] == 42.5
    del wire["limit_remaining_s"]  # what an older controller sends
    old = server_message.validate_json(json.dumps(wire))
    assert isinstance(old, Status)
    assert old.limit_remaining_s is None


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_a_non_finite_limit_is_refused(bad: float) -> None:
    wire = json.loads(encode(a_status()))
    line = json.dumps({**wire, "limit_remaining_s": bad})  # Infinity / NaN literals
    with pytest.raises(ValidationError):
        server_message.validate_json(line)


async def test_the_builder_counts_down_the_loops_own_limit() -> None:
    """A real control loop (not run: its start time set as run() sets it)."""
    files = load_session(SAMPLES / "machines/sim.toml", PROFILES_DIR / "demo-short.toml", None)
    session = build_session(files, MonotonicClock(), EventLog(None))
    loop = session.loop
    try:
        limit_s = loop.p.max_session_s
        assert limit_s == 60 * 3 + 600  # the demo's 13 minutes (treadctl.app)
        builder = StatusBuilder(files.machine, files.plan, False)
        assert builder.limit_remaining_s(LoopSnapshot(now=1010.0)) is None  # no loop given
        builder = StatusBuilder(files.machine, files.plan, False, loop=loop)
        loop.t0 = 1000.0
        assert builder.limit_remaining_s(LoopSnapshot(now=1010.0)) == limit_s - 10
        assert builder.limit_remaining_s(LoopSnapshot(now=1000.0 + limit_s + 1)) == -1.0
        loop.p.max_session_s = None
        assert builder.limit_remaining_s(LoopSnapshot(now=1010.0)) is None
    finally:
        await loop.close()
