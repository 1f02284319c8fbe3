"""The incline's own safety rules: a pure step, in the interlock's style.

`InclineRules.step(state, inputs, now) -> (state, outputs)` is pure: it does no I/O and
never awaits, and time comes in as `now`. It decides, every cycle, which relay (if any) is
on and what a position controller is to approach:

- up and down are never on together;
- the incline moves only while the belt runs a segment (or, with `return_to_zero`, on an
  explicit home command while the belt is stopped): stop, e-stop, any latched fault of
  the interlock, a lost drive and a lost position sensor all halt it at once;
- every move is bounded in time: a relay on with no position change of
  `stall_change_pct` for `stall_time_s` latches a stall fault (relays off);
- targets are clamped inside the soft limits, and below the harness grade (5 %) until
  the harness is confirmed for this session; a relay never drives further out of them;
- measured travel faster than `max_rate_pct_per_s`, travel the wrong way, drift with
  both relays off and a silent or implausible sensor latch a fault;
- a latched fault clears only on a reset with a fresh, plausible reading.

`step` is a fixed sequence of named rules, each a module-level function that can be read
and tested on its own: `reading`, `travel_rate`, `bounded_moves` (faults latch through
`trip`), then `reset` and `home` (the commands, answered through `decide`), `goal`,
`relays`, `setpoint`, `settle` (the mode and the stall and drift references) and `finish`.
They share one working record, `InclineStep`, made by `step` and never kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from treadctl.config.machine import InclineRange
from treadctl.config.profile import HARNESS_INCLINE_PCT


class InclineMode(StrEnum):
    HALTED = "halted"  # relays off: the belt is not running a segment
    HOLDING = "holding"  # at its goal, relays off
    MOVING_UP = "moving up"
    MOVING_DOWN = "moving down"
    FAULTED = "faulted"  # latched: relays off until a reset


class InclineFault(StrEnum):
    """Latched incline faults; the value is the operator's wording."""

    STALL = "incline stalled: no position change while driven"
    RUNAWAY = "incline travels faster than its maximum rate (runaway)"
    WRONG_WAY = "incline travels the wrong way"
    DRIFT = "incline moves with both relays off (runaway)"
    SENSOR_LOST = "incline position sensor stopped answering"
    SENSOR_IMPLAUSIBLE = "incline position reading outside the machine's range"


@dataclass(frozen=True, slots=True)
class InclineConfig:
    min_pct: float
    max_pct: float
    soft_min_pct: float
    soft_max_pct: float
    rate_pct_per_s: float
    max_rate_pct_per_s: float
    rate_window_s: float
    stall_time_s: float
    stall_change_pct: float
    tolerance_pct: float
    position_timeout_s: float
    return_to_zero: bool = False
    harness_pct: float = HARNESS_INCLINE_PCT

    @classmethod
    def from_config(cls, rng: InclineRange) -> InclineConfig:
        return cls(
            min_pct=rng.min_pct,
            max_pct=rng.max_pct,
            soft_min_pct=rng.soft_min,
            soft_max_pct=rng.soft_max,
            rate_pct_per_s=rng.rate_pct_per_s,
            max_rate_pct_per_s=rng.max_rate_pct_per_s,
            rate_window_s=rng.rate_window_s,
            stall_time_s=rng.stall_time_s,
            stall_change_pct=rng.stall_change_pct,
            tolerance_pct=rng.tolerance_pct,
            position_timeout_s=rng.position_timeout_s,
            return_to_zero=rng.return_to_zero,
        )

    def upper_pct(self, harness_confirmed: bool) -> float:
        """Highest goal allowed now: below the harness grade until the harness is confirmed."""
        if harness_confirmed:
            return self.soft_max_pct
        return min(self.soft_max_pct, self.harness_pct - self.tolerance_pct)


@dataclass(frozen=True, slots=True)
class InclineInputs:
    position_pct: float | None  # this cycle's reading; None: the read failed
    position_age_s: float  # age of the last good reading
    target_pct: float  # the current segment's incline
    belt_running: bool  # the interlock runs a segment: follow it
    belt_stopped: bool  # the interlock is STOPPED (healthy, at rest): a home may run
    harness_confirmed: bool
    reset: bool = False  # the operator's reset
    home: bool = False  # an explicit "incline to 0 %" command


