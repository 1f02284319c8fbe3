"""Every shipped machine with every shipped profile: what is refused is pinned, and every
session that runs is told the same way by every output.

A refused pair is refused for a pinned reason that names the profile file and the field.
Every other pair runs on the virtual clock with a database recorder (as `treadctl
simulate --db` does), and its moving time and distance per walking direction are read
back from six places that must agree with the session summary:

  (a) the session summary (what `simulate` prints);
  (b) the record's segment table (treadctl.store.queries.segments), summed per kind;
  (c) the clinician report's "Time and distance per direction" rows (their data-value);
  (d) the CSV export, its 10 Hz samples integrated per walking direction;
  (e) the JSON export's document (session_document): its segments, summed per kind;
  (f) the progression's input (treadctl.store.history.past_session), backward only.

On a turn-round machine (sim-turn, and ftms, run here on the simulated belt) the belt
always runs forward while the walker walks backward: every recorded sample's
belt_direction is forward and the backward segments are still credited. That is the bug
this matrix pins: crediting by the belt's direction recorded 0 s backward there.

The sessions (about 18 hours of virtual time) run two at a time in worker processes
(CI has 2 cores), each worker returning plain numbers; the tests then only compare.
"""

from __future__ import annotations

import asyncio
import csv
import multiprocessing
import re
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from treadctl.app import build_sim_session, load_session
from treadctl.clock import VirtualClock
from treadctl.config.errors import ConfigError
from treadctl.sim.operator import ScriptedOperator
from treadctl.store import export, queries
from treadctl.store.db import open_db
from treadctl.store.eventlog import EventLog
from treadctl.store.history import past_session
from treadctl.store.recorder import SessionInfo, SessionRecorder
from treadctl.store.report import write_report

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "src/treadctl/samples"
PROFILES_DIR = SAMPLES.parents[2] / "profiles"  # the shipped profiles, at the top
MACHINES = sorted(p.stem for p in (SAMPLES / "machines").glob("*.toml"))
PROFILES = sorted(p.stem for p in (PROFILES_DIR).glob("*.toml"))
PAIRS = [(m, p) for m in MACHINES for p in PROFILES]
WALKER_TURNS = {"sim-turn", "ftms"}  # backward_walking = "walker_turns"

Pair = tuple[str, str]
Refusal = tuple[str, str]  # (the field path, a fragment of its reason)

ATHLETE_OPT_IN: Refusal = ("athlete_opt_in", "needs a patient file with athlete_opt_in = true")
ABOVE_BACKWARD_MAX: Refusal = (
    "progression.cap_pct_comfortable",
    "7.5 km/h is above the machine's backward maximum 5.0 km/h",
)
NO_HR_SENSOR: Refusal = ("heart_rate.required", "the machine file has no heart-rate sensor")
NO_INCLINE: Refusal = ("blocks[0].segments[0].incline_pct", "declares no incline")
BRUCE_FORWARD_CAP: Refusal = (
    "blocks[0].segments[2].speed_kmh",
    "5.47 km/h is above the patient's forward cap 5.0 km/h",
)
MODIFIED_BRUCE_FORWARD_CAP: Refusal = (
    "blocks[0].segments[4].speed_kmh",
    "5.47 km/h is above the patient's forward cap 5.0 km/h",
)

