"""The headless operator console: one typed line is one command."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from treadctl.api.status import incline_home_refusal
from treadctl.safety.types import Command, CommandKind, Direction

if TYPE_CHECKING:
    from treadctl.control.loop import ControlLoop

HELP = (
    "commands: reset | start | stop | pause | speed <km/h> | + | - | "
    "dir forward|backward | turned (the walker has turned round) | "
    "home (powered incline to 0 %, belt stopped) | status | quit | help"
)


@dataclass(frozen=True)
class ConsoleAction:
    command: Command | None = None
    quit: bool = False
    status: bool = False
    incline_home: bool = False  # the powered incline back to 0 %: see `incline_home`
    message: str = ""


def parse_line(line: str, current_target_kmh: float, step_kmh: float) -> ConsoleAction:
    words = line.strip().lower().split()
    if not words:
        return ConsoleAction()
    verb, args = words[0], words[1:]
    simple = {
        "reset": CommandKind.RESET,
        "start": CommandKind.START,
        "stop": CommandKind.STOP,
        "pause": CommandKind.PAUSE,
    }
    if verb in simple and not args:
        return ConsoleAction(Command(simple[verb], "console"))
    if verb == "speed" and len(args) == 1:
        try:
            value = float(args[0])
        except ValueError:
            return ConsoleAction(message=f"not a speed: {args[0]!r}")
        return ConsoleAction(Command(CommandKind.SET_SPEED, "console", speed_kmh=value))
    if verb in ("+", "-") and not args:
        sign = 1 if verb == "+" else -1
        value = round(current_target_kmh + sign * step_kmh, 3)
        return ConsoleAction(Command(CommandKind.SET_SPEED, "console", speed_kmh=value))
    if verb == "dir" and len(args) == 1 and args[0] in ("forward", "backward"):
        return ConsoleAction(
            Command(CommandKind.SET_DIRECTION, "console", direction=Direction(args[0]))
        )
    if verb == "turned" and len(args) <= 1 and all(a in ("forward", "backward") for a in args):
        # the walker now faces the way the session walks (or the way given)
        direction = Direction(args[0]) if args else None
        return ConsoleAction(Command(CommandKind.CONFIRM_TURN, "console", direction=direction))
    if verb == "home" and not args:
        return ConsoleAction(incline_home=True)
    if verb == "quit" and not args:
        return ConsoleAction(quit=True)
    if verb == "status" and not args:
        return ConsoleAction(status=True)
    if verb == "help":
        return ConsoleAction(message=HELP)
    return ConsoleAction(message=f"unknown command {line.strip()!r}; {HELP}")


def incline_home(loop: ControlLoop) -> str:
    """Ask the loop to return the powered incline to 0 %; what to print. Refused here
    when it can never apply; otherwise the incline rules decide at the next cycle (belt
    stopped, no incline fault) and the event log says which."""
    why = incline_home_refusal(loop)
    if why:
        return f"refused: {why}"
    loop.incline_home()
    return "incline home asked: it runs only with the belt stopped (see the event log)"
