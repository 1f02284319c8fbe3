"""Inputs, outputs, state and reasons of the interlock. Plain immutable data."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from enum import StrEnum
from typing import Any, TypeVar

from treadctl.config.profile import RailPolicy

T = TypeVar("T")


def slot_init(cls: type[T]) -> type[T]:
    """Give a frozen, slotted dataclass an `__init__` that stores each field through its
    slot, as a plain slotted class does.

    The generated `__init__` of a frozen dataclass stores each field with
    `object.__setattr__(self, name, value)` (past its own frozen `__setattr__`), two to
    three times the cost of the slot's own setter; the control loop builds several of
    these each cycle, in virtual time tens of thousands a second. Nothing else changes:
    the same parameters and defaults, still frozen (assignment raises
    FrozenInstanceError), and the dataclass's eq, hash, repr, pickling and
    `dataclasses.replace` as generated (tests/control/test_slot_init.py).
    """
    klass: Any = cls  # a dataclass; typed as such only by the decorator's use
    namespace: dict[str, Any] = {}
    params, body = [], []
    for f in fields(klass):
        if f.default_factory is not MISSING or not f.init or f.kw_only:
            raise TypeError(f"{cls.__name__}.{f.name}: only plain fields are supported")
        if f.default is MISSING:
            params.append(f.name)
        else:
            params.append(f"{f.name}=_default_{f.name}")
            namespace[f"_default_{f.name}"] = f.default
        slot = vars(klass).get(f.name)
        if slot is None or not klass.__dataclass_params__.frozen:
            raise TypeError(f"{cls.__name__}: a frozen dataclass with slots=True only")
        namespace[f"_set_{f.name}"] = slot.__set__  # the slot's own setter
        body.append(f"    _set_{f.name}(self, {f.name})")
    source = f"def __init__(self, {', '.join(params)}) -> None:\n" + "\n".join(body)
    exec(source, namespace)  # as dataclasses makes its own __init__
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    klass.__init__ = init
    return cls


class Direction(StrEnum):
    FORWARD = "forward"
    BACKWARD = "backward"


class Mode(StrEnum):
    FAULTED = "faulted"  # latched; only a reset at standstill with all inputs healthy clears it
    STOPPED = "stopped"  # healthy and at rest; a start command may run the belt
    RUNNING = "running"
    STOPPING = "stopping"  # controlled stop under way; ends in STOPPED


class Decel(StrEnum):
    NORMAL = "normal"
    QUICK = "quick"


class Reason(StrEnum):
    """Why the interlock is faulted or stopping. The value is the operator's wording."""

    POWER_ON = "controller started: reset required"
    ESTOP_CHAIN_OPEN = "emergency-stop chain open"
    SAFETY_KEY_PULLED = "safety key pulled"
    SAFETY_INPUTS_UNREADABLE = "safety inputs could not be read"
    SAFETY_INPUTS_STALE = "safety inputs watchdog expired"
    DRIVE_COMM_LOST = "drive stopped answering (watchdog expired)"
    DRIVE_FAULT = "drive reports a fault"
    DRIVE_NOT_READY = "drive not ready while running"
    RUNAWAY = "belt speed does not follow the command (runaway)"
    OVERSPEED = "belt faster than the direction's maximum (overspeed)"
    DIRECTION_MISMATCH = "belt moving in the wrong direction"
    # controlled stops (not latched)
    OPERATOR_STOP = "stop command"
    OPERATOR_PAUSE = "pause command"
    SEQUENCE_STOP = "profile asks the belt to stop"
    HEART_RATE_HIGH = "heart rate above the profile's limit"
    HEART_RATE_LOST = "heart-rate signal lost for too long: session ended"
    RAILS_RELEASED = "both handrails released too long (hold-to-run)"
    OPERATOR_ABSENT = "operator console stopped answering (presence timeout)"
    NO_SESSION = "no active segment"


LATCHING = frozenset(
    {
        Reason.POWER_ON,
        Reason.ESTOP_CHAIN_OPEN,
        Reason.SAFETY_KEY_PULLED,
        Reason.SAFETY_INPUTS_UNREADABLE,
        Reason.SAFETY_INPUTS_STALE,
        Reason.DRIVE_COMM_LOST,
        Reason.DRIVE_FAULT,
        Reason.DRIVE_NOT_READY,
        Reason.RUNAWAY,
        Reason.OVERSPEED,
        Reason.DIRECTION_MISMATCH,
    }
)
QUICK_STOP = frozenset(
    {
        Reason.ESTOP_CHAIN_OPEN,
        Reason.SAFETY_KEY_PULLED,
        Reason.SAFETY_INPUTS_UNREADABLE,
        Reason.SAFETY_INPUTS_STALE,
        Reason.DIRECTION_MISMATCH,
    }
)


