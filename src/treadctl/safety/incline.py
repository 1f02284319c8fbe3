"""The incline's own safety rules: a pure step, in the interlock's style.

`InclineRules.step(state, inputs, now)` does no I/O and never awaits. It decides, every
cycle, which relay (if any) is on and what a position controller is to approach:

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


MOVING = (InclineMode.MOVING_UP, InclineMode.MOVING_DOWN)


class InclineRules:
    """Holds the constant limits; `step` is pure."""

    def __init__(self, config: InclineConfig) -> None:
        self.config = config

    def step(
        self, state: InclineState, inputs: InclineInputs, now: float
    ) -> tuple[InclineState, InclineOutputs]:
        cfg = self.config
        tol = cfg.tolerance_pct
        faults = list(state.faults)
        new: list[InclineFault] = []
        detail = state.detail
        warnings: list[str] = []
        decisions: list[tuple[str, bool, str]] = []

        def trip(fault: InclineFault, text: str) -> None:
            nonlocal detail
            if fault not in faults:
                faults.append(fault)
                new.append(fault)
                detail = detail or text

        raw = inputs.position_pct
        pos = raw if raw is not None and math.isfinite(raw) else None
        stale = not inputs.position_age_s <= cfg.position_timeout_s  # NaN age: expired
        if stale:
            trip(InclineFault.SENSOR_LOST, f"no reading for {inputs.position_age_s:.2f} s")
        if pos is not None and not (cfg.min_pct - tol <= pos <= cfg.max_pct + tol):
            trip(InclineFault.SENSOR_IMPLAUSIBLE, f"reading {pos:.2f} %")
            pos = None

        # Measured rate, over a window (a single cycle's noise is not travel).
        rate_ref = state.rate_ref
        if pos is not None:
            if rate_ref is None:
                rate_ref = (pos, now)
            elif now - rate_ref[1] >= cfg.rate_window_s:
                rate = abs(pos - rate_ref[0]) / (now - rate_ref[1])
                if rate > cfg.max_rate_pct_per_s:
                    trip(
                        InclineFault.RUNAWAY,
                        f"{rate:.2f} %/s > {cfg.max_rate_pct_per_s:g} %/s",
                    )
                rate_ref = (pos, now)

        # Bounded moves: judged on the relays of the last cycle.
        stall_ref = state.stall_ref
        idle_ref = state.idle_ref_pct
        was = state.mode
        if was in MOVING and stall_ref is not None:
            if pos is not None:
                moved = pos - stall_ref[0]
                away = -moved if was is InclineMode.MOVING_UP else moved
                if away >= cfg.stall_change_pct:
                    trip(InclineFault.WRONG_WAY, f"{was.value}, position {pos:.2f} %")
                if abs(moved) >= cfg.stall_change_pct:
                    stall_ref = (pos, now)
            if now - stall_ref[1] >= cfg.stall_time_s:
                trip(
                    InclineFault.STALL,
                    f"{was.value}: no change of {cfg.stall_change_pct:g} % "
                    f"in {cfg.stall_time_s:g} s",
                )
        elif pos is not None and idle_ref is not None and abs(pos - idle_ref) > 2 * tol:
            trip(InclineFault.DRIFT, f"from {idle_ref:.2f} % to {pos:.2f} % with relays off")

        # Commands.
        homing = state.homing
        if inputs.reset and faults:
            if pos is None or stale:
                decisions.append(("incline_reset", False, "no fresh incline position reading"))
            elif new:
                why = f"{new[0].value} (this cycle)"
                decisions.append(("incline_reset", False, why))
            else:
                faults, detail = [], ""
                rate_ref, idle_ref, stall_ref = (pos, now), pos, None
                decisions.append(("incline_reset", True, "incline fault cleared"))
        if inputs.home:
            if not cfg.return_to_zero:
                why = "the machine file does not allow a return to 0 % (incline.return_to_zero)"
                decisions.append(("incline_home", False, why))
            elif faults:
                decisions.append(("incline_home", False, "incline fault latched: reset first"))
            elif not inputs.belt_stopped:
                decisions.append(("incline_home", False, "belt not stopped"))
            else:
                homing = True
                decisions.append(("incline_home", True, "incline returning to 0 %"))

        lo = cfg.soft_min_pct
        hi = cfg.upper_pct(inputs.harness_confirmed)
        if not inputs.belt_stopped:
            homing = False
        goal: float | None = None
        if faults:
            homing = False
        elif inputs.belt_running:
            goal = min(hi, max(lo, inputs.target_pct))
            if inputs.target_pct > hi + 1e-9:
                if not inputs.harness_confirmed and inputs.target_pct >= cfg.harness_pct:
                    warnings.append(
                        f"harness not confirmed: incline held below {cfg.harness_pct:g} %"
                    )
                else:
                    warnings.append(f"incline held at its soft limit {hi:g} %")
            elif inputs.target_pct < lo - 1e-9:
                warnings.append(f"incline held at its soft limit {lo:g} %")
        elif homing:
            goal = min(hi, max(lo, 0.0))

        up = down = False
        if goal is not None and pos is not None and not stale:
            err = goal - pos
            up_band = tol / 2 if was is InclineMode.MOVING_UP else tol
            down_band = tol / 2 if was is InclineMode.MOVING_DOWN else tol
            if err > up_band and pos < hi:
                up = True
            elif -err > down_band and pos > lo:
                down = True
            elif homing:
                homing = False  # reached 0 %
        setpoint: float | None = None
        if (up or down) and goal is not None and pos is not None:
            dt = 0.0 if state.last_t is None else max(0.0, now - state.last_t)
            prev = state.setpoint_pct if was in MOVING and state.setpoint_pct is not None else pos
            step_pct = cfg.rate_pct_per_s * dt
            setpoint = min(goal, prev + step_pct) if goal >= prev else max(goal, prev - step_pct)
            setpoint = min(hi, max(lo, setpoint))

        if faults:
            mode = InclineMode.FAULTED
        elif up:
            mode = InclineMode.MOVING_UP
        elif down:
            mode = InclineMode.MOVING_DOWN
        elif goal is not None:
            mode = InclineMode.HOLDING
        else:
            mode = InclineMode.HALTED
        if mode in MOVING:
            assert pos is not None  # a relay is only ever switched on a fresh reading
            if stall_ref is None:  # a reversal keeps the timer: flapping never hides a stall
                stall_ref = (pos, now)
            idle_ref = None
        else:
            if pos is not None or faults or goal is None:
                stall_ref = None  # a move paused by one missed reading keeps its timer
            if was in MOVING or idle_ref is None:
                idle_ref = pos

        new_state = InclineState(
            mode=mode,
            faults=tuple(faults),
            detail=detail,
            last_t=now,
            setpoint_pct=setpoint,
            rate_ref=rate_ref,
            stall_ref=stall_ref,
            idle_ref_pct=idle_ref,
            homing=homing,
        )
        out = InclineOutputs(
            up=up,
            down=down,
            setpoint_pct=setpoint,
            goal_pct=goal,
            target_pct=inputs.target_pct,
            actual_pct=pos,
            mode=mode,
            faults=tuple(faults),
            detail=detail,
            new_faults=tuple(new),
            warnings=tuple(warnings),
            decisions=tuple(decisions),
        )
        return new_state, out


__all__ = [
    "InclineConfig",
    "InclineFault",
    "InclineInputs",
    "InclineMode",
    "InclineOutputs",
    "InclineRules",
    "InclineState",
]
