"""One cycle's state, shared by the loop's phases and its extensions, and the extension
interface: how a peripheral's own rule (the powered incline, the heart-rate zone, later
the walker's position) joins the cycle without an edit of the loop."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from treadctl.control.setpoint import Setpoint
from treadctl.protocol.sequencer import SequencerState
from treadctl.safety.types import Command, InterlockState, SafetyOutputs, SegmentPolicy


@dataclass(slots=True)
class Cycle:
    """What the phases of one cycle hand each other; kept across cycles where the next
    cycle starts from it (the interlock's and the sequencer's state, the setpoint)."""

    now: float = 0.0
    deadline: float = 0.0
    out: SafetyOutputs | None = None  # the interlock's: last cycle's until safety steps
    interlock: InterlockState = field(default_factory=InterlockState)
    seq: SequencerState = field(default_factory=SequencerState)
    policy: SegmentPolicy | None = None  # the segment's policy this cycle
    pending: tuple[Command, ...] = ()  # the sequencer's commands for the next cycle
    change: Any = None  # the sequencer's segment change this cycle, if any
    started_index: int = 0  # the segment current when this cycle's commands were judged
    sp: Setpoint = field(default_factory=Setpoint)
    operator_age_s: float | None = None
    warnings: tuple[str, ...] = ()  # the warnings last logged
    outcome: str = ""
    unverified: bool = False  # ending faulted with the drive unreachable


class CycleExtension(Protocol):
    """A peripheral's rule in the cycle. Each method runs once per cycle, in the loop's
    order, must return at once (no I/O: its component does that) and never raise."""

    def before_safety(self, cycle: Cycle, commands: list[Command]) -> list[Command]:
        """This cycle's commands before the interlock judges them (add, hold back)."""
        ...

    def after_safety(self, cycle: Cycle) -> None:
        """Step the rule on the interlock's and the sequencer's outputs; leave the
        component's command for the write phase."""
        ...

    def record(self, cycle: Cycle) -> tuple[str, ...]:
        """Log what the rule did; return the warnings it adds to the cycle's."""
        ...
