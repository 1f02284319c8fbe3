"""Progression across sessions, as pure functions of the past sessions' results.

The rules come from the profile's `[progression]` section, resolved to km/h against
the patient by `protocol.plan.build_plan` (`Plan.progression`). Given the results of
the sessions so far, `next_prescription` says the backward target (and the length of
the progressing bouts) for the next session, and why, in words:

- no history: the profile's own target and bout length;
- last session ended by a safety stop: step back (target by `step_back_kmh`, bouts by
  one bout step), never below the profile's own target and length;
- last session incomplete (stopped or ended early, no safety stop): hold;
- last session completed but outside the rules (rail contact at or above the stated
  share of backward time, RPE above the stated value or not recorded when the profile
  states one, no backward time recorded): hold;
- completed and inside the rules for `after_sessions` sessions in a row at the same
  target and bout length: one change at a time, bouts first (by `bout_step_s` up to
  `bout_cap_s`, when stated), then the target (by `step_kmh` up to the cap).

The result never exceeds the cap, which `build_plan` has checked against the machine,
the patient and the reverse start cap, and the plan built from it is checked again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

EPS = 1e-6


class Outcome(StrEnum):
    """How a session went, as far as the progression cares.

    SAFETY_STOP wins over the others: any latched fault (e-stop, key, drive, runaway...)
    or safety-triggered stop (rails released on hold-to-run, heart rate high or lost)
    during the session, even if the session then completed.
    """

    COMPLETED = "completed"  # every segment walked, no safety stop
    INCOMPLETE = "incomplete"  # stopped or ended early by the operator, no safety stop
    SAFETY_STOP = "safety_stop"


class Change(StrEnum):
    START = "start"
    RAISED = "raised"
    LENGTHENED = "lengthened"
    HELD = "held"
    STEPPED_BACK = "stepped_back"


@dataclass(frozen=True, slots=True)
class SessionResult:
    """What the progression needs to know about one past session."""

    outcome: Outcome
    backward_s: float  # time walked backward
    rail_contact_s: float  # time with a hand on a rail while walking backward
    backward_target_kmh: float  # the progressing segments' target used
    rpe: float | None = None  # rating of perceived exertion, on the clinic's scale
    bout_s: float | None = None  # the progressing bouts' length used (None: the profile's)

    @property
    def rail_share(self) -> float | None:
        if self.backward_s <= 0:
            return None
        return min(1.0, max(0.0, self.rail_contact_s / self.backward_s))


@dataclass(frozen=True, slots=True)
class ProgressionParams:
    """The profile's [progression] rules in km/h and seconds, for one patient."""

    start_kmh: float  # the profile's own target for the progressing segments: the floor
    start_bout_s: float  # the profile's own length of the progressing segments
    cap_kmh: float
    step_kmh: float
    step_back_kmh: float
    after_sessions: int = 1
    rail_contact_below_pct: float | None = None
    rpe_at_most: float | None = None
    bout_step_s: float | None = None
    bout_cap_s: float | None = None

    @property
    def lengthens(self) -> bool:
        return self.bout_step_s is not None and self.bout_cap_s is not None


@dataclass(frozen=True, slots=True)
class Prescription:
    """The next session's backward target and bout length, and why."""

    target_kmh: float
    bout_s: float
    change: Change
    reason: str

    def __str__(self) -> str:
        return f"{self.target_kmh:g} km/h, bouts {self.bout_s:g} s: {self.reason}"


def _r(x: float) -> float:
    return round(x, 3)


def _pct(share: float) -> str:
    return f"{share * 100:.0f} %"


def _judge(params: ProgressionParams, result: SessionResult) -> str | None:
    """None if the session lets the target rise; otherwise why it does not."""
    if result.outcome is Outcome.SAFETY_STOP:
        return "safety stop in the last session"
    if result.outcome is Outcome.INCOMPLETE:
        return "last session incomplete"
    share = result.rail_share
    if share is None:
        return "no backward time recorded in the last session"
    limit = params.rail_contact_below_pct
    if limit is not None and share * 100 >= limit - EPS:
        return f"rail contact {_pct(share)} of backward time (rises below {limit:g} %)"
    rpe_max = params.rpe_at_most
    if rpe_max is not None:
        if result.rpe is None:
            return f"no RPE recorded (rises at RPE {rpe_max:g} or below)"
        if result.rpe > rpe_max:
            return f"RPE {result.rpe:g} (rises at {rpe_max:g} or below)"
    return None


