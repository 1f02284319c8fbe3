"""HIL, issue 27 on the real wire: one late Modbus answer is no trip; silence past the
maximum age is, within that age plus one cycle. `treadctl sim` and `treadctl run` as
separate processes, on every register map the simulator serves, over Modbus TCP and over
Modbus RTU on a socat pty pair (RTU at the map's own loop rate, as in test_hil_maps).

One session per map and transport:
1. at rest (the loop writes a stop every cycle, and a stop goes out on a line not trusted
   since a request was given up): one answer 50 ms late to the safety-input read, then
   one to the drive's status read (the simulator's `late_once`); with the belt running:
   one answer 35 ms and one 50 ms late to each. No transition to faulted, and each source
   whose read failed logs one `read_failed` and one `read_recovered`;
2. the line cut (`silent on`) with the belt running: the interlock trips naming the safety
   inputs' watchdog within `input_read_timeout_s` plus one cycle of the last good
   reading, and the drive's within `drive_read_timeout_s` plus one cycle (the same
   cycle when the two maximum ages are equal, as the defaults make them: five cycles of
   the map's loop rate; the maximum ages are read from the controller's machine file).

Times are the controller's own event timestamps (its loop clock). The last good reading
is one cycle before the first failed one, which the event log names; the bounds allow one
more cycle than that for a loaded machine, no more. Which shot an event belongs to is told
by its wall time, stamped by the same host clock as the injection; the next shot waits
until the controller has logged the recovery of the last one (a loaded machine is slower,
never mixed up).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from runner import Hil  # type: ignore[import-not-found]
from test_hil_maps import MAPS, loop_rate_hz  # type: ignore[import-not-found]

from treadctl.config.loader import load_model
from treadctl.config.machine import MachineConfig
from treadctl.safety.types import Reason

WALK = """
name = "HIL late answers"
[[blocks]]
  [[blocks.segments]]
  direction = "forward"
  duration_s = 300
  speed_kmh = 1.0
"""
DRIVE_UNIT, INPUTS_UNIT = 1, 2
READ_REGISTERS, READ_INPUTS = 3, 2
# (which read, its unit, its function code, seconds late): one answer each, in this order;
# at rest the 50 ms ones only (the longer wait is the harder case there: time)
SHOTS = [
    ("inputs", INPUTS_UNIT, READ_INPUTS, 0.035),
    ("inputs", INPUTS_UNIT, READ_INPUTS, 0.05),
    ("drive", DRIVE_UNIT, READ_REGISTERS, 0.035),
    ("drive", DRIVE_UNIT, READ_REGISTERS, 0.05),
]
AT_REST = [shot for shot in SHOTS if shot[3] == 0.05]
EPISODE_S = 0.2  # a late answer's episode is over within about six cycles
POLL_S = 0.05
QUIET_S = 0.05  # after a shot's recovery, before the next shot
DWELL_S = 0.7  # the HIL machine's standstill dwell is 0.5 s

Record = dict[str, Any]


@pytest.fixture(params=[(m, t) for m in MAPS for t in ("tcp", "rtu")], ids="-".join)
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hil]:
    map_name, transport = request.param
    h = Hil(transport, tmp_path, map_name=map_name, rate_hz=loop_rate_hz(map_name, transport))
    try:
        yield h
    finally:
        h.close()


def _records(h: Hil) -> list[Record]:
    assert h.events is not None
    lines = h.events.read_text().splitlines() if h.events.exists() else []
    return [json.loads(x) for x in lines if x.endswith("}")]  # a line half written waits


def _wall(record: Record) -> float:
    return datetime.fromisoformat(str(record["wall"])).timestamp()


def _source(record: Record) -> str:
    return "inputs" if str(record["source"]).startswith("inputs@") else "drive"


def _faulted(records: list[Record]) -> list[Record]:
    return [r for r in records if r["kind"] == "transition" and r["new"] == "faulted"]


def _show(records: list[Record]) -> str:
    """The events that matter here, one line each, for a failure's message."""
    lines = []
    for r in records:
        if r["kind"] in ("read_failed", "read_recovered", "write_failed", "transition"):
            why = r.get("reason", "").split(": ", 1)[-1] or ", ".join(r.get("reasons", []))
            who = _source(r) if "source" in r else f"{r.get('old')} -> {r.get('new')}"
            lines.append(f"{r['t_s']:9.4f} {r['kind']:15} {who:8} {why[:110]}")
    return "\n" + "\n".join(lines)


