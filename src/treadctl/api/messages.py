"""The local socket's messages: one JSON object per line, validated on both ends.

Clients (the dashboard, `treadctl stop`, `treadctl status`, the MQTT bridge's remote
requests) send `ClientMessage`s; the controller sends `ServerMessage`s. A line that does
not parse, or does not validate, is answered with an `Error` naming the field and the
reason and is otherwise ignored: nothing a client sends can crash the controller.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

PROTOCOL_VERSION = 1
MAX_LINE_BYTES = 64 * 1024  # the longest line a client reads from the controller
# The longest line the controller reads from a client: the longest real one is ~200 bytes.
MAX_CLIENT_LINE_BYTES = 4096
MAX_CLIENT_DEPTH = 4  # client messages are flat objects
NO_CONTROL_CHARS = r"^[^\x00-\x1f\x7f]+$"  # names reach logs and screens


class Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------
# client -> controller


class Role(StrEnum):
    OPERATOR = "operator"  # the dashboard: its heartbeats are the operator's presence
    OBSERVER = "observer"  # status, stop, monitors: watch and send stop


class Hello(Msg):
    type: Literal["hello"] = "hello"
    protocol: int = Field(default=PROTOCOL_VERSION, strict=True)
    role: Role = Role.OBSERVER
    client: str = Field(default="client", min_length=1, max_length=64, pattern=NO_CONTROL_CHARS)


class Heartbeat(Msg):
    """An operator console's sign of life; sent every `heartbeat_s` from the Welcome."""

    type: Literal["heartbeat"] = "heartbeat"


class Action(StrEnum):
    START = "start"
    STOP = "stop"
    PAUSE = "pause"
    RESET = "reset"
    SPEED = "speed"  # speed_kmh: the target for the current segment
    SPEED_STEP = "speed_step"  # steps: +1 or -1 machine speed steps from the current target
    DIRECTION = "direction"  # direction: forward or backward
    QUIT = "quit"  # end the session; refused while the belt moves
    # turn-round machine: the walker has turned to face the way `direction` walks
    CONFIRM_TURN = "confirm_turn"
    CONFIRM_REMOTE = "confirm_remote"  # the local operator confirms a remote request (ref)
    REJECT_REMOTE = "reject_remote"  # ... or rejects it
    # the powered incline back to 0 % with the belt stopped (machine file: return_to_zero)
    INCLINE_HOME = "incline_home"


# The arguments each action takes: any other is refused, never ignored (a missing one is
# answered by the controller, naming it).
ACTION_ARGUMENTS: dict[Action, frozenset[str]] = {
    Action.SPEED: frozenset({"speed_kmh"}),
    Action.SPEED_STEP: frozenset({"steps"}),
    Action.DIRECTION: frozenset({"direction"}),
    Action.CONFIRM_TURN: frozenset({"direction"}),
    Action.CONFIRM_REMOTE: frozenset({"ref"}),
    Action.REJECT_REMOTE: frozenset({"ref"}),
}


class CommandRequest(Msg):
    """A command: strict (a number is a JSON number, never a string or a boolean; an
    argument the action does not take is refused), so a typo never does something else."""

    type: Literal["command"] = "command"
    id: int = Field(ge=0, lt=2**63, strict=True)  # echoed in the Reply
    action: Action
    speed_kmh: float | None = Field(default=None, allow_inf_nan=False, strict=True)
    steps: int | None = Field(default=None, ge=-10, le=10, strict=True)
    direction: Literal["forward", "backward"] | None = None
    ref: int | None = Field(
        default=None, ge=0, lt=2**63, strict=True
    )  # the remote request confirmed or rejected

    @model_validator(mode="after")
    def _arguments(self) -> CommandRequest:
        takes = ACTION_ARGUMENTS.get(self.action, frozenset())
        given = {
            f for f in ("speed_kmh", "steps", "direction", "ref") if getattr(self, f) is not None
        }
        extra = sorted(given - takes)
        if extra:
            raise ValueError(f"{self.action.value} takes no {', '.join(extra)}")
        return self


