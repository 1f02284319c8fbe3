"""Progression across sessions: pure functions of the past results, tested over weeks.

The 4-week schedules use the shipped profiles with samples/patients/demo.toml: each session's
plan comes from treadctl.protocol.plan.plan_next_session(history so far), each result
records the target that plan used, and the reasons are checked word for word.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from treadctl.app import SessionFiles, load_session
from treadctl.config.profile import SegmentKind
from treadctl.protocol.plan import Plan, plan_next_session
from treadctl.protocol.progression import (
    Change,
    Outcome,
    Prescription,
    ProgressionParams,
    SessionResult,
    next_prescription,
    schedule,
)

REPO = Path(__file__).resolve().parents[2]
SIM = REPO / "src/treadctl/samples/machines" / "sim.toml"
DEMO = REPO / "src/treadctl/samples/patients" / "demo.toml"

OK, INCOMPLETE, SAFETY = Outcome.COMPLETED, Outcome.INCOMPLETE, Outcome.SAFETY_STOP


def params(**kw: object) -> ProgressionParams:
    base: dict[str, object] = {
        "start_kmh": 1.0,
        "start_bout_s": 60.0,
        "cap_kmh": 1.3,
        "step_kmh": 0.1,
        "step_back_kmh": 0.1,
    }
    base.update(kw)
    return ProgressionParams(**base)  # type: ignore[arg-type]


def result(
    outcome: Outcome = OK,
    target: float = 1.0,
    rail_pct: float = 0.0,
    rpe: float | None = None,
    backward_s: float = 600.0,
    bout_s: float | None = None,
) -> SessionResult:
    return SessionResult(outcome, backward_s, backward_s * rail_pct / 100, target, rpe, bout_s)


def progressing(plan: Plan) -> tuple[float, float]:
    """The (target, length) every progressing segment of the plan shares."""
    segs = {(s.target_kmh, s.duration_s) for s in plan.segments if s.progress}
    assert len(segs) == 1, segs
    (only,) = segs
    return only


def test_four_weeks_of_knee_oa_with_an_incomplete_session_and_a_safety_stop() -> None:
    """3 sessions a week for 4 weeks; rules: +0.1 km/h after 3 in a row with rail contact
    below 20 % and RPE at most 13, up to 45 % of 3.2 km/h (1.44 km/h)."""
    files = load_session(SIM, REPO / "profiles" / "knee-oa-10min.toml", DEMO)
    assert files.plan.schedule is not None
    assert (files.plan.schedule.sessions_per_week, files.plan.schedule.weeks) == (3, 6)
    # (outcome, backward seconds, rail seconds, RPE) per session, as the store would give them
    sessions = [
        # week 1
        (OK, 600.0, 48.0, 11.0),
        (OK, 600.0, 60.0, 12.0),
        (OK, 600.0, 30.0, 12.0),
        # week 2
        (INCOMPLETE, 420.0, 20.0, None),  # stopped by the operator
        (OK, 600.0, 150.0, 12.0),  # rail contact 25 %
        (OK, 600.0, 60.0, 12.0),
        # week 3
        (OK, 600.0, 48.0, 13.0),
        (SAFETY, 200.0, 10.0, None),  # e.g. safety key pulled
        (OK, 600.0, 30.0, 11.0),
        # week 4
        (OK, 600.0, 30.0, 11.0),
        (OK, 600.0, 36.0, 12.0),
        (OK, 600.0, 36.0, 14.0),  # RPE above 13
    ]
    history: list[SessionResult] = []
    seen: list[tuple[float, str]] = []
    for outcome, backward_s, rail_s, rpe in sessions:
        plan = plan_next_session(files.profile, files.machine, files.patient, history)
        assert plan.prescription is not None
        target, bout = progressing(plan)
        assert bout == 600.0  # this profile does not lengthen bouts
        seen.append((target, plan.prescription.reason))
        history.append(SessionResult(outcome, backward_s, rail_s, target, rpe))
    after = plan_next_session(files.profile, files.machine, files.patient, history)
    assert after.prescription is not None
    seen.append((progressing(after)[0], after.prescription.reason))

    assert seen == [
        (1.28, "first session: the profile's 1.28 km/h, bouts 600 s"),
        (1.28, "held 1.28 km/h: 1 of 3 sessions in a row inside the rules at this target"),
        (1.28, "held 1.28 km/h: 2 of 3 sessions in a row inside the rules at this target"),
        (
            1.38,
            "raised 0.1 km/h to 1.38 km/h: last 3 sessions complete, rail contact at most "
            "10 %, RPE at most 12",
        ),
        (1.38, "held 1.38 km/h: last session incomplete"),
        (1.38, "held 1.38 km/h: rail contact 25 % of backward time (rises below 20 %)"),
        (1.38, "held 1.38 km/h: 1 of 3 sessions in a row inside the rules at this target"),
        (1.38, "held 1.38 km/h: 2 of 3 sessions in a row inside the rules at this target"),
        (1.28, "stepped back 0.1 km/h to 1.28 km/h: safety stop in the last session"),
        (1.28, "held 1.28 km/h: 1 of 3 sessions in a row inside the rules at this target"),
        (1.28, "held 1.28 km/h: 2 of 3 sessions in a row inside the rules at this target"),
        (
            1.38,
            "raised 0.1 km/h to 1.38 km/h: last 3 sessions complete, rail contact at most "
            "6 %, RPE at most 12",
        ),
        (1.38, "held 1.38 km/h: RPE 14 (rises at 13 or below)"),
    ]


def test_four_weeks_of_the_beginner_profile_lengthen_bouts_then_raise_speed() -> None:
    """Daily sessions; bouts +15 s up to 120 s after 2 good sessions, then +0.05 km/h."""
    files = load_session(SIM, REPO / "profiles" / "beginner-backward.toml", DEMO)
    assert files.plan.schedule is not None
    days = 7 * 4
    history: list[SessionResult] = []
    plans: list[tuple[float, float, Change]] = []
    for day in range(days):
        plan = plan_next_session(files.profile, files.machine, files.patient, history)
        assert plan.prescription is not None
        target, bout = progressing(plan)
        plans.append((target, bout, plan.prescription.change))
        backward_s = plan.seconds_by_kind(SegmentKind.BACKWARD)
        assert backward_s == 3 * bout  # the three bouts of the session
        outcome = OK
        if day == 9:
            outcome = INCOMPLETE
        elif day == 16:
            outcome = SAFETY
        history.append(
            SessionResult(outcome, backward_s, 0.1 * backward_s, target, None, bout_s=bout)
        )
    bouts = [b for _, b, _ in plans]
    targets = [t for t, _, _ in plans]
    # two good sessions per step: 60 -> 75 -> 90 -> 105 s, held after the incomplete day 9,
    # then 120 s; the speed rises only once the bouts are at their cap
    assert bouts[:16] == [60, 60, 75, 75, 90, 90, 105, 105, 120, 120, 120, 120, 120, 120, 120, 120]
    assert targets[:10] == [1.12] * 10
    assert plans[10] == (1.12, 120, Change.HELD)  # after the incomplete session
    assert plans[12] == (1.17, 120, Change.RAISED)
    assert plans[14] == (1.22, 120, Change.RAISED)
    assert plans[16] == (1.27, 120, Change.RAISED)
    # the safety stop on day 16 steps back the speed and the bouts, one step each
    assert plans[17] == (1.22, 105, Change.STEPPED_BACK)
    assert history[16].outcome is SAFETY
    # all within the caps
    assert max(targets) <= 1.44
    assert max(bouts) <= 120
    assert min(targets) == 1.12  # never below the profile's own target
    last = plan_next_session(files.profile, files.machine, files.patient, history).prescription
    assert last is not None
    assert str(last) == (
        "1.42 km/h, bouts 120 s: held 1.42 km/h: 1 of 2 sessions in a row inside the rules "
        "at this target"
    )
    assert str(history_reason(files, history[:17])) == (
        "1.22 km/h, bouts 105 s: stepped back 0.05 km/h to 1.22 km/h and bouts shortened "
        "15 s to 105 s: safety stop in the last session"
    )


def history_reason(files: SessionFiles, history: list[SessionResult]) -> Prescription:
    plan = plan_next_session(files.profile, files.machine, files.patient, history)
    assert plan.prescription is not None
    return plan.prescription


def test_no_history_starts_at_the_profiles_own_target() -> None:
    rx = next_prescription(params(), [])
    assert (rx.target_kmh, rx.bout_s, rx.change) == (1.0, 60.0, Change.START)


def test_raise_stops_at_the_cap_and_says_so() -> None:
    p = params(cap_kmh=1.25)
    rx = next_prescription(p, [result(target=1.2)])
    assert (rx.target_kmh, rx.change) == (1.25, Change.RAISED)
    assert rx.reason == "raised 0.05 km/h to 1.25 km/h: last session complete"
    rx = next_prescription(p, [result(target=1.25)])
    assert (rx.target_kmh, rx.change) == (1.25, Change.HELD)
    assert rx.reason == "held at the cap 1.25 km/h: last session complete"


def test_a_target_above_the_cap_is_brought_down_to_it() -> None:
    rx = next_prescription(params(), [result(target=2.0)])
    assert rx.target_kmh == 1.3


def test_a_lower_target_used_last_time_is_not_raised_by_clamping() -> None:
    """An operator who ran slower than the profile: the base is what was used."""
    rx = next_prescription(params(), [result(outcome=INCOMPLETE, target=0.8)])
    assert (rx.target_kmh, rx.change) == (0.8, Change.HELD)
    rx = next_prescription(params(), [result(outcome=SAFETY, target=0.8)])
    assert (rx.target_kmh, rx.change) == (0.8, Change.HELD)
    assert rx.reason == (
        "held 0.8 km/h, bouts 60 s (the profile's own, the floor): safety stop in the last session"
    )


def test_safety_stop_at_the_start_target_holds_at_the_floor() -> None:
    rx = next_prescription(params(), [result(outcome=SAFETY, target=1.0)])
    assert (rx.target_kmh, rx.change) == (1.0, Change.HELD)


def test_step_back_uses_its_own_size() -> None:
    rx = next_prescription(params(step_back_kmh=0.2), [result(outcome=SAFETY, target=1.3)])
    assert (rx.target_kmh, rx.change) == (1.1, Change.STEPPED_BACK)
    assert rx.reason == "stepped back 0.2 km/h to 1.1 km/h: safety stop in the last session"


@pytest.mark.parametrize(
    ("rail_pct", "rises"),
    [(19.9, True), (20.0, False), (35.0, False)],
)
def test_rail_contact_must_be_below_the_stated_share(rail_pct: float, rises: bool) -> None:
    rx = next_prescription(params(rail_contact_below_pct=20), [result(rail_pct=rail_pct)])
    assert (rx.change is Change.RAISED) is rises


def test_a_stated_rpe_rule_needs_an_rpe() -> None:
    p = params(rpe_at_most=13)
    assert next_prescription(p, [result(rpe=13)]).change is Change.RAISED
    assert next_prescription(p, [result(rpe=13.5)]).reason == (
        "held 1 km/h: RPE 13.5 (rises at 13 or below)"
    )
    assert next_prescription(p, [result(rpe=None)]).reason == (
        "held 1 km/h: no RPE recorded (rises at RPE 13 or below)"
    )


def test_no_backward_time_holds() -> None:
    rx = next_prescription(params(), [result(backward_s=0.0)])
    assert rx.reason == "held 1 km/h: no backward time recorded in the last session"


def test_sessions_at_another_target_do_not_count_towards_the_run() -> None:
    p = params(after_sessions=2)
    history = [result(target=1.0), result(target=1.1)]
    rx = next_prescription(p, history)
    assert rx.reason == "held 1.1 km/h: 1 of 2 sessions in a row inside the rules at this target"
    rx = next_prescription(p, [*history, result(target=1.1)])
    assert (rx.target_kmh, rx.change) == (1.2, Change.RAISED)


def test_schedule_lists_every_prescription() -> None:
    rxs = schedule(params(), [result(target=1.0), result(target=1.1)])
    assert [(r.target_kmh, r.change) for r in rxs] == [
        (1.0, Change.START),
        (1.1, Change.RAISED),
        (1.2, Change.RAISED),
    ]


def test_prescriptions_never_leave_the_range() -> None:
    """Whatever happens, the target stays in [min(start, used), cap], the bout in its range."""
    p = params(bout_step_s=10.0, bout_cap_s=90.0, rail_contact_below_pct=30)
    outcomes = [OK, OK, SAFETY, OK, INCOMPLETE, OK, OK, OK, SAFETY, SAFETY, SAFETY, OK] * 4
    history: list[SessionResult] = []
    for i, outcome in enumerate(outcomes):
        rx = next_prescription(p, history)
        assert p.start_kmh <= rx.target_kmh <= p.cap_kmh
        assert p.start_bout_s <= rx.bout_s <= 90.0
        history.append(result(outcome, rx.target_kmh, rail_pct=10 * (i % 4), bout_s=rx.bout_s))