class CommandKind(StrEnum):
    START = "start"
    STOP = "stop"
    PAUSE = "pause"
    RESET = "reset"
    SET_SPEED = "set_speed"
    SET_DIRECTION = "set_direction"
    # Turn-round machine: the operator confirms the walker now faces the way `direction`
    # walks (away from the console for backward). Nothing starts before it.
    CONFIRM_TURN = "confirm_turn"


@slot_init
@dataclass(frozen=True, slots=True)
class Command:
    kind: CommandKind
    source: str = "operator"
    speed_kmh: float | None = None
    direction: Direction | None = None


@slot_init
@dataclass(frozen=True, slots=True)
class SafetyIO:
    """One good read of the safety input module."""

    estop_chain_ok: bool
    key_present: bool
    rail_left: bool
    rail_right: bool


@slot_init
@dataclass(frozen=True, slots=True)
class DriveStatus:
    """One good read of the drive. Speed is a magnitude; direction is separate."""

    ready: bool
    fault_code: int
    actual_speed_kmh: float
    direction: Direction
    warning_code: int = 0  # a drive warning: shown and logged, it trips nothing


@slot_init
@dataclass(frozen=True, slots=True)
class SegmentPolicy:
    """What the current profile segment asks of the interlock."""

    index: int
    moving: bool  # False for rest segments and after the session's end
    direction: Direction
    target_kmh: float
    rail_policy: RailPolicy
    hr_required: bool
    hr_max_bpm: float | None


@slot_init
@dataclass(frozen=True, slots=True)
class SafetyInputs:
    io: SafetyIO | None  # None: the read failed this cycle
    io_age_s: float  # age of the last good safety-input read
    drive: DriveStatus | None  # None: the read failed this cycle
    drive_age_s: float  # age of the last good drive read
    commanded_kmh: float  # setpoint written last cycle (for runaway detection)
    segment: SegmentPolicy | None
    heart_rate_bpm: float | None = None
    heart_rate_age_s: float | None = None
    commands: tuple[Command, ...] = ()
    # Age of the supervising operator console's last sign of life; None: no remote console
    # supervises this run (the console is in-process, or the profile needs no supervision).
    operator_age_s: float | None = None


@slot_init
@dataclass(frozen=True, slots=True)
class Decision:
    """What the interlock did with one command, for the event log and the operator."""

    command: Command
    accepted: bool
    detail: str


@slot_init
@dataclass(frozen=True, slots=True)
class Transition:
    at_s: float
    old: Mode
    new: Mode
    reasons: tuple[Reason, ...]
    detail: str = ""


@slot_init
@dataclass(frozen=True, slots=True)
class InterlockState:
    mode: Mode = Mode.FAULTED
    reasons: tuple[Reason, ...] = (Reason.POWER_ON,)  # first trip first; later ones appended
    detail: str = ""  # free text for the first trip (fault code text, measured values)
    direction: Direction = Direction.FORWARD
    standstill_since: float | None = None
    runaway_since: float | None = None
    rails_released_since: float | None = None
    hr_lost_since: float | None = None
    run_started_at: float | None = None  # when the belt last started (reverse start hold)
    operator_speed_kmh: float | None = None
    operator_speed_segment: int = -1
    session_ended: bool = False
    # The walking direction the walker was last confirmed to face. A machine whose belt
    # reverses never turns the walker: there it follows `direction`.
    facing: Direction = Direction.FORWARD


@slot_init
@dataclass(frozen=True, slots=True)
class SafetyOutputs:
    drive_enable: bool
    direction: Direction
    speed_cap_kmh: float  # static and dynamic caps combined
    static_cap_kmh: float  # machine, patient and direction caps only
    target_kmh: float  # what the setpoint generator should approach
    decel: Decel
    mode: Mode
    reasons: tuple[Reason, ...]
    at_standstill: bool
    warnings: tuple[str, ...] = ()
    decisions: tuple[Decision, ...] = ()
    transitions: tuple[Transition, ...] = field(default=())
    # The belt's own direction: `direction` where the belt reverses; always forward where
    # the walker turns round (the walker's walking direction is `direction`).
    belt_direction: Direction = Direction.FORWARD
    turn_pending: bool = False  # the walker must turn round and the operator confirm it
