"""The headless operator console: one typed line is one command."""

from __future__ import annotations

from dataclasses import dataclass

from treadctl.safety.types import Command, CommandKind, Direction

HELP = (
    "commands: reset | start | stop | pause | speed <km/h> | + | - | "
    "dir forward|backward | turned (the walker has turned round) | status | quit | help"
)


@dataclass(frozen=True)
class ConsoleAction:
    command: Command | None = None
    quit: bool = False
    status: bool = False
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
    if verb == "quit" and not args:
        return ConsoleAction(quit=True)
    if verb == "status" and not args:
        return ConsoleAction(status=True)
    if verb == "help":
        return ConsoleAction(message=HELP)
    return ConsoleAction(message=f"unknown command {line.strip()!r}; {HELP}")