SWITCHES = ("estop", "key", "rail_left", "rail_right")
MAX_FAULT_CODE = 0xFFFF  # a drive's fault register is one 16-bit word
MAX_SIM_BPM = 300.0  # above any human rate, so the interlock's plausibility check can be tried


class SimControl(Msg):
    """Set an input of the built-in simulator (only when the drive is simulated).

    Values outside an input's domain are refused here, before they reach the world:
    switches are 0 or 1, a fault code a 16-bit word, a heart rate 0 (no reading) to 300.
    """

    type: Literal["sim"] = "sim"
    id: int = Field(ge=0, lt=2**63, strict=True)
    input: Literal["estop", "key", "rail_left", "rail_right", "drive_fault", "heart_rate"]
    value: float = Field(
        allow_inf_nan=False, strict=True
    )  # 1/0 switches (estop 1 = pressed), code, bpm

    @model_validator(mode="after")
    def _in_domain(self) -> SimControl:
        v = self.value
        if self.input in SWITCHES and v not in (0.0, 1.0):
            raise ValueError(f"{self.input} is a switch: value 0 or 1, not {v:g}")
        if self.input == "drive_fault" and not (v == int(v) and 0 <= v <= MAX_FAULT_CODE):
            raise ValueError(f"drive_fault: a fault code 0 to {MAX_FAULT_CODE}, not {v:g}")
        if self.input == "heart_rate" and not 0 <= v <= MAX_SIM_BPM:
            raise ValueError(f"heart_rate: 0 (no reading) to {MAX_SIM_BPM:g} bpm, not {v:g}")
        return self


ClientMessage = Annotated[
    Hello | Heartbeat | CommandRequest | SimControl, Field(discriminator="type")
]
client_message: TypeAdapter[Hello | Heartbeat | CommandRequest | SimControl] = TypeAdapter(
    ClientMessage
)


# ---------------------------------------------------------------------------
# controller -> client