@dataclass(frozen=True, slots=True)
class InclineState:
    mode: InclineMode = InclineMode.HALTED
    faults: tuple[InclineFault, ...] = ()
    detail: str = ""
    last_t: float | None = None
    setpoint_pct: float | None = None  # the ramped goal (position controllers)
    rate_ref: tuple[float, float] | None = None  # (position, time) the rate is measured from
    stall_ref: tuple[float, float] | None = None  # last position change while driven
    idle_ref_pct: float | None = None  # where it stood when the relays went off
    homing: bool = False


@dataclass(frozen=True, slots=True)
class InclineOutputs:
    up: bool
    down: bool
    setpoint_pct: float | None  # for a position controller; None: hold where it is
    goal_pct: float | None  # where it is going (the target clamped); None: halted
    target_pct: float  # what the segment asks
    actual_pct: float | None
    mode: InclineMode
    faults: tuple[InclineFault, ...]
    detail: str = ""
    new_faults: tuple[InclineFault, ...] = ()  # latched this cycle (to log)
    warnings: tuple[str, ...] = ()
    decisions: tuple[tuple[str, bool, str], ...] = ()  # (command, accepted, detail)

    @property
    def faulted(self) -> bool:
        return bool(self.faults)


# The modes as module constants: on Python 3.11 every `InclineMode.HALTED` is a slow
# lookup (EnumType's __getattr__ hook, about 70 ns), and the step runs every cycle.
HALTED, HOLDING, FAULTED = InclineMode.HALTED, InclineMode.HOLDING, InclineMode.FAULTED
MOVING_UP, MOVING_DOWN = InclineMode.MOVING_UP, InclineMode.MOVING_DOWN
MOVING = (MOVING_UP, MOVING_DOWN)


@dataclass(slots=True, init=False)
class InclineStep:
    """One step's working record: made afresh by every `InclineRules.step`, changed by the
    rules in order, never kept."""

    # Given, never changed.
    now: float
    state: InclineState
    inputs: InclineInputs
    # The latch, the references and the home command, as the rules change them.
    faults: tuple[InclineFault, ...]  # latched, first trip first
    new: tuple[InclineFault, ...]  # latched this cycle
    detail: str
    warnings: tuple[str, ...]
    decisions: tuple[tuple[str, bool, str], ...]
    rate_ref: tuple[float, float] | None
    stall_ref: tuple[float, float] | None
    idle_ref: float | None
    homing: bool
    # Facts of this cycle, each set by the rule named before any later rule reads it.
    pos: float | None  # reading: this cycle's position if plausible
    stale: bool  # reading
    lo: float  # goal
    hi: float  # goal
    goal: float | None  # goal
    up: bool  # relays
    down: bool  # relays
    setpoint: float | None  # setpoint
    mode: InclineMode  # settle

    def __init__(self, state: InclineState, inputs: InclineInputs, now: float) -> None:
        """The step starts from the state as given."""
        self.now = now
        self.state = state
        self.inputs = inputs
        self.faults = state.faults
        self.new = ()
        self.detail = state.detail
        self.warnings = ()
        self.decisions = ()
        self.rate_ref = state.rate_ref
        self.stall_ref = state.stall_ref
        self.idle_ref = state.idle_ref_pct
        self.homing = state.homing


def trip(s: InclineStep, fault: InclineFault, text: str) -> None:
    """A fault latches once; the first trip's text is kept."""
    if fault not in s.faults:
        s.faults += (fault,)
        s.new += (fault,)
        s.detail = s.detail or text


def decide(s: InclineStep, command: str, accepted: bool, text: str) -> None:
    """Every command gets its decision, in the order of the rules."""
    s.decisions += ((command, accepted, text),)


def warn(s: InclineStep, text: str) -> None:
    """A warning for the operator, in the order of the rules."""
    s.warnings += (text,)


def reading(cfg: InclineConfig, s: InclineStep) -> None:
    """A silent sensor latches a fault; a reading outside the machine's range latches one
    and is no reading."""
    raw = s.inputs.position_pct
    pos = raw if raw is not None and math.isfinite(raw) else None
    age = s.inputs.position_age_s
    s.stale = not age <= cfg.position_timeout_s  # NaN age: expired
    if s.stale:
        trip(s, InclineFault.SENSOR_LOST, f"no reading for {age:.2f} s")
    tol = cfg.tolerance_pct
    if pos is not None and not (cfg.min_pct - tol <= pos <= cfg.max_pct + tol):
        trip(s, InclineFault.SENSOR_IMPLAUSIBLE, f"reading {pos:.2f} %")
        pos = None
    s.pos = pos


