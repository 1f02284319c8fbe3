"""Static controller messages for the dashboard's screenshots: no controller, no clock."""

from __future__ import annotations

from typing import Any

from treadctl.api.client import ServerMsg
from treadctl.api.messages import (
    Action,
    Ended,
    Event,
    Indicator,
    Level,
    RemoteRequest,
    SegmentInfo,
    SessionInfo,
    Status,
    Welcome,
)

SEGMENTS = [
    SegmentInfo(
        index=0,
        label="demo/forward",
        kind="forward",
        target_kmh=2.0,
        duration_s=15.0,
        rail_policy="advisory",
    ),
    SegmentInfo(
        index=1,
        label="demo/backward",
        kind="backward",
        target_kmh=1.0,
        duration_s=30.0,
        rail_policy="until_confident",
        cadence_spm=90.0,
    ),
    SegmentInfo(
        index=2,
        label="demo/forward",
        kind="forward",
        target_kmh=2.0,
        duration_s=15.0,
        rail_policy="advisory",
    ),
]

CHECKS = [
    "patient faces away from the display (walks backward)",
    "both hands on the rails",
    "safety key clipped to the patient",
]


def welcome(simulated: bool = True, progression: str = "") -> Welcome:
    return Welcome(
        session=SessionInfo(
            profile="Demo: short backward bout",
            patient="DEMO-001",
            machine="Simulated treadmill",
            simulated=simulated,
            loop_hz=50.0,
            speed_step_kmh=0.1,
            max_forward_kmh=5.0,
            max_backward_kmh=2.5,
            supervision="required",
            presence_timeout_s=2.0,
            heartbeat_s=0.5,
            segments=SEGMENTS,
            pre_start_checks=CHECKS,
            progression=progression,
        )
    )


OK_ROWS = [
    ("estop", "E-stop chain", "closed"),
    ("key", "Safety key", "in place"),
    ("rail_left", "Left rail", "held"),
    ("rail_right", "Right rail", "held"),
    ("drive_comm", "Drive comm", "answering"),
    ("drive_fault", "Drive fault", "none"),
    ("heart_rate", "Heart rate", "not fitted, not required"),
    ("operator", "Operator", "console answering"),
]


def indicators(**changed: tuple[Level, str]) -> list[Indicator]:
    rows = []
    for name, label, ok_text in OK_ROWS:
        level, text = changed.get(name, (Level.OK, ok_text))
        rows.append(Indicator(name=name, label=label, level=level, text=text))
    return rows


def status(t_s: float, **fields: Any) -> Status:
    """A running forward status at t_s, with `fields` changed."""
    base: dict[str, Any] = {
        "t_s": t_s,
        "mode": "running",
        "direction": "forward",
        "reasons": [],
        "latched": False,
        "detail": "",
        "target_kmh": 2.0,
        "setpoint_kmh": 2.0,
        "actual_kmh": 1.98,
        "cap_kmh": 5.0,
        "at_standstill": False,
        "incline_pct": 0.0,
        "heart_rate_bpm": None,
        "cue_spm": None,
        "segment": SEGMENTS[0],
        "next_segment": SEGMENTS[1],
        "segment_elapsed_s": 6.0,
        "segment_remaining_s": 9.0,
        "session_elapsed_s": 6.0,
        "session_remaining_s": 54.0,
        "indicators": indicators(),
        "warnings": [],
        "operator_present": True,
    }
    base.update(fields)
    return Status.model_validate(base)


def ramp(t_end: float, target: float, step_s: float = 0.5) -> list[Status]:
    """Statuses from t=0 to t_end: the belt accelerating to `target` and following it."""
    out = []
    n = int(t_end / step_s)
    for i in range(n + 1):
        t = i * step_s
        actual = min(target, 0.5 * t) + (0.02 if i % 4 == 0 else 0.0)
        out.append(status(t, target_kmh=target, setpoint_kmh=actual, actual_kmh=actual))
    return out


EVENTS = [
    Event(t_s=0.0, kind="session", text="00:00.0  session   Demo: short backward bout"),
    Event(t_s=1.3, kind="command", text="00:01.3  command   reset from dash: accepted"),
    Event(t_s=1.4, kind="command", text="00:01.4  command   start from dash: accepted"),
    Event(t_s=1.4, kind="interlock", text="00:01.4  interlock stopped -> running: - (dash)"),
]