def _between(records: list[Record], start: float, end: float = float("inf")) -> list[Record]:
    return [r for r in records if start <= _wall(r) < end]


def _recovered(episode: list[Record]) -> bool:
    """A read failed since the shot, and every source that failed answers again."""
    failing: dict[str, bool] = {}
    for r in episode:
        if r["kind"] in ("read_failed", "read_recovered"):
            failing[_source(r)] = r["kind"] == "read_failed"
    return bool(failing) and not any(failing.values())


def _shoot(h: Hil, n: int, unit: int, function: int, late_s: float) -> tuple[float, float]:
    """One answer late, once the simulator has given it and the controller has logged the
    recovery (or a trip): the episode's wall times, from just before the fault to the
    end of the quiet after it. The episode lasts a few cycles: it is left alone (neither
    process polled) for EPISODE_S, then looked at every POLL_S until it is over."""
    at = time.time()
    h.sim_cmd(f"late_once {late_s} {unit} {function}")
    time.sleep(EPISODE_S)
    end = time.monotonic() + 5
    while not (
        h.status()["late_once_served"] == n
        and (ep := _between(_records(h), at))
        and (_recovered(ep) or _faulted(ep))
    ):
        assert time.monotonic() < end, f"late answer {n}: none, or no recovery logged"
        time.sleep(POLL_S)
    time.sleep(QUIET_S)
    return at, time.time()


def _check_shot(episode: list[Record], target: str, period_s: float, label: str) -> str:
    """No trip; per source at most one failure, logged once and recovered once; the
    target's own read among them. Returns the figures in words."""
    assert not _faulted(episode), f"{label}{_show(episode)}"
    failed = [r for r in episode if r["kind"] == "read_failed"]
    recovered = [r for r in episode if r["kind"] == "read_recovered"]
    sources = sorted({_source(r) for r in failed})
    assert target in sources, f"{label}{_show(episode)}"
    figures = []
    for source in sources:
        f = [r for r in failed if _source(r) == source]
        ok = [r for r in recovered if _source(r) == source]
        assert len(f) == 1, f"{label}: {source}{_show(episode)}"
        assert len(ok) == 1, f"{label}: {source}{_show(episode)}"
        assert ok[0]["t_s"] > f[0]["t_s"], f"{label}: {source}{_show(episode)}"
        cycles = round((ok[0]["t_s"] - f[0]["t_s"]) / period_s)
        figures.append(f"{source} {cycles}")
    if "inputs" in sources:  # the oldest safety-input reading the interlock judged
        f = next(r for r in failed if _source(r) == "inputs")
        ok = next(r for r in recovered if _source(r) == "inputs")
        figures.append(f"inputs' reading up to {(ok['t_s'] - f['t_s']) * 1000:.0f} ms old")
    writes = sum(r["kind"] == "write_failed" for r in episode)
    return f"{label}: failed cycles {', '.join(figures)}; write_failed {writes}"


def max_ages(h: Hil) -> tuple[float, float]:
    """The safety inputs' and the drive's maximum ages, as the controller's machine file
    (hil/runner.py's) makes them: the defaults, five cycles of the map's loop rate, unless
    it sets them."""
    watchdog = load_model(h.tmp / "machine.toml", MachineConfig).watchdog
    return watchdog.input_read_timeout_s, watchdog.drive_read_timeout_s


