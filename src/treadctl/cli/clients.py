"""The verbs that attach to a running controller (dashboard, status, stop) or to the MQTT
broker (monitor)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from treadctl.cli.common import (
    DEFAULT_SOCKET,
    EXIT_CONFIG,
    EXIT_CONNECT,
    EXIT_NOT_COMPLETED,
    EXIT_OK,
    Group,
    Subparsers,
    verb_parser,
)
from treadctl.mqtt.options import add_monitor_arguments, monitor_main

CLIENTS: tuple[tuple[str, str, dict[int, str]], ...] = (
    (
        "dashboard",
        "the operator dashboard of a running controller",
        {
            EXIT_OK: "the session ended, or this dashboard only watched",
            1: "it left before the session ended, or lost the controller",
            EXIT_CONFIG: "no terminal (stdin or stdout a pipe or file): nothing started",
        },
    ),
    (
        "status",
        "print a running controller's status",
        {
            EXIT_OK: "the status is printed",
            EXIT_CONNECT: "no controller answers on the socket, or no status in 5 s",
        },
    ),
    (
        "stop",
        "stop the belt of a running controller (always accepted)",
        {
            EXIT_OK: "the stop was accepted",
            EXIT_CONNECT: "no controller answers on the socket",
            EXIT_NOT_COMPLETED: "the controller refused it",
        },
    ),
)


def add_parsers(sub: Subparsers) -> None:
    for verb, text, exits in CLIENTS:
        client = verb_parser(
            sub,
            verb,
            text,
            [f"treadctl {verb}", f"treadctl {verb} --socket runs/a.sock"],
            exits,
        )
        client.add_argument(
            "--socket",
            type=Path,
            default=DEFAULT_SOCKET,
            help=f"socket path (default: {DEFAULT_SOCKET})",
        )
        if verb == "status":
            client.add_argument("--json", action="store_true", help="the Status message as JSON")
    add_monitor_arguments(
        verb_parser(
            sub,
            "monitor",
            "every treadmill on an MQTT broker, in one overview",
            [
                "treadctl monitor --broker 127.0.0.1:1883 --site clinic-a",
                "treadctl monitor --broker mqtt.clinic:8883 --site clinic-a --tls "
                "--username ops --password-file ops.pw --commands",
            ],
            {
                EXIT_OK: "the user quit",
                EXIT_CONFIG: "options that do not go together, or no terminal (stdin or "
                "stdout a pipe or file): nothing started",
            },
        )
    )


def dashboard_verb(args: argparse.Namespace) -> int:
    from treadctl.tui.app import run_dashboard  # noqa: PLC0415 - Textual loads slowly

    return run_dashboard(args.socket)


def monitor_verb(args: argparse.Namespace) -> int:
    """The monitor draws on a terminal and reads its keys: without one it would write
    escape codes into a pipe and never end, so it is refused first, as the dashboard is."""
    from treadctl.tui.terminal import EXIT_NO_TERMINAL, missing_terminal  # noqa: PLC0415

    why = missing_terminal()
    if why is not None:
        print(
            f"treadctl monitor: needs a terminal: {why}.\n"
            "  Run it in a terminal (over SSH: ssh -t), or in a browser: treadctl web "
            "monitor with the same options",
            file=sys.stderr,
        )
        return EXIT_NO_TERMINAL
    return monitor_main(args)


def status_verb(args: argparse.Namespace) -> int:
    from treadctl.cli.status import status_main  # noqa: PLC0415 - the socket's client

    return status_main(args.socket, args.json)


def stop_verb(args: argparse.Namespace) -> int:
    from treadctl.cli.status import stop_main  # noqa: PLC0415 - the socket's client

    return stop_main(args.socket)


GROUP = Group(
    add_parsers,
    {
        "dashboard": dashboard_verb,
        "status": status_verb,
        "stop": stop_verb,
        "monitor": monitor_verb,
    },
    serving=frozenset({"dashboard", "monitor"}),
)
