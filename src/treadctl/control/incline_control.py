"""The powered incline's rule in the cycle: it follows the segment only while the belt runs
it, and a latched incline fault stops the belt (treadctl.safety.incline has the rules)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from treadctl.control.components import InclineComponent, Log
from treadctl.control.cycle import Cycle
from treadctl.incline.base import InclineCommand
from treadctl.protocol.sequencer import Sequencer
from treadctl.safety.incline import InclineInputs, InclineOutputs, InclineRules, InclineState
from treadctl.safety.types import Command, CommandKind, Mode, SafetyOutputs

INCLINE_FAULT_SOURCE = "incline fault"


class InclineControl:
    """A CycleExtension: the incline rules stepped every cycle on the lift's reading."""

    def __init__(
        self,
        rules: InclineRules,
        lift: InclineComponent,
        sequencer: Sequencer,
        log: Log,
        *,
        belt_stop_on_fault: bool,
        harness_listed: Callable[[int], bool],
        recorder: Callable[[float, InclineOutputs], None] | None,
    ) -> None:
        self.rules = rules
        self.lift = lift
        self.sequencer = sequencer
        self.log = log
        self.belt_stop_on_fault = belt_stop_on_fault
        self.harness_listed = harness_listed
        self.recorder = recorder
        self.state = InclineState()
        self.out: InclineOutputs | None = None
        # The harness is confirmed for this session: by an accepted start of a segment whose
        # pre-start checklist lists it (the start confirms the checklist), or explicitly.
        self.harness_confirmed = False
        self.home_requested = False
        self._reset = False

    def before_safety(self, cycle: Cycle, commands: list[Command]) -> list[Command]:
        self._reset = any(c.kind is CommandKind.RESET for c in commands)
        if self.out is not None and self.out.faulted and self.belt_stop_on_fault:
            return self._fault_stop(commands, cycle.out, cycle.now)
        return commands

    def after_safety(self, cycle: Cycle) -> None:
        out = cycle.out
        assert out is not None
        for d in out.decisions:
            if (
                d.accepted
                and d.command.kind is CommandKind.START
                and self.harness_listed(cycle.started_index)
            ):
                self.harness_confirmed = True
        home, self.home_requested = self.home_requested, False
        lift = self.lift
        self.state, inc = self.rules.step(
            self.state,
            InclineInputs(
                position_pct=lift.value,
                position_age_s=lift.age_s(cycle.now),
                target_pct=self.sequencer.cues(cycle.seq).incline_pct,
                belt_running=out.mode is Mode.RUNNING,
                belt_stopped=out.mode is Mode.STOPPED,
                harness_confirmed=self.harness_confirmed,
                reset=self._reset,
                home=home,
            ),
            cycle.now,
        )
        self.out = inc
        lift.command = InclineCommand(inc.up, inc.down, inc.setpoint_pct)

    def record(self, cycle: Cycle) -> tuple[str, ...]:
        inc = self.out
        if inc is None:
            return ()
        now = cycle.now
        for fault in inc.new_faults:
            self.log(
                now,
                "incline_fault",
                reason=fault.value,
                detail=inc.detail,
                actual_pct=inc.actual_pct,
                belt_stops=self.belt_stop_on_fault,
            )
        for what, accepted, detail in inc.decisions:
            self.log(
                now, "command", command=what, source="operator", accepted=accepted, detail=detail
            )
        if self.recorder is not None:
            self.recorder(now, inc)
        return inc.warnings

    def _fault_stop(
        self, commands: list[Command], out: SafetyOutputs | None, now: float
    ) -> list[Command]:
        """A latched incline fault stops the belt (controlled: a pause the operator resumes
        after resetting it) and refuses starts until the reset."""
        kept: list[Command] = []
        for c in commands:
            if c.kind is CommandKind.START:
                self.log(
                    now,
                    "command",
                    command=c.kind.value,
                    source=c.source,
                    accepted=False,
                    detail="incline fault latched: reset first",
                )
            else:
                kept.append(c)
        if out is not None and out.mode is Mode.RUNNING:
            kept.append(Command(CommandKind.PAUSE, INCLINE_FAULT_SOURCE))
        return kept


def incline_recorder(recorder: Any) -> Callable[[float, InclineOutputs], None] | None:
    """A recorder's optional `incline_cycle` (treadctl.store.recorder), if it has one."""
    method = getattr(recorder, "incline_cycle", None)
    return method if callable(method) else None
