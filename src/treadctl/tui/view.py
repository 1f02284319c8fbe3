"""The dashboard's wording and colours, as pure functions of the controller's messages.

No Textual here: everything the operator reads is decided in this module, so it can be
tested without a screen. Speeds are km/h inside; `mph` only changes what is shown.
"""

from __future__ import annotations

from rich.text import Text

from treadctl.api.messages import InclineStatus, Level, RemoteRequest, SegmentInfo, Status
from treadctl.safety.types import Reason
from treadctl.units import kmh_to_mph

# Colours. Green/amber/red mean ok/warn/fault and nothing else; the belt's direction has
# colours of its own so that BACKWARD can never be mistaken for a health state.
OK = "bold #ffffff on #008700"
WARN = "bold #000000 on #ffaf00"
FAULT = "bold #ffffff on #d70000"
BACKWARD = "bold #ffffff on #af00af"
FORWARD = "bold #ffffff on #005faf"
STOPPED = "bold #ffffff on #5f5f5f"
PAUSED = "bold #000000 on #d7d787"
ENDED = "bold #ffffff on #005f87"
LEVEL_STYLE = {Level.OK: OK, Level.WARN: WARN, Level.FAULT: FAULT}
LEVEL_DOT = {Level.OK: "#00d700", Level.WARN: "#ffaf00", Level.FAULT: "#ff0000"}
LEVEL_MARK = {Level.OK: "●", Level.WARN: "▲", Level.FAULT: "■"}  # not colour alone
SERIES_TARGET = "#00d7ff"
SERIES_ACTUAL = "#ffff00"

RESET_STEPS = "To reset: 1. fix the cause   2. belt at standstill   3. press r"


def speed_value(kmh: float | None, mph: bool) -> float | None:
    if kmh is None:
        return None
    return kmh_to_mph(kmh) if mph else kmh


def speed_digits(kmh: float | None, mph: bool) -> str:
    """The number a Digits widget shows: one decimal; dashes when there is no reading."""
    value = speed_value(kmh, mph)
    return "-.--" if value is None else f"{value:.2f}"


def unit(mph: bool) -> str:
    return "mph" if mph else "km/h"


def speed_text(kmh: float | None, mph: bool) -> str:
    value = speed_value(kmh, mph)
    return "--" if value is None else f"{value:.2f} {unit(mph)}"