class Level(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAULT = "fault"


class Indicator(Msg):
    """One line of the interlock panel: what it is, how it is, why, in words."""

    name: str  # estop, key, rail_left, rail_right, drive_comm, drive_fault, heart_rate, operator
    label: str
    level: Level
    text: str


MAX_INCLINE_FAULTS = 8  # distinct latched incline faults: InclineFault has six
MAX_INCLINE_TEXT = 500  # a fault's words or the detail, as the screen shows them


class InclineStatus(Msg):
    """The powered incline this cycle; absent from Status when no actuator drives it."""

    target_pct: float = Field(allow_inf_nan=False)  # what the segment asks
    goal_pct: float | None = Field(default=None, allow_inf_nan=False)  # clamped; None: halted
    actual_pct: float | None = Field(default=None, allow_inf_nan=False)  # None: no reading
    mode: Literal["halted", "holding", "moving up", "moving down", "faulted"]
    faults: list[Annotated[str, Field(max_length=MAX_INCLINE_TEXT)]] = Field(
        default=[], max_length=MAX_INCLINE_FAULTS
    )  # latched faults in the operator's words; a reset (r) clears them
    detail: str = Field(default="", max_length=MAX_INCLINE_TEXT)
    home_allowed: bool = False  # the machine file allows a return to 0 % (incline_home)


class SegmentInfo(Msg):
    index: int
    label: str
    kind: Literal["forward", "backward", "rest"]
    target_kmh: float
    duration_s: float
    rail_policy: str
    incline_pct: float = 0.0
    cadence_spm: float | None = None
    # what the operator confirms before this segment's start (protocol/checklist.py)
    checklist: list[str] = []


BackwardWalking = Literal["belt_reverses", "walker_turns"]


class RemoteRequest(Msg):
    """A remote command waiting for the local operator's confirmation."""

    ref: int
    origin: str  # e.g. "mqtt:clinic-desk"
    action: Action
    speed_kmh: float | None = None
    direction: Literal["forward", "backward"] | None = None
    expires_in_s: float


class Status(Msg):
    """The controller's state, sent to every client at the status rate."""

    type: Literal["status"] = "status"
    t_s: float  # session time
    mode: Literal["faulted", "stopped", "running", "stopping"]
    direction: Literal["forward", "backward"]
    reasons: list[str]  # the interlock's reasons, first trip first, in words
    latched: bool  # a latched fault: the banner shows reasons and reset steps
    detail: str
    target_kmh: float  # what the setpoint approaches
    setpoint_kmh: float  # what the drive was told this cycle
    actual_kmh: float | None  # belt speed read back; None: no fresh reading
    cap_kmh: float
    at_standstill: bool
    incline_pct: float
    heart_rate_bpm: float | None
    cue_spm: float | None  # the metronome cue of the running segment
    segment: SegmentInfo | None
    next_segment: SegmentInfo | None
    segment_elapsed_s: float
    segment_remaining_s: float
    session_elapsed_s: float  # profile time elapsed (counts only while segments run)
    session_remaining_s: float
    indicators: list[Indicator]
    warnings: list[str]
    operator_present: bool | None  # None: no presence supervision in this run
    remote_requests: list[RemoteRequest] = []
    ended: bool = False
    # How this machine walks backward: the belt reverses, or the walker turns round (the
    # belt always runs forward; `direction` is the walker's walking direction).
    backward_walking: BackwardWalking = "belt_reverses"
    belt_direction: Literal["forward", "backward"] | None = None  # None: as `direction`
    turn_pending: bool = False  # the walker must turn round and the operator confirm it
    # The running segment's speed after the operator's +/- (display only); None: as planned.
    operator_kmh: float | None = None
    # Seconds until the session's time limit (the controller ends the session once the
    # belt stands after it); negative once passed; None: no limit known (older servers).
    limit_remaining_s: float | None = Field(default=None, allow_inf_nan=False)
    # The powered incline; None: no actuator (set by hand, if at all) or an older server.
    incline: InclineStatus | None = None
    # Whether the metronome's clicks are audible: True a sound output is playing them,
    # False none (the visible beat only), None: not known (no metronome, older servers).
    metronome_sound: bool | None = None


class SessionInfo(Msg):
    profile: str
    patient: str
    machine: str
    simulated: bool
    loop_hz: float
    speed_step_kmh: float
    max_forward_kmh: float
    max_backward_kmh: float
    supervision: Literal["required", "none"]
    presence_timeout_s: float
    heartbeat_s: float  # how often an operator console sends a Heartbeat
    segments: list[SegmentInfo]
    pre_start_checks: list[str]  # the first segment's checklist
    progression: str  # the prescription and its reason, or "" when the profile has none
    backward_walking: BackwardWalking = "belt_reverses"


class Welcome(Msg):
    type: Literal["welcome"] = "welcome"
    protocol: int = Field(default=PROTOCOL_VERSION, strict=True)
    role: Role = Role.OBSERVER  # the role granted: a second operator console is an observer
    session: SessionInfo


class Reply(Msg):
    """The outcome of one CommandRequest or SimControl: the interlock's own decision."""

    type: Literal["reply"] = "reply"
    id: int
    accepted: bool
    text: str


class Event(Msg):
    """One event log record as the operator reads it."""

    type: Literal["event"] = "event"
    t_s: float
    kind: str
    text: str


class Ended(Msg):
    type: Literal["ended"] = "ended"
    outcome: str
    summary: list[str]


class Error(Msg):
    """A client message that was refused before anything acted on it: its id when the
    refused message had one that could be read, else null, and the reason."""

    type: Literal["error"] = "error"
    text: str
    id: int | None = None


ServerMessage = Annotated[
    Welcome | Status | Reply | Event | Ended | Error, Field(discriminator="type")
]
server_message: TypeAdapter[Welcome | Status | Reply | Event | Ended | Error] = TypeAdapter(
    ServerMessage
)


def encode(msg: Msg) -> bytes:
    return msg.model_dump_json().encode() + b"\n"
