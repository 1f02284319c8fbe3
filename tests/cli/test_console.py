from __future__ import annotations

import pytest

from treadctl.cli.console import parse_line
from treadctl.safety.types import CommandKind, Direction


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("reset", CommandKind.RESET),
        ("START\n", CommandKind.START),
        (" stop ", CommandKind.STOP),
        ("pause", CommandKind.PAUSE),
    ],
)
def test_simple_commands(line: str, kind: CommandKind) -> None:
    action = parse_line(line, 0.0, 0.1)
    assert action.command is not None
    assert action.command.kind is kind
    assert action.command.source == "console"


def test_speed_steps_from_the_current_target() -> None:
    up = parse_line("+", 1.2, 0.1).command
    down = parse_line("-", 1.2, 0.1).command
    assert up is not None
    assert up.speed_kmh == pytest.approx(1.3)
    assert down is not None
    assert down.speed_kmh == pytest.approx(1.1)


def test_direction_and_speed() -> None:
    d = parse_line("dir backward", 0, 0.1).command
    s = parse_line("speed 1.25", 0, 0.1).command
    assert d is not None
    assert d.direction is Direction.BACKWARD
    assert s is not None
    assert s.speed_kmh == 1.25


@pytest.mark.parametrize("line", ["speed fast", "dir sideways", "launch", "start now"])
def test_garbage_is_a_message_not_a_command(line: str) -> None:
    action = parse_line(line, 0, 0.1)
    assert action.command is None
    assert action.message


def test_quit_and_status() -> None:
    assert parse_line("quit", 0, 0.1).quit
    assert parse_line("status", 0, 0.1).status