# Each pair the patient `demo` cannot run: (demo's refusal, athlete's refusal). None for
# the athlete: the pair runs with the patient `athlete`. Every pair not listed runs with
# `demo`. Every refusal names the profile file.
REFUSED: dict[Pair, tuple[Refusal, Refusal | None]] = {
    ("ftms", "backward-running-athlete"): (ATHLETE_OPT_IN, ABOVE_BACKWARD_MAX),
    ("ftms", "bruce"): (NO_INCLINE, NO_INCLINE),
    ("ftms", "hr-zone-walk"): (NO_HR_SENSOR, NO_HR_SENSOR),
    ("ftms", "incline-backward"): (NO_INCLINE, NO_INCLINE),
    ("ftms", "modified-bruce"): (NO_INCLINE, NO_INCLINE),
    ("sim-athlete", "backward-running-athlete"): (ATHLETE_OPT_IN, None),
    ("sim-athlete", "bruce"): (BRUCE_FORWARD_CAP, None),
    ("sim-athlete", "hr-zone-walk"): (NO_HR_SENSOR, NO_HR_SENSOR),
    ("sim-athlete", "modified-bruce"): (MODIFIED_BRUCE_FORWARD_CAP, None),
    ("sim-hr", "backward-running-athlete"): (ATHLETE_OPT_IN, ABOVE_BACKWARD_MAX),
    ("sim-hr", "bruce"): (NO_INCLINE, NO_INCLINE),
    ("sim-hr", "incline-backward"): (NO_INCLINE, NO_INCLINE),
    ("sim-hr", "modified-bruce"): (NO_INCLINE, NO_INCLINE),
    **{
        (machine, profile): refusals
        for machine in ("sim", "sim-incline", "sim-turn")
        for profile, refusals in (
            ("backward-running-athlete", (ATHLETE_OPT_IN, ABOVE_BACKWARD_MAX)),
            ("bruce", (BRUCE_FORWARD_CAP, None)),
            ("hr-zone-walk", (NO_HR_SENSOR, NO_HR_SENSOR)),
            ("modified-bruce", (MODIFIED_BRUCE_FORWARD_CAP, None)),
        )
    },
}


def patient_for(pair: Pair) -> str | None:
    """The patient the pair runs with; None: refused with both."""
    refused = REFUSED.get(pair)
    if refused is None:
        return "demo"
    return "athlete" if refused[1] is None else None


RUNS = [pair for pair in PAIRS if patient_for(pair) is not None]


def paths(pair: Pair, patient: str) -> tuple[Path, Path, Path]:
    machine, profile = pair
    return (
        SAMPLES / "machines" / f"{machine}.toml",
        PROFILES_DIR / f"{profile}.toml",
        SAMPLES / "patients" / f"{patient}.toml",
    )


def pair_id(pair: Pair) -> str:
    return f"{pair[0]}/{pair[1]}"


# --- the refusals, pinned ---


def assert_refused(pair: Pair, patient: str, refusal: Refusal) -> None:
    machine_path, profile_path, patient_path = paths(pair, patient)
    with pytest.raises(ConfigError) as info:
        load_session(machine_path, profile_path, patient_path)
    field, fragment = refusal
    problems = info.value.problems
    matching = [p for p in problems if p.field == field and fragment in p.reason]
    assert matching, f"{pair_id(pair)} with {patient}: not refused for {refusal}:\n{info.value}"
    for p in matching:
        # the line a clinician reads names the file and the field
        assert p.source == str(profile_path)
        assert str(p).startswith(f"{profile_path}"), str(p)
        assert f": {field}: " in str(p), str(p)
    for p in problems:
        assert p.source in (str(profile_path), str(machine_path)), str(p)


@pytest.mark.parametrize("pair", PAIRS, ids=pair_id)
def test_accepted_or_refused_as_pinned(pair: Pair) -> None:
    refused = REFUSED.get(pair)
    if refused is not None:
        assert_refused(pair, "demo", refused[0])
        if refused[1] is not None:
            assert_refused(pair, "athlete", refused[1])
    patient = patient_for(pair)
    if patient is not None:
        files = load_session(*paths(pair, patient))
        assert files.plan.segments


def test_the_matrix_is_every_shipped_file() -> None:
    assert MACHINES == ["ftms", "sim", "sim-athlete", "sim-hr", "sim-incline", "sim-turn"]
    assert len(PROFILES) >= 13
    assert set(REFUSED) <= set(PAIRS)
    assert len(RUNS) == 62


# --- one session per accepted pair, in a worker process ---

DIRECTIONS = ("forward", "backward")
Totals = dict[str, tuple[float, float]]  # direction -> (moving seconds, metres)


def _per_kind(segments: list[dict[str, Any]]) -> Totals:
    out = {}
    for d in DIRECTIONS:
        rows = [g for g in segments if g["kind"] == d]
        out[d] = (
            sum(float(g["moving_s"]) for g in rows),
            sum(float(g["distance_m"]) for g in rows),
        )
    return out