def travel_rate(cfg: InclineConfig, s: InclineStep) -> None:
    """Travel faster than max_rate_pct_per_s, measured over a window (a single cycle's
    noise is not travel), latches a runaway."""
    pos, now, ref = s.pos, s.now, s.rate_ref
    if pos is None:
        return
    if ref is None:
        s.rate_ref = (pos, now)
    elif now - ref[1] >= cfg.rate_window_s:
        rate = abs(pos - ref[0]) / (now - ref[1])
        if rate > cfg.max_rate_pct_per_s:
            trip(s, InclineFault.RUNAWAY, f"{rate:.2f} %/s > {cfg.max_rate_pct_per_s:g} %/s")
        s.rate_ref = (pos, now)


def bounded_moves(cfg: InclineConfig, s: InclineStep) -> None:
    """Judged on the last cycle's relays: a driven move that goes the wrong way or makes no
    progress for stall_time_s latches a fault, and so does drift with both relays off."""
    was, pos, now, ref = s.state.mode, s.pos, s.now, s.stall_ref
    change = cfg.stall_change_pct
    if was in MOVING and ref is not None:
        if pos is not None:
            moved = pos - ref[0]
            away = -moved if was is MOVING_UP else moved
            if away >= change:
                trip(s, InclineFault.WRONG_WAY, f"{was.value}, position {pos:.2f} %")
            if abs(moved) >= change:
                ref = s.stall_ref = (pos, now)
        if now - ref[1] >= cfg.stall_time_s:
            trip(
                s,
                InclineFault.STALL,
                f"{was.value}: no change of {change:g} % in {cfg.stall_time_s:g} s",
            )
    elif (
        pos is not None and s.idle_ref is not None and abs(pos - s.idle_ref) > 2 * cfg.tolerance_pct
    ):
        trip(s, InclineFault.DRIFT, f"from {s.idle_ref:.2f} % to {pos:.2f} % with relays off")


def reset(s: InclineStep) -> None:
    """A latched fault clears only on a reset with a fresh, plausible reading, and never in
    the cycle a fault latched."""
    pos = s.pos
    if pos is None or s.stale:
        decide(s, "incline_reset", False, "no fresh incline position reading")
    elif s.new:
        decide(s, "incline_reset", False, f"{s.new[0].value} (this cycle)")
    else:
        s.faults, s.detail = (), ""
        s.rate_ref, s.idle_ref, s.stall_ref = (pos, s.now), pos, None
        decide(s, "incline_reset", True, "incline fault cleared")


def home(cfg: InclineConfig, s: InclineStep) -> None:
    """A return to 0 % runs only where the machine file allows it, with no fault latched
    and the belt stopped."""
    if not cfg.return_to_zero:
        why = "the machine file does not allow a return to 0 % (incline.return_to_zero)"
        decide(s, "incline_home", False, why)
    elif s.faults:
        decide(s, "incline_home", False, "incline fault latched: reset first")
    elif not s.inputs.belt_stopped:
        decide(s, "incline_home", False, "belt not stopped")
    else:
        s.homing = True
        decide(s, "incline_home", True, "incline returning to 0 %")


def goal(cfg: InclineConfig, s: InclineStep) -> None:
    """The incline has a goal only while the belt runs a segment (or homes while stopped),
    never with a fault latched, and always inside the soft limits and below the harness
    grade until the harness is confirmed."""
    inputs = s.inputs
    lo = s.lo = cfg.soft_min_pct
    hi = s.hi = cfg.upper_pct(inputs.harness_confirmed)
    if not inputs.belt_stopped:
        s.homing = False
    s.goal = None
    if s.faults:
        s.homing = False
    elif inputs.belt_running:
        target = inputs.target_pct
        s.goal = min(hi, max(lo, target))
        if target > hi + 1e-9:
            if not inputs.harness_confirmed and target >= cfg.harness_pct:
                warn(s, f"harness not confirmed: incline held below {cfg.harness_pct:g} %")
            else:
                warn(s, f"incline held at its soft limit {hi:g} %")
        elif target < lo - 1e-9:
            warn(s, f"incline held at its soft limit {lo:g} %")
    elif s.homing:
        s.goal = min(hi, max(lo, 0.0))