def _evidence(params: ProgressionParams, run: Sequence[SessionResult]) -> str:
    n = len(run)
    text = "last session complete" if n == 1 else f"last {n} sessions complete"
    shares = [r.rail_share or 0.0 for r in run]
    if params.rail_contact_below_pct is not None:
        text += f", rail contact {'' if n == 1 else 'at most '}{_pct(max(shares))}"
    rpes = [r.rpe for r in run if r.rpe is not None]
    if params.rpe_at_most is not None and rpes:
        text += f", RPE {'' if n == 1 else 'at most '}{max(rpes):g}"
    return text


def next_prescription(params: ProgressionParams, history: Sequence[SessionResult]) -> Prescription:
    """The next session's target and bout length from the results so far (oldest first)."""
    p = params
    if not history:
        return Prescription(
            p.start_kmh,
            p.start_bout_s,
            Change.START,
            f"first session: the profile's {p.start_kmh:g} km/h, bouts {p.start_bout_s:g} s",
        )
    last = history[-1]
    # Never raise by clamping: a lower target used last time stays the base.
    target = min(_r(last.backward_target_kmh), p.cap_kmh)
    bout = last.bout_s if last.bout_s is not None else p.start_bout_s
    if p.bout_cap_s is not None:
        bout = min(bout, p.bout_cap_s)
    why_not = _judge(p, last)

    if last.outcome is Outcome.SAFETY_STOP:
        new_target = _r(max(min(p.start_kmh, target), target - p.step_back_kmh))
        new_bout = bout
        if p.bout_step_s is not None:
            new_bout = max(min(p.start_bout_s, bout), bout - p.bout_step_s)
        if new_target >= target - EPS and new_bout >= bout - EPS:
            return Prescription(
                target,
                bout,
                Change.HELD,
                f"held {target:g} km/h, bouts {bout:g} s (the profile's own, the floor): {why_not}",
            )
        parts = []
        if new_target < target - EPS:
            parts.append(f"stepped back {_r(target - new_target):g} km/h to {new_target:g} km/h")
        if new_bout < bout - EPS:
            parts.append(f"bouts shortened {bout - new_bout:g} s to {new_bout:g} s")
        return Prescription(
            new_target, new_bout, Change.STEPPED_BACK, f"{' and '.join(parts)}: {why_not}"
        )

    if why_not is not None:
        return Prescription(target, bout, Change.HELD, f"held {target:g} km/h: {why_not}")

    # Sessions in a row, ending with the last, inside the rules at this target and length.
    run: list[SessionResult] = []
    for result in reversed(history):
        used_bout = result.bout_s if result.bout_s is not None else p.start_bout_s
        if (
            _judge(p, result) is not None
            or abs(min(_r(result.backward_target_kmh), p.cap_kmh) - target) > EPS
            or abs(min(used_bout, p.bout_cap_s or used_bout) - bout) > EPS
        ):
            break
        run.append(result)
        if len(run) == p.after_sessions:
            break
    if len(run) < p.after_sessions:
        return Prescription(
            target,
            bout,
            Change.HELD,
            f"held {target:g} km/h: {len(run)} of {p.after_sessions} sessions in a row "
            f"inside the rules at this target",
        )
    evidence = _evidence(p, run)
    if p.bout_cap_s is not None and p.bout_step_s is not None and bout < p.bout_cap_s - EPS:
        new_bout = min(p.bout_cap_s, bout + p.bout_step_s)
        return Prescription(
            target,
            new_bout,
            Change.LENGTHENED,
            f"lengthened bouts {new_bout - bout:g} s to {new_bout:g} s: {evidence}",
        )
    if target < p.cap_kmh - EPS:
        new_target = _r(min(p.cap_kmh, target + p.step_kmh))
        return Prescription(
            new_target,
            bout,
            Change.RAISED,
            f"raised {_r(new_target - target):g} km/h to {new_target:g} km/h: {evidence}",
        )
    return Prescription(
        target, bout, Change.HELD, f"held at the cap {p.cap_kmh:g} km/h: {evidence}"
    )


def schedule(params: ProgressionParams, results: Sequence[SessionResult]) -> list[Prescription]:
    """The prescription before each session and after the last: len(results) + 1 items."""
    return [next_prescription(params, results[:i]) for i in range(len(results) + 1)]