ROW = re.compile(r'<tr id="direction-(forward|backward)">(.*?)</tr>', re.S)
VALUE = re.compile(r'data-value="([^"]*)"')


def _from_report(html: str) -> Totals:
    out = {}
    for direction, row in ROW.findall(html):
        values = [float(v) for v in VALUE.findall(row)]
        out[direction] = (values[0], values[1])
    return out


def _from_csv(path: Path, standstill_kmh: float) -> tuple[Totals, dict[str, Any]]:
    """Moving time and distance integrated over the samples (dt to the previous sample,
    at this sample's speed, counted for this sample's walking direction); and what the
    direction columns held."""
    sums = {d: [0.0, 0.0] for d in DIRECTIONS}
    belt_seen: set[str | None] = set()
    walker_seen: set[str] = set()
    moving_mismatch = 0  # moving samples whose belt direction is not the walker's
    previous: float | None = None
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            t = float(row["t_s"])
            speed = float(row["actual_kmh"]) if row["actual_kmh"] else None
            belt = row["belt_direction"] or None
            walker = row["direction"]
            belt_seen.add(belt)
            walker_seen.add(walker)
            moving = speed is not None and speed > standstill_kmh
            if moving and belt != walker:
                moving_mismatch += 1
            if previous is not None and moving:
                assert speed is not None
                sums[walker][0] += t - previous
                sums[walker][1] += speed / 3.6 * (t - previous)
            previous = t
    totals = {d: (v[0], v[1]) for d, v in sums.items()}
    columns = {
        "belt_directions": sorted(str(b) for b in belt_seen),
        "walker_directions": sorted(walker_seen),
        "moving_mismatch": moving_mismatch,
    }
    return totals, columns


def measure(machine: str, profile: str, patient: str, workdir: str) -> dict[str, Any]:
    """Run one pair recorded into a fresh database; read every output back. Plain data
    only: it crosses a process boundary."""
    started = time.perf_counter()
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    machine_path, profile_path, patient_path = paths((machine, profile), patient)
    files = load_session(machine_path, profile_path, patient_path)
    standstill = files.machine.limits.standstill_kmh
    db = work / "treadctl.sqlite"
    clock = VirtualClock()
    events = EventLog(work / "events.jsonl")
    info = SessionInfo(
        "simulate",
        files.profile.name,
        files.machine.name,
        files.plan.segments,
        files.patient,
        profile_path.read_text(encoding="utf-8"),
        files.plan.prescription,
    )
    recorder = SessionRecorder(db, info, events, clock, standstill)
    session = build_sim_session(
        files, clock, events, ScriptedOperator(), end_on_fault=True, recorder=recorder
    )

    async def run() -> Any:
        try:
            return await session.loop.run()
        finally:
            await session.loop.close()

    try:
        summary = asyncio.run(run())
    finally:
        recorder.close()
        events.close()
    assert recorder.session_id is not None
    sid = recorder.session_id
    record_warnings = list(recorder.warnings())

    conn = open_db(db, create=False)
    try:
        row = queries.session(conn, sid)
        assert row is not None
        segments = _per_kind(queries.segments(conn, sid))
        csv_path = work / "samples.csv"
        with csv_path.open("w", encoding="utf-8", newline="") as out:
            export.write_csv(conn, sid, out)
        # the JSON export's document (write_json dumps it as it is; dumping 10 Hz samples
        # would double this test's reading time for nothing it could disagree on)
        document = export.session_document(conn, row)
        progression_backward_s = past_session(conn, row, standstill).backward_s
    finally:
        conn.close()
    report = write_report(db, sid, work / "report.html").read_text(encoding="utf-8")
    sampled, columns = _from_csv(csv_path, standstill)
    return {
        "outcome": summary.outcome,
        "duration_s": summary.duration_s,
        "record_warnings": record_warnings,
        "has_backward": any(s.kind.value == "backward" for s in files.plan.segments),
        "summary": {d.value: (t.seconds, t.metres) for d, t in summary.totals.items()},
        "segments": segments,
        "report": _from_report(report),
        "csv": sampled,
        "json": _per_kind(document["segments"]),
        "progression_backward_s": progression_backward_s,
        **columns,
        "wall_s": time.perf_counter() - started,
    }