PROGRESSION = "1.1 km/h, bouts 30 s: last 3 sessions completed without a stop (+0.1 km/h)"


def normal() -> list[ServerMsg]:
    return [welcome(progression=PROGRESSION), *EVENTS, *ramp(8.0, 2.0)]


def backward() -> list[ServerMsg]:
    msgs: list[ServerMsg] = [welcome(), *EVENTS]
    for s in ramp(20.0, 1.0):
        msgs.append(
            s.model_copy(
                update={
                    "direction": "backward",
                    "segment": SEGMENTS[1],
                    "next_segment": SEGMENTS[2],
                    "segment_elapsed_s": 12.0,
                    "segment_remaining_s": 18.0,
                    "session_elapsed_s": 27.0,
                    "session_remaining_s": 33.0,
                    "cue_spm": 90.0,
                    "cap_kmh": 1.5,
                }
            )
        )
    remote = RemoteRequest(
        ref=3, origin="mqtt:clinic-desk", action=Action.SPEED, speed_kmh=1.2, expires_in_s=25.0
    )
    last = msgs[-1]
    assert isinstance(last, Status)
    msgs.append(last.model_copy(update={"t_s": last.t_s + 0.1, "remote_requests": [remote]}))
    return msgs


def faulted() -> list[ServerMsg]:
    msgs = normal()
    fault = status(
        8.5,
        mode="faulted",
        reasons=["emergency-stop chain open"],
        latched=True,
        detail="",
        target_kmh=0.0,
        setpoint_kmh=0.0,
        actual_kmh=0.4,
        cap_kmh=0.0,
        indicators=indicators(estop=(Level.FAULT, "OPEN: release the e-stop")),
    )
    msgs += [
        Event(t_s=8.5, kind="interlock", text="00:08.5  interlock running -> faulted: e-stop"),
        fault,
        fault.model_copy(update={"t_s": 9.5, "actual_kmh": 0.0, "at_standstill": True}),
    ]
    return msgs


def ended() -> list[ServerMsg]:
    return [
        *normal(),
        Ended(
            outcome="stopped by dash",
            summary=[
                "Session summary: Demo: short backward bout (patient DEMO-001)",
                "  outcome: stopped by dash",
                "  session time: 00:09",
                "  stops: none",
                "  control loop:",
                "    50 Hz, 450 cycles",
            ],
        ),
    ]


# The backward segment's checklist on a turn-round machine (protocol/checklist.py's words).
TURN_CHECKS = [
    "walker faces AWAY from the console, walks backward (belt runs forward)",
    "walker turned round at standstill, and the turn confirmed",
    "safety key clipped to the walker: their ONLY stop "
    "(the console's stop button is behind them, out of reach)",
    "sides swapped: the console is behind the walker, the left handrail at their right hand",
    "hands on the handrails until confident (released: capped at 1 km/h)",
]


def turnaround(turn_pending: bool = True) -> list[ServerMsg]:
    """A turn-round machine at the turnaround to the backward segment: the belt stands,
    the profile has set BACKWARD, the walker's turn is (or is not yet) confirmed."""
    back = SEGMENTS[1].model_copy(update={"checklist": TURN_CHECKS})
    msgs = [welcome(), *EVENTS, *ramp(8.0, 2.0)]
    msgs.append(
        Event(t_s=15.0, kind="segment", text="00:15.0  segment   2/3 demo/backward: backward")
    )
    msgs.append(
        status(
            17.0,
            mode="stopped",
            direction="backward",
            reasons=["profile asks the belt to stop"],
            target_kmh=0.0,
            setpoint_kmh=0.0,
            actual_kmh=0.0,
            at_standstill=True,
            segment=back,
            next_segment=SEGMENTS[2],
            segment_elapsed_s=0.0,
            segment_remaining_s=30.0,
            session_elapsed_s=15.0,
            session_remaining_s=45.0,
            backward_walking="walker_turns",
            belt_direction="forward",
            turn_pending=turn_pending,
        )
    )
    return msgs
