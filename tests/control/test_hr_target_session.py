"""Heart-rate-target segments through the plan and the real control loop.

The plan refuses what cannot work (no sensor, a zone at the limit, a speed beside the
zone, steps the ramp cannot make in time). A whole session on the virtual clock with a
simulated walker's heart rate (tests/control/hr_walker.py) fed to the simulated strap:
the zone segments hold the walker in the zone, every step is bounded, the setpoint never
passes the segment's top speed nor the interlock's cap.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hr_walker import Walker

from treadctl.app import build_session, load_session
from treadctl.clock import VirtualClock
from treadctl.config.errors import ConfigError
from treadctl.protocol.plan import HrZone
from treadctl.safety.types import Command, CommandKind, Direction, Mode
from treadctl.sim.operator import ScriptedOperator, TimedCommand
from treadctl.store.eventlog import EventLog

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MACHINES = REPO / "src/treadctl/samples/machines"
SIM, SIM_HR = MACHINES / "sim.toml", MACHINES / "sim-hr.toml"
DEMO = REPO / "src/treadctl/samples/patients/demo.toml"
SAMPLE = REPO / "profiles/hr-zone-walk.toml"

ZONE_SEGMENT = """\
name = "zone"
[heart_rate]
max_bpm = 140
[[blocks]]
  [[blocks.segments]]
  direction = "forward"
  duration_min = 5
  {extra}
"""
CONTROL = """[blocks.segments.hr_zone]
    low_bpm = 105
    high_bpm = 118
    start_kmh = 2.0
    max_kmh = 4.0
