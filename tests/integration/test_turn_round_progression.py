"""The progression advances on a turn-round treadmill exactly as on one whose belt reverses.

The same patient walks the same profile several sessions in a row on `sim` (the belt
reverses) into one database and on `sim-turn` (the belt runs forward, the walker turns
round) into another; before each session the prescription is read from the recorded
sessions and applied, as `treadctl simulate --progress --db` does. After every session
the next prescription (target, bout length, change and its reason in words) must be the
same on both machines, and it must advance at least once. Crediting the record by the
belt's direction held a turn-round machine at "no backward time recorded" forever.

The walker lets go of the handrails early in the first backward bout (a scenario
event), so the rail-contact rule can be met; the clinician records RPE 12 where the
profile's rule asks for one (`treadctl sessions rpe`). Last, `treadctl progress` reads
both databases and must print the same history and the same next target.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import re
import signal
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from treadctl.app import (
    Session,
    apply_prescription,
    build_sim_session,
    load_session,
    session_progress,
)
from treadctl.cli import main
from treadctl.cli.database import sessions_rpe
from treadctl.clock import VirtualClock
from treadctl.control.summary import SessionSummary
from treadctl.sim.scenario import Scenario
from treadctl.store.eventlog import EventLog
from treadctl.store.history import DEFAULT_RPE_SCALE, RPE_SCALES
from treadctl.store.recorder import SessionInfo, SessionRecorder

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "src/treadctl/samples"
PROFILES_DIR = SAMPLES.parents[2] / "profiles"  # the shipped profiles, at the top
DEMO = SAMPLES / "patients" / "demo.toml"
REVERSES, TURNS = "sim", "sim-turn"


@dataclass(frozen=True)
class Course:
    profile: str
    sessions: int
    release_rails_at_s: float  # inside the first backward bout on both machines
    rpe: str | None  # recorded after each session, when the profile's rules ask for it


COURSES = [
    # warm-up 2 min forward, then 10 min backward: raised after 3 sessions in a row
    Course("knee-oa-10min", 4, 200.0, "12"),
    # warm-up 2 min, then 3 x (1 min backward, 1 min forward): bouts lengthened after 2
    Course("beginner-backward", 3, 150.0, None),
]


async def _run(session: Session) -> SessionSummary:
    try:
        return await session.loop.run()
    finally:  # as treadctl simulate does
        await session.loop.close()


def walk(machine: str, course: Course, db: str) -> list[dict[str, Any]]:
    """`course.sessions` sessions on `machine` into `db`, each prescribed from those before;
    per session: the prescription it ran with, and what it recorded. Plain data only (it
    crosses a process boundary); the last item is the prescription after the last."""
    machine_path = SAMPLES / "machines" / f"{machine}.toml"
    profile_path = PROFILES_DIR / f"{course.profile}.toml"
    out: list[dict[str, Any]] = []
    for _ in range(course.sessions + 1):
        files = load_session(machine_path, profile_path, DEMO)
        progress = session_progress(files, profile_path, Path(db), "simulate", create=True)
        rx = progress.prescription
        entry: dict[str, Any] = {
            "prescription": (rx.target_kmh, rx.bout_s, rx.change.value, rx.reason),
            "notes": list(progress.notes),
            "history": [
                (s.outcome.value if s.outcome else None, s.backward_s, s.rail_share, s.target_kmh)
                for s in progress.sessions
            ],
        }
        out.append(entry)
        if len(out) > course.sessions:
            break
        files = apply_prescription(files, profile_path, rx)
        scenario = Scenario.model_validate(
            {"event": [{"at_s": course.release_rails_at_s, "action": "release_rails"}]}
        )
        clock = VirtualClock()
        events = EventLog(None)
        info = SessionInfo(
            "simulate",
            files.profile.name,
            files.machine.name,
            files.plan.segments,
            files.patient,
            profile_path.read_text(encoding="utf-8"),
            files.plan.prescription,
        )
        recorder = SessionRecorder(
            Path(db), info, events, clock, files.machine.limits.standstill_kmh
        )
        session = build_sim_session(
            files,
            clock,
            events,
            scenario.operator_for(),
            scenario,
            end_on_fault=True,
            recorder=recorder,
        )

        try:
            summary = asyncio.run(_run(session))
        finally:
            recorder.close()
            events.close()
        assert recorder.session_id is not None
        entry["outcome"] = summary.outcome
        entry["summary"] = {d.value: t.seconds for d, t in summary.totals.items()}
        if course.rpe is not None:
            assert sessions_rpe(Path(db), recorder.session_id, course.rpe, DEFAULT_RPE_SCALE) == 0
    return out


@dataclass(frozen=True)
class Walked:
    dbs: Path  # the databases, <profile>-<machine>.sqlite
    runs: dict[tuple[str, str], list[dict[str, Any]]]  # (profile, machine): walk()'s list

    def __getitem__(self, key: tuple[str, str]) -> list[dict[str, Any]]:
        return self.runs[key]


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory) -> Walked:
    """Every course on both machines, two at a time in spawned worker processes (a fork
    of this process would copy its threads' locks)."""
    base = tmp_path_factory.mktemp("progression")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        futures = {
            (c.profile, m): pool.submit(walk, m, c, str(base / f"{c.profile}-{m}.sqlite"))
            for c in COURSES
            for m in (REVERSES, TURNS)
        }
        return Walked(base, {key: f.result() for key, f in futures.items()})


@pytest.mark.parametrize("course", COURSES, ids=lambda c: c.profile)
def test_the_prescriptions_agree_session_by_session(course: Course, walked: Walked) -> None:
    reverses = walked[(course.profile, REVERSES)]
    turns = walked[(course.profile, TURNS)]
    assert len(reverses) == len(turns) == course.sessions + 1
    for n, (a, b) in enumerate(zip(reverses, turns, strict=True), start=1):
        where = f"{course.profile}, before session {n}"
        assert a["prescription"] == b["prescription"], where
        assert a["notes"] == b["notes"] == [], where
        # what the progression read back from each record
        assert len(a["history"]) == len(b["history"]) == n - 1, where
        for (oa, ba, ra, ta), (ob, bb, rb, tb) in zip(a["history"], b["history"], strict=True):
            assert oa == ob == "completed", where
            assert ta == tb, where  # the target each session ran with
            assert ba > 0, where
            assert bb == pytest.approx(ba, abs=1.0), where
            assert ra is not None, where
            assert rb == pytest.approx(ra, abs=0.01), where
        if n <= course.sessions:
            assert a["outcome"] == b["outcome"] == "completed", where
            assert b["summary"]["backward"] > 0, where
            assert b["summary"]["backward"] == pytest.approx(a["summary"]["backward"], abs=1.0)
    changes = [entry["prescription"][2] for entry in turns]
    reasons = [entry["prescription"][3] for entry in turns]
    assert changes[0] == "start"
    assert any(c in ("raised", "lengthened") for c in changes), reasons
    assert not any("no backward time recorded" in r for r in reasons), reasons


def test_the_knee_course_raises_the_target_after_three_sessions(
    walked: Walked,
) -> None:
    turns = walked[("knee-oa-10min", TURNS)]
    target, bout, change, reason = turns[3]["prescription"]
    assert (target, bout, change) == (1.38, 600.0, "raised")
    assert reason.startswith("raised 0.1 km/h to 1.38 km/h: last 3 sessions complete")
    assert "RPE at most 12" in reason
    assert [h[3] for h in turns[4]["history"]] == [1.28, 1.28, 1.28, 1.38]  # and it ran
    beginner = walked[("beginner-backward", TURNS)]
    assert beginner[2]["prescription"][:3] == (1.12, 75.0, "lengthened")


def run_cli(argv: list[str]) -> int:
    """treadctl's main() in this process, leaving the process's SIGPIPE handling as it was
    (main() restores the default, which would let a later broken pipe kill pytest)."""
    previous = signal.getsignal(signal.SIGPIPE)
    try:
        return main(argv)
    finally:
        signal.signal(signal.SIGPIPE, previous)


DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d")


@pytest.mark.parametrize("course", COURSES, ids=lambda c: c.profile)
def test_treadctl_progress_prints_the_same_next_target(
    course: Course, walked: Walked, capsys: pytest.CaptureFixture[str]
) -> None:
    printed = {}
    for machine in (REVERSES, TURNS):
        db = walked.dbs / f"{course.profile}-{machine}.sqlite"
        argv = ["progress", "--db", str(db), "--patient", "demo", "--profile", course.profile]
        code = run_cli([*argv, "--machine", machine, "--simulated"])
        out, err = capsys.readouterr()
        assert (code, err) == (0, ""), out
        printed[machine] = out.splitlines()
    # the header names the machine and the file; the rest must be the same, line by line
    reverses, turns = ([DATE.sub("DATE", line) for line in printed[m][1:]] for m in printed)
    assert reverses == turns
    (next_line,) = [line for line in turns if line.startswith("next: ")]
    last = walked[(course.profile, TURNS)][-1]["prescription"]
    assert next_line == f"next: {last[3]}"
    assert len([line for line in turns if " completed " in line]) == course.sessions
    if course.rpe is not None:  # the rules read the RPEs on the scale they were recorded on
        assert f"({RPE_SCALES[DEFAULT_RPE_SCALE].label})" in turns[0]