def relays(cfg: InclineConfig, s: InclineStep) -> None:
    """At most one relay, only towards a goal on a fresh reading, never further out of the
    soft limits; the band narrows while a move runs so it does not chatter."""
    s.up = s.down = False
    goal, pos, was, tol = s.goal, s.pos, s.state.mode, cfg.tolerance_pct
    if goal is None or pos is None or s.stale:
        return
    err = goal - pos
    up_band = tol / 2 if was is MOVING_UP else tol
    down_band = tol / 2 if was is MOVING_DOWN else tol
    if err > up_band and pos < s.hi:
        s.up = True
    elif -err > down_band and pos > s.lo:
        s.down = True
    elif s.homing:
        s.homing = False  # reached 0 %


def setpoint(cfg: InclineConfig, s: InclineStep) -> None:
    """A position controller's setpoint ramps towards the goal at rate_pct_per_s, inside
    the soft limits, and exists only while a relay is on."""
    s.setpoint = None
    goal, pos, state = s.goal, s.pos, s.state
    if not (s.up or s.down) or goal is None or pos is None:
        return
    dt = 0.0 if state.last_t is None else max(0.0, s.now - state.last_t)
    prev = state.setpoint_pct if state.mode in MOVING and state.setpoint_pct is not None else pos
    step_pct = cfg.rate_pct_per_s * dt
    ramped = min(goal, prev + step_pct) if goal >= prev else max(goal, prev - step_pct)
    s.setpoint = min(s.hi, max(s.lo, ramped))


def settle(s: InclineStep) -> None:
    """The mode follows the faults and the relays; a move's stall timer survives a reversal
    and one missed reading, and the relays going off mark where the incline stood."""
    pos, was = s.pos, s.state.mode
    if s.faults:
        s.mode = FAULTED
    elif s.up:
        s.mode = MOVING_UP
    elif s.down:
        s.mode = MOVING_DOWN
    elif s.goal is not None:
        s.mode = HOLDING
    else:
        s.mode = HALTED
    if s.mode in MOVING:
        assert pos is not None  # a relay is only ever switched on a fresh reading
        if s.stall_ref is None:  # a reversal keeps the timer: flapping never hides a stall
            s.stall_ref = (pos, s.now)
        s.idle_ref = None
    else:
        if pos is not None or s.faults or s.goal is None:
            s.stall_ref = None  # a move paused by one missed reading keeps its timer
        if was in MOVING or s.idle_ref is None:
            s.idle_ref = pos


def finish(s: InclineStep) -> tuple[InclineState, InclineOutputs]:
    """The new state and the outputs, as the rules left them."""
    new_state = InclineState(
        mode=s.mode,
        faults=s.faults,
        detail=s.detail,
        last_t=s.now,
        setpoint_pct=s.setpoint,
        rate_ref=s.rate_ref,
        stall_ref=s.stall_ref,
        idle_ref_pct=s.idle_ref,
        homing=s.homing,
    )
    out = InclineOutputs(
        up=s.up,
        down=s.down,
        setpoint_pct=s.setpoint,
        goal_pct=s.goal,
        target_pct=s.inputs.target_pct,
        actual_pct=s.pos,
        mode=s.mode,
        faults=s.faults,
        detail=s.detail,
        new_faults=s.new,
        warnings=s.warnings,
        decisions=s.decisions,
    )
    return new_state, out


class InclineRules:
    """Holds the constant limits; `step` is pure."""

    def __init__(self, config: InclineConfig) -> None:
        self.config = config

    def step(
        self, state: InclineState, inputs: InclineInputs, now: float
    ) -> tuple[InclineState, InclineOutputs]:
        """One cycle: the rules in a fixed order (the order is part of the truth table)."""
        cfg = self.config
        s = InclineStep(state, inputs, now)
        reading(cfg, s)
        travel_rate(cfg, s)
        bounded_moves(cfg, s)
        if inputs.reset and s.faults:
            reset(s)
        if inputs.home:
            home(cfg, s)
        goal(cfg, s)
        relays(cfg, s)
        setpoint(cfg, s)
        settle(s)
        return finish(s)


__all__ = [
    "InclineConfig",
    "InclineFault",
    "InclineInputs",
    "InclineMode",
    "InclineOutputs",
    "InclineRules",
    "InclineState",
]