def _selected_runs(request: pytest.FixtureRequest) -> list[Pair]:
    """The pairs whose agreement test is selected in this pytest run (-k, node ids)."""
    wanted = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if (
            getattr(item, "module", None) is request.module
            and getattr(item, "originalname", None) == "test_every_output_agrees"
            and callspec is not None
        ):
            wanted.append(callspec.params["pair"])
    return wanted


@pytest.fixture(scope="module")
def measured(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[Pair, Future[dict[str, Any]]]]:
    """Every selected pair's session, two at a time in worker processes (spawned: a fork
    of this process would copy its threads' locks), the longest first."""
    wanted = _selected_runs(request)
    plans = {}
    for pair in wanted:
        patient = patient_for(pair)
        assert patient is not None
        plans[pair] = (patient, load_session(*paths(pair, patient)).plan.total_s)
    base = tmp_path_factory.mktemp("matrix")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        futures = {}
        for pair in sorted(wanted, key=lambda p: -plans[p][1]):
            work = base / f"{pair[0]}--{pair[1]}"
            futures[pair] = pool.submit(measure, pair[0], pair[1], plans[pair][0], str(work))
        yield futures


SECONDS_TOLERANCE = 1.0


def metres_tolerance(metres: float) -> float:
    return max(0.01 * abs(metres), 0.5)


def _table(pair: Pair, m: dict[str, Any]) -> str:
    lines = [f"{pair_id(pair)} ({m['outcome']}, {m['duration_s']:.1f} s):"]
    for source in ("summary", "segments", "report", "csv", "json"):
        cells = "  ".join(
            f"{d} {m[source][d][0]:9.2f} s {m[source][d][1]:8.2f} m" for d in DIRECTIONS
        )
        lines.append(f"  {source:9s} {cells}")
    lines.append(f"  progression backward {m['progression_backward_s']:.2f} s")
    return "\n".join(lines)


@pytest.mark.slow
@pytest.mark.parametrize("pair", RUNS, ids=pair_id)
def test_every_output_agrees(pair: Pair, measured: dict[Pair, Future[dict[str, Any]]]) -> None:
    m = measured[pair].result()
    table = _table(pair, m)
    assert m["outcome"] == "completed", table
    assert m["record_warnings"] == [], table
    summary: Totals = m["summary"]
    disagreements = []
    for source in ("segments", "report", "csv", "json"):
        totals = {d: tuple(v) for d, v in m[source].items()}
        assert set(totals) == set(DIRECTIONS), f"{source}: {totals}\n{table}"
        for d in DIRECTIONS:
            want_s, want_m = summary[d]
            got_s, got_m = totals[d]
            if abs(got_s - want_s) > SECONDS_TOLERANCE:
                disagreements.append(f"{source} {d}: {got_s:.2f} s, summary {want_s:.2f} s")
            if abs(got_m - want_m) > metres_tolerance(want_m):
                disagreements.append(f"{source} {d}: {got_m:.2f} m, summary {want_m:.2f} m")
    want_backward = summary["backward"][0]
    if abs(m["progression_backward_s"] - want_backward) > SECONDS_TOLERANCE:
        disagreements.append(
            f"progression backward: {m['progression_backward_s']:.2f} s, "
            f"summary {want_backward:.2f} s"
        )
    assert not disagreements, "\n".join(disagreements) + "\n" + table

    if m["has_backward"]:
        assert want_backward > 0, table
        for source in ("segments", "report", "csv", "json"):
            assert m[source]["backward"][0] > 0, f"{source}\n{table}"
        assert m["progression_backward_s"] > 0, table
        assert "backward" in m["walker_directions"], table
    else:
        assert want_backward == 0, table
    if pair[0] in WALKER_TURNS:
        # the belt runs forward only; the walker turned round walks backward on it
        assert m["belt_directions"] == ["forward"], table
    else:
        assert m["moving_mismatch"] == 0, f"belt and walker disagree while moving\n{table}"
