"""What a control loop is built from (its parts, given by treadctl.app) and what it shows
each cycle (its snapshot, for the dashboard, status and MQTT)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from treadctl.clock import Clock
from treadctl.config.machine import MachineConfig
from treadctl.control.summary import SessionSummary
from treadctl.drives.base import Drive
from treadctl.incline.base import InclineActuator
from treadctl.inputs.base import HeartRateSource, SafetyInputSource
from treadctl.protocol.plan import Plan, PlannedSegment
from treadctl.protocol.sequencer import SequencerState
from treadctl.safety.incline import InclineOutputs
from treadctl.safety.interlock import InterlockConfig
from treadctl.safety.types import (
    CommandKind,
    DriveStatus,
    InterlockState,
    SafetyIO,
    SafetyOutputs,
)
from treadctl.sim.operator import ScriptedOperator


class EventSink(Protocol):
    """Where the loop writes its events (treadctl.store.eventlog.EventLog)."""

    def write(self, t_s: float, wall_s: float, kind: str, **fields: Any) -> Any: ...

    def add_sink(self, sink: Callable[[dict[str, Any]], None]) -> None: ...


NO_WATCHDOG_WARNING = (
    "the machine file declares a drive with no comm-loss watchdog: "
    "if this controller dies the belt keeps running until the e-stop is pressed"
)


NO_INCLINE_ACTUATOR_WARNING = (
    "the machine file declares an incline actuator but this session drives none: "
    "set the incline by hand"
)


def segment_fields(seg: PlannedSegment, incline_driven: bool = False) -> dict[str, Any]:
    """A segment as the event log records it (incline and cue only when it has them;
    `incline_driven`: the machine's actuator drives the incline, nobody sets it by hand)."""
    fields: dict[str, Any] = {
        "index": seg.index,
        "label": seg.label,
        "segment_kind": seg.kind.value,
        "target_kmh": seg.target_kmh,
        "duration_s": seg.duration_s,
    }
    if seg.incline_pct:
        fields["incline_pct"] = seg.incline_pct
        if incline_driven:
            fields["incline_driven"] = True
    if seg.cadence_spm:
        fields["cadence_spm"] = seg.cadence_spm
    return fields


class ConnectError(Exception):
    """The drive could not be connected or its watchdog could not be armed: nothing moved."""


class CycleRecorder(Protocol):
    """Keeps a record of the session (treadctl.store.recorder.SessionRecorder).

    Every method is called from the loop and must return at once: hand the data to
    another thread, never wait for I/O, never raise.
    """

    def start(self, t0: float, wall_s: float) -> None: ...

    def cycle(
        self,
        now: float,
        out: SafetyOutputs,
        setpoint_kmh: float,
        drive: DriveStatus | None,
        io: SafetyIO | None,
        heart_rate_bpm: float | None,
        segment_index: int,
    ) -> None: ...

    def warnings(self) -> tuple[str, ...]: ...

    def end(self, summary: SessionSummary) -> None: ...


@dataclass
class LoopParts:
    machine: MachineConfig
    plan: Plan
    interlock_config: InterlockConfig
    drive: Drive
    inputs: SafetyInputSource
    clock: Clock
    events: EventSink
    heart_rate: HeartRateSource | None = None
    operator: ScriptedOperator | None = None
    patient_name: str = "-"
    end_on_fault: bool = False  # end the session at standstill after a latched fault
    max_session_s: float | None = None
    on_cycle: Callable[[float], None] | None = None  # called after each cycle (fault injection)
    recorder: CycleRecorder | None = None  # the session record (database), fed every cycle
    # A remote operator console (the dashboard) supervises: its heartbeats are a safety input.
    supervised: bool = False
    # The powered incline (machine file [incline] actuator); None: set by hand, if at all.
    incline: InclineActuator | None = None


@dataclass(slots=True)  # not frozen: a frozen dataclass costs 1.4 us more, every cycle
class LoopSnapshot:
    """The latest cycle, for clients that watch (dashboard, status, MQTT bridge).

    A new one each cycle, replaced as one reference and never changed after: a reader
    in another thread sees one whole cycle, never half of two.
    """

    now: float = 0.0
    outputs: SafetyOutputs | None = None
    setpoint_kmh: float = 0.0
    drive: DriveStatus | None = None
    segment_index: int = 0
    segment_elapsed_s: float = 0.0
    io: SafetyIO | None = None
    io_age_s: float = 0.0
    drive_age_s: float = 0.0
    heart_rate_bpm: float | None = None
    heart_rate_age_s: float | None = None
    operator_age_s: float | None = None
    sequencer: SequencerState = field(default_factory=SequencerState)
    interlock: InterlockState = field(default_factory=InterlockState)
    # The powered incline this cycle (target, goal, actual %, mode, faults); None: no actuator
    incline: InclineOutputs | None = None


def log_cycle_events(
    log: Callable[..., None],
    now: float,
    out: SafetyOutputs,
    change: Any,
    *,
    warn_no_watchdog: bool,
    segments: int,
    incline_driven: bool,
) -> None:
    """The interlock's decisions and transitions and the sequencer's segment change, as
    the event log records them."""
    for d in out.decisions:
        c = d.command
        if c.kind is CommandKind.START and d.accepted and warn_no_watchdog:
            log(now, "warning", text=NO_WATCHDOG_WARNING)
        fields: dict[str, Any] = {
            "command": c.kind.value,
            "source": c.source,
            "accepted": d.accepted,
            "detail": d.detail,
        }
        if c.speed_kmh is not None:
            fields["speed_kmh"] = c.speed_kmh
        if c.direction is not None:
            fields["direction"] = c.direction.value
        log(now, "command", **fields)
    for tr in out.transitions:
        log(
            now,
            "transition",
            old=tr.old.value,
            new=tr.new.value,
            reasons=[r.value for r in tr.reasons],
            detail=tr.detail,
        )
    if change is not None:
        seg = change.segment
        if seg is None:
            log(now, "segment", index=None, label="end of profile")
        else:
            log(now, "segment", of=segments, **segment_fields(seg, incline_driven))