def _check_silence(episode: list[Record], period_s: float, ages: tuple[float, float]) -> str:
    """The trip names the inputs' watchdog, then the drive's (or both at once when their
    maximum ages are equal), each within its maximum age plus one cycle of the last good
    reading (one cycle before the first failed read), with one more cycle for a loaded
    machine (a late cycle adds its lateness, docs/safety.md H17); never on the cycle of
    the first failure."""
    input_max_age_s, drive_max_age_s = ages
    failed = {_source(r): r["t_s"] for r in reversed(episode) if r["kind"] == "read_failed"}
    assert set(failed) == {"inputs", "drive"}, _show(episode)
    first = _faulted(episode)[0]
    assert first["old"] == "running", _show(episode)
    assert Reason.SAFETY_INPUTS_STALE.value in first["reasons"], _show(episode)
    figures = []
    for source, reason, max_age in (
        ("inputs", Reason.SAFETY_INPUTS_STALE, input_max_age_s),
        ("drive", Reason.DRIVE_COMM_LOST, drive_max_age_s),
    ):
        trips = [r for r in _faulted(episode) if reason.value in r["reasons"]]
        assert trips, f"{reason}{_show(episode)}"
        # held within its maximum age, not latched on the first failure
        assert trips[0]["t_s"] > failed[source], f"{reason}{_show(episode)}"
        after = trips[0]["t_s"] - (failed[source] - period_s)
        assert after <= max_age + 2 * period_s + 1e-6, f"{reason}: {after:.4f} s{_show(episode)}"
        figures.append(
            f"{source} tripped {after * 1000:.0f} ms after the last good read"
            f" (maximum age {max_age * 1000:.0f} ms)"
        )
    return "silence: " + ", ".join(figures)


def _reset(h: Hil) -> None:
    assert h.ctl is not None
    h.wait_status(lambda st: not st["run"] and st["speed_kmh"] == 0.0, what="at rest")
    time.sleep(DWELL_S)
    h.type("reset")
    h.ctl.wait_for("interlock faulted -> stopped")


@pytest.mark.slow
def test_one_late_answer_is_no_trip_and_silence_trips_within_the_maximum_age(rig: Hil) -> None:
    h = rig
    began = time.monotonic()
    period_s = 1.0 / h.rate_hz
    h.start_controller(WALK, auto=False)
    assert h.ctl is not None
    h.ctl.wait_for("session   HIL late answers")
    _reset(h)

    shots: list[tuple[str, str, float, float, float]] = []  # state, read, late, from, to
    for state in ("stopped", "running"):
        if state == "running":
            # at rest, nothing latched: the stop commands sent meanwhile kept the line clean
            tripped = _faulted(_between(_records(h), shots[0][3]))
            assert not tripped, f"tripped at rest{_show(_records(h))}"
            time.sleep(DWELL_S)  # a missed drive reading restarts the standstill's dwell
            h.type("start")
            h.ctl.wait_for("interlock stopped -> running")
            h.wait_status(lambda st: st["run"] and st["speed_kmh"] > 0.2, what="belt moving")
        for what, unit, function, late_s in AT_REST if state == "stopped" else SHOTS:
            at, end = _shoot(h, len(shots) + 1, unit, function, late_s)
            shots.append((state, what, late_s, at, end))
    st = h.status()
    assert st["run"], f"the session did not go on running{_show(_records(h))}"
    assert st["speed_kmh"] > 0.2, st
    cut = time.time()
    h.sim_cmd("silent on")
    h.ctl.wait_for(Reason.DRIVE_COMM_LOST.value, timeout_s=3)  # with the inputs, or after
    restored = time.time()
    h.sim_cmd("silent off")
    h.ctl.wait_for("answering again", timeout_s=5)
    h.type("quit")
    code = h.wait_exit()
    text = "\n".join(h.ctl.seen)
    assert code == 4, text[-3000:]  # stopped by quit after a latched fault; 1 is a crash
    assert "Traceback" not in text

    records = _records(h)
    # nothing tripped before the line was cut: one late answer at a time is no trip
    assert not _faulted(_between(records, shots[0][3], cut)), _show(records)
    figures = []
    for state, what, late_s, at, end in shots:
        label = f"{state}, {what} {late_s * 1000:.0f} ms late"
        figures.append(_check_shot(_between(records, at, end), what, period_s, label))
    silence = _between(records, cut, restored)
    figures.append(_check_silence(silence, period_s, max_ages(h)))
    loop = re.search(r"cycles \d+, overruns \d+, skipped deadlines \d+", text)
    print(f"\n{h.map_name} over {h.transport} at {h.rate_hz} Hz:")
    print("\n".join(f"  {x}" for x in figures))
    print(f"  {loop.group(0) if loop else 'no loop figures'}; {time.monotonic() - began:.1f} s")