def clock(seconds: float) -> str:
    """mm:ss (h:mm:ss past an hour); never negative."""
    s = max(0, round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def bar(fraction: float, width: int) -> str:
    """A progress bar of eighth blocks, `width` cells."""
    width = max(1, width)
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    partial = " ▏▎▍▌▋▊▉"[part] if part else ""
    return ("█" * full + partial).ljust(width, "░")[:width]


def is_paused(status: Status) -> bool:
    return status.mode == "stopped" and Reason.OPERATOR_PAUSE.value in status.reasons


def mode_badge(status: Status | None, link: str, ended: bool = False) -> Text:
    """The one word the operator looks for first, on its colour."""
    if link in ("lost", "exited"):
        return Text(" NO CONTROLLER ", FAULT)
    if status is None:
        return Text(" CONNECTING ", WARN)
    if status.ended or ended:
        return Text(" SESSION ENDED ", STOPPED)
    if status.mode == "faulted":
        if status.reasons == [Reason.POWER_ON.value]:
            return Text(" RESET REQUIRED ", WARN)
        return Text(" FAULT ", FAULT)
    if status.mode == "running":
        return Text(" RUNNING ", OK)
    if status.mode == "stopping":
        return Text(" STOPPING ", WARN)
    if is_paused(status):
        return Text(" PAUSED ", PAUSED)
    return Text(" STOPPED ", STOPPED)


def mode_tail(status: Status | None) -> str:
    """Whether a belt that is not running stands still (verified by the controller)."""
    if status is None or status.mode == "running":
        return ""
    return " at standstill" if status.at_standstill else " not at standstill"


def stop_reasons(status: Status | None) -> str:
    """What stopped (or is stopping) the belt, when it is not a latched fault."""
    if status is None or status.latched or status.mode == "running" or not status.reasons:
        return ""
    return ("stopping: " if status.mode == "stopping" else "stopped: ") + "; ".join(status.reasons)


def direction_badge(direction: str, note: str = "") -> tuple[str, str]:
    """(word, style): the walking direction in big letters on its own colour, with a
    note (e.g. on a turn-round machine: the walker turned round, or still to turn)."""
    word = "BACKWARD" if direction == "backward" else "FORWARD"
    word = f"{word} · {note}" if note else word
    return word, BACKWARD if direction == "backward" else FORWARD


def badge_note(status: Status) -> str:
    """On a turn-round machine: whether the walker faces the way they walk yet."""
    if not walker_turns(status):
        return ""
    if status.turn_pending:
        return "walker to turn round"
    return "walker turned round" if status.direction == "backward" else ""


def walker_turns(status: Status) -> bool:
    return status.backward_walking == "walker_turns"


def facing_words(direction: str) -> str:
    """Where a walker on a turn-round machine faces to walk `direction`."""
    return "AWAY from the console" if direction == "backward" else "the console"


def segment_words(seg: SegmentInfo, total: int, mph: bool) -> str:
    """ "segment 2/3 BACKWARD at 1.00 km/h": segments are numbered from 1 everywhere."""
    what = f"segment {seg.index + 1}/{total} {seg.kind.upper()}"
    return what if seg.kind == "rest" else f"{what} at {speed_text(seg.target_kmh, mph)}"


GUIDE = "bold #000000 on #5fd7ff"  # the next step: neither a health state nor a direction
GUIDE_WAIT = "bold #000000 on #d0d0d0"


def guide(status: Status | None, total: int, mph: bool, ended: bool = False) -> Text:
    """The operator's next step and the key that does it; empty when nothing is asked.

    At a turnaround: "belt stopping", then (turn-round machine) "walker turns to face away
    from the console: press t when turned", then "press s to start segment 2/3 BACKWARD".
    While a turned-round walker walks: that the key is their only stop, sides swapped.
    """
    if status is None or status.ended or ended or status.latched:
        return Text("")
    seg = status.segment
    turnaround = seg is not None and seg.kind in ("forward", "backward")
    turnaround = turnaround and seg is not None and seg.kind != status.direction
    if status.mode == "running":
        if walker_turns(status) and status.direction == "backward":
            return Text(
                " walker faces AWAY: the clip-on key is their only stop · rail sides swapped ",
                BACKWARD,
            )
        return Text("")
    if status.mode == "stopping" or not status.at_standstill:
        what = "belt stopping for the turnaround" if turnaround else "belt stopping"
        return Text(f" ▶ {what}: wait for standstill ", GUIDE_WAIT)
    if seg is None:
        return Text("")
    if turnaround:
        return Text(
            f" ▶ belt stopped: the profile sets {seg.kind.upper()} for the next segment ",
            GUIDE_WAIT,
        )
    if status.turn_pending:
        return Text(
            f" ▶ walker turns round to face {facing_words(status.direction)}: press t when turned ",
            GUIDE,
        )
    verb = "resume" if is_paused(status) else "start"
    text = Text(f" ▶ press s to {verb} {segment_words(seg, total, mph)} ", GUIDE)
    text.append(f" · {STOP_ENDS}", "bold")  # said before it happens: fits 80 columns
    return text


STOP_ENDS = "space ends session"  # a stop ends the session; p is the pause
LIMIT_WARN_S = 120.0  # while the belt runs, the time limit is shown in its last minutes


def limit_line(status: Status | None) -> Text:
    """The session's time limit (the controller ends the session once the belt stands
    after it): always while the belt is not running (an idle session would otherwise
    end unannounced), in the last LIMIT_WARN_S while it runs; empty otherwise."""
    if status is None or status.ended or status.limit_remaining_s is None:
        return Text("")
    left = status.limit_remaining_s
    moving = status.mode in ("running", "stopping")
    if moving and left > LIMIT_WARN_S:
        return Text("")
    if left <= 0:
        return Text(" ⏱ session time limit passed: the session ends at the next stop ", WARN)
    if moving:
        return Text(f" ⏱ session time limit in {clock(left)}: it ends at the next stop ", WARN)
    return Text(f" ⏱ session ends in {clock(left)} if the belt is not running then ", WARN)


def latched_banner(status: Status) -> tuple[str, list[str]]:
    """(style, lines) of the latched-fault banner: what tripped, then how to reset."""
    if status.reasons == [Reason.POWER_ON.value]:
        head = "RESET REQUIRED: the controller has started; check the belt is clear"
        return WARN, [head, "To reset: belt at standstill, then press r"]
    lines = ["LATCHED FAULT: " + "; ".join(status.reasons or ["(no reason given)"])]
    if status.detail and status.detail != "-":
        lines.append(f"detail: {status.detail}")
    faults = [f"{i.label}: {i.text}" for i in status.indicators if i.level is not Level.OK]
    if faults:
        lines.append("now: " + " · ".join(faults))
    lines.append(RESET_STEPS)
    return FAULT, lines


def segment_line(
    prefix: str, seg: SegmentInfo | None, total: int, mph: bool, operator_kmh: float | None = None
) -> Text:
    """NOW / NEXT: number, direction, speed and length. `operator_kmh`: the speed the
    operator set with +/- for this segment, shown at once in place of the plan's."""
    text = Text(f"{prefix:<5}", "bold")
    if seg is None:
        text.append("—" if prefix.strip() == "NEXT" else "no segment (profile done)")
        return text
    kind_style = {"backward": "bold #ff5fff", "forward": "bold #5fafff"}.get(seg.kind, "bold")
    text.append(f"{seg.index + 1}/{total} ")
    text.append(seg.kind.upper(), kind_style)
    if operator_kmh is not None and abs(operator_kmh - seg.target_kmh) > 1e-6:
        text.append("  ")
        text.append(speed_text(operator_kmh, mph), "bold")
        text.append(f" (plan {speed_value(seg.target_kmh, mph) or 0:.2f})", "dim")
        text.append(f" for {clock(seg.duration_s)}")
    else:
        text.append(f"  {speed_text(seg.target_kmh, mph)} for {clock(seg.duration_s)}")
    name = seg.label.rsplit("/", 1)[-1]
    if name and name != seg.kind:
        text.append(f"  {name}", "dim")
    return text


def countdown_line(label: str, elapsed: float, remaining: float, width: int) -> Text:
    total = elapsed + remaining
    fraction = elapsed / total if total > 0 else 0.0
    text = Text(f"{label:<5}", "bold")
    text.append(bar(fraction, width), "cyan")
    text.append(f" {clock(remaining)} left", "bold")
    text.append(f" of {clock(total)}", "dim")
    return text


def remote_text(req: RemoteRequest, more: int, mph: bool) -> Text:
    what = req.action.value
    if req.speed_kmh is not None:
        what += f" {speed_text(req.speed_kmh, mph)}"
    if req.direction is not None:
        what += f" {req.direction.upper()}"
    text = Text(f" REMOTE {req.origin}: {what} ", WARN)
    text.append(f" c confirm · x reject ({req.expires_in_s:.0f} s)", "bold")
    if more:
        text.append(f" (+{more} more)", "dim")
    return text


def event_style(line: str) -> str:
    if "REFUSED" in line or "-> faulted" in line:
        return "#ff5f5f"
    if "notice" in line or "warning" in line:
        return "#ffaf00"
    return ""


INCLINE_ARROW = {"moving up": "↑ moving up", "moving down": "↓ moving down"}
BEAT_ON = "bold #000000 on #ffff00"  # the lit beat: neither a health state nor a direction
BEAT_OFF = "#5f5f5f"


def incline_text(inc: InclineStatus | None) -> Text:
    """The powered incline: "INCLINE target 7.5 %  actual 6.9 %  ↑ moving up", or its
    latched fault in red with the reason; empty without an actuator (set by hand)."""
    if inc is None:
        return Text("")
    if inc.faults or inc.mode == "faulted":
        why = "; ".join(inc.faults) or inc.detail or "incline fault"
        return Text(f" INCLINE FAULT: {why} · r resets ", FAULT)
    actual = "--" if inc.actual_pct is None else f"{inc.actual_pct:.1f} %"
    text = Text("INCLINE ", "bold")
    text.append("target ")
    text.append(f"{inc.target_pct:.1f} %", "bold #5fd7ff")
    text.append("  actual ")
    text.append(actual, "bold #ff8700" if inc.actual_pct is None else "bold")
    text.append(f"  {INCLINE_ARROW.get(inc.mode, inc.mode)}", "bold")
    if inc.goal_pct is not None and abs(inc.goal_pct - inc.target_pct) > 1e-6:
        text.append(f" (to {inc.goal_pct:.1f} %)", "dim")
    return text


def beat_text(cadence_spm: float | None, showing: bool, count: int, sound: bool | None) -> Text:
    """The visible beat: a block lit on each beat, the beat count and the cadence; empty
    when there is no beat (no cue, or the belt not running a segment)."""
    if cadence_spm is None and not showing:
        return Text("")
    text = Text("BEAT ", "bold")
    text.append(" ● " if showing else " ○ ", BEAT_ON if showing else BEAT_OFF)
    text.append(f" {count:<5}", "bold")
    text.append("--/min" if cadence_spm is None else f"{cadence_spm:.0f}/min")
    if sound is False:
        text.append(" (no sound)", "bold #ffaf00")
    return text


def pace_line(inc: Text, beat: Text) -> Text:
    """The beat and the incline on one row: the beat first, at a fixed width so the
    incline does not move; a row too short cuts the incline's end."""
    if not beat.plain:
        return inc
    if not inc.plain:
        return beat
    line = beat.copy()
    line.append("  ")
    line.append_text(inc)
    return line