"""


def refusal(tmp_path: Path, extra: str, machine: Path = SIM_HR) -> list[str]:
    profile = tmp_path / "p.toml"
    profile.write_text(ZONE_SEGMENT.format(extra=extra), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_session(machine, profile, DEMO)
    # file[:line[:column]]: field: reason -> field: reason
    return [re.sub(r"^.*?p\.toml(:\d+)*: ", "", line) for line in str(info.value).splitlines()]


def test_a_zone_on_a_machine_without_heart_rate_is_refused(tmp_path: Path) -> None:
    assert refusal(tmp_path, CONTROL, SIM) == [
        "blocks[0].segments[0].hr_zone: the machine file has no heart-rate sensor: "
        "a heart-rate zone needs one"
    ]


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        (
            "speed_kmh = 2.0\n  " + CONTROL,
            "hr_zone: a heart-rate zone sets the speed: give no speed_kmh or "
            "speed_pct_comfortable (the start speed is hr_zone.start_kmh)",
        ),
        (
            CONTROL.replace("105", "125").replace("118", "140"),
            "hr_zone.high_bpm: the zone's top 140 bpm is not below the profile's limit "
            "heart_rate.max_bpm = 140 bpm",
        ),
        (
            CONTROL.replace("118", "110"),
            "hr_zone.high_bpm: a zone from 105 to 110 bpm is narrower than 8 bpm: "
            "the speed would hunt",
        ),
        (
            CONTROL.replace("low_bpm = 105", "low_bpm = nan"),
            "hr_zone.low_bpm: ",
        ),
        (
            CONTROL.replace("    low_bpm = 105\n", ""),
            "hr_zone.low_bpm: ",
        ),
        (
            CONTROL + "    max_kmh_x = 1\n",
            "hr_zone.max_kmh_x: unknown field; did you mean max_kmh?",
        ),
        (
            CONTROL.replace("max_kmh = 4.0", "max_kmh = 6.0"),
            "hr_zone.max_kmh: 6.0 km/h is above the patient's forward cap 5.0 km/h",
        ),
        (
            CONTROL.replace("start_kmh = 2.0", "start_kmh = 4.5"),
            "hr_zone.start_kmh: 4.5 km/h is outside min_kmh..max_kmh (0.5..4 km/h)",
        ),
        (
            CONTROL
            + "    down_step_kmh = 1.0\n    step_interval_s = 2\n"
            + "    [blocks.segments.ramp]\n    decel_mps2 = 0.05\n",
            "hr_zone.down_step_kmh: a 1 km/h step takes 5.6 s at the segment's ramp, "
            "longer than step_interval_s = 2 s",
        ),
        (
            CONTROL + "    up_step_kmh = 0.4\n    down_step_kmh = 0.2\n",
            "hr_zone.down_step_kmh: 0.2 km/h is smaller than up_step_kmh 0.4 km/h: "
            "steps down are the larger ones",
        ),
    ],
)
def test_zone_refusals_name_the_field(tmp_path: Path, extra: str, line: str) -> None:
    lines = refusal(tmp_path, extra)
    assert len(lines) == 1, lines
    assert lines[0].startswith("blocks[0].segments[0]")
    assert line in lines[0], lines[0]


def test_the_sample_plans_its_zones_and_asks_for_the_strap() -> None:
    plan = load_session(SIM_HR, SAMPLE, DEMO).plan
    zones = [s.hr_zone for s in plan.segments if s.hr_zone is not None]
    assert [(z.low_bpm, z.high_bpm) for z in zones] == [(105, 118), (92, 104)]
    assert [s.target_kmh for s in plan.segments if s.hr_zone] == [2.0, 1.0]  # start speeds
    check = next(c for c in plan.pre_start_checks if c.key == "heart_rate")
    assert "heart-rate zone" in check.text


def test_a_session_holds_a_simulated_walker_in_its_zones(tmp_path: Path) -> None:
    files = load_session(SIM_HR, SAMPLE, DEMO)
    events = EventLog(tmp_path / "events.jsonl")
    clock = VirtualClock()
    walker = Walker(rest_bpm=72.0, gain_bpm_per_kmh=11.0, tau_s=30.0, noise_bpm=1.5, seed=7)
    box: dict[str, object] = {}
    trace: list[tuple[int, float, float, float, float, Mode]] = []
    last = [clock.now()]

    def on_cycle(now: float) -> None:
        session = box["session"]
        belt = session.belt  # type: ignore[attr-defined]
        loop = session.loop  # type: ignore[attr-defined]
        snap = loop.snapshot
        backward = snap.outputs is not None and snap.outputs.direction is Direction.BACKWARD
        belt.panel.heart_rate_bpm = walker.step(belt.speed_kmh, now - last[0], backward)
        last[0] = now
        if snap.outputs is not None:
            trace.append(
                (snap.segment_index, walker.hr_bpm, snap.setpoint_kmh,
                 snap.outputs.speed_cap_kmh, snap.outputs.target_kmh, snap.outputs.mode)
            )  # fmt: skip

    session = build_session(files, clock, events, ScriptedOperator(), on_cycle=on_cycle)
    box["session"] = session
    summary = await_run(session)
    events.close()
    assert summary.outcome == "completed", summary.outcome

    segs = files.plan.segments
    for index, seg in enumerate(segs):
        zone = seg.hr_zone
        if zone is None:
            continue
        rows = [r for r in trace if r[0] == index and r[5] is Mode.RUNNING]
        assert rows
        for _, _, sp, cap, target, _ in rows:
            assert sp <= zone.max_kmh + 1e-6
            assert target <= min(cap, zone.max_kmh) + 1e-6
        # the last half of the segment: the walker's true rate in the zone (1 bpm slack)
        tail = rows[len(rows) // 2 :]
        inside = sum(zone.low_bpm - 1 <= r[1] <= zone.high_bpm + 1 for r in tail) / len(tail)
        assert inside >= 0.9, f"{seg.label}: in the zone {inside:.0%} of its second half"
        steps = [r for r in events.records if r["kind"] == "hr_step"]
        assert_bounded(steps, zone, index, events.records)


def assert_bounded(steps: list[dict], zone: HrZone, index: int, records: list[dict]) -> None:
    """Each logged step of the segment: within its size bound, at most one per interval."""
    starts = [r["t_s"] for r in records if r["kind"] == "segment" and r.get("index") == index]
    ends = [r["t_s"] for r in records if r["kind"] == "segment" and r.get("index") == index + 1]
    mine = [s for s in steps if starts[0] <= s["t_s"] < (ends[0] if ends else 1e12)]
    assert mine, "the controller never stepped"
    previous = starts[0]
    for s in mine:
        change = s["to_kmh"] - s["from_kmh"]
        assert -zone.down_step_kmh - 1e-9 <= change <= zone.up_step_kmh + 1e-9
        assert s["t_s"] - previous >= zone.step_interval_s - 1e-3
        previous = s["t_s"]


def await_run(session: object) -> object:
    return asyncio.run(session.loop.run())  # type: ignore[attr-defined]


def test_an_operator_speed_change_wins_over_the_zone(tmp_path: Path) -> None:
    """The operator sets 2 km/h in the forward zone segment: accepted, no step for a full
    interval, then the controller goes on from 2 km/h (below the zone: up)."""
    files = load_session(SIM_HR, SAMPLE, DEMO)
    events = EventLog(tmp_path / "events.jsonl")
    clock = VirtualClock()
    walker = Walker(rest_bpm=72.0, gain_bpm_per_kmh=11.0, tau_s=30.0, noise_bpm=0.0)
    at_s = 400.0  # in the forward zone segment (3 to 15 min)
    operator = ScriptedOperator(
        timed=[TimedCommand(at_s, Command(CommandKind.SET_SPEED, "operator", speed_kmh=2.0))]
    )
    box: dict[str, object] = {}
    last = [clock.now()]

    def on_cycle(now: float) -> None:
        belt = box["session"].belt  # type: ignore[attr-defined]
        belt.panel.heart_rate_bpm = walker.step(belt.speed_kmh, now - last[0])
        last[0] = now
        if now - box["t0"] > 600:  # type: ignore[operator]
            box["session"].loop.request_quit("test")  # type: ignore[attr-defined]

    session = build_session(files, clock, events, operator, on_cycle=on_cycle)
    box["session"], box["t0"] = session, clock.now()
    await_run(session)
    events.close()
    (set_by_operator,) = [
        r for r in events.records
        if r["kind"] == "command" and r["command"] == "set_speed" and r["source"] == "operator"
    ]  # fmt: skip
    assert set_by_operator["accepted"]
    t_op = set_by_operator["t_s"]
    zone = files.plan.segments[1].hr_zone
    assert zone is not None
    after = [r for r in events.records if r["kind"] == "hr_step" and r["t_s"] > t_op - 1e-3]
    assert after, "the controller carried on"
    assert after[0]["t_s"] - t_op >= zone.step_interval_s - 1e-3
    assert after[0]["from_kmh"] == 2.0  # from the operator's speed
    assert after[0]["to_kmh"] == 2.1
