"""The `treadctl` command: one argparse parser assembled from verb groups, and `main`.

Each group is a module of this package with a `GROUP` (`common.Group`): a function that
adds its verbs' parsers, a table from each top-level verb to its entry point, and the
verbs that serve sockets. To add a group, write its module and add its `GROUP` to
`GROUPS` below (the order there is the order of `treadctl --help`).

Fast to start (issue 23): this package and every group module import only what their
parsers need; a verb's entry point imports what the verb runs on when it runs, so
`treadctl --version` and `--help` load no drive, broker, database or GUI library
(tests/cli/test_fast_start.py).
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from treadctl.cli import clients, clinic, drive, hr, records, session, web
from treadctl.cli.common import (
    EXIT_CONFIG,
    EXIT_CONNECT,
    EXIT_NOT_COMPLETED,
    EXIT_OK,
    EXIT_WORDS,
    Group,
    HelpFormatter,
    Parser,
    UsageError,
    Verb,
    epilog,
    exit_lines,
    treadctl_version,
    verb_parser,
)

__all__ = [
    "EXIT_CONFIG",
    "EXIT_CONNECT",
    "EXIT_NOT_COMPLETED",
    "EXIT_OK",
    "EXIT_WORDS",
    "GROUPS",
    "SERVING_VERBS",
    "ConsolePrompts",
    "Group",
    "HelpFormatter",
    "UsageError",
    "_parser",
    "checklist_lines",
    "console_main",
    "epilog",
    "exit_lines",
    "main",
    "plan_lines",
    "verb_parser",
]

GROUPS: tuple[Group, ...] = (
    session.GROUP,
    clients.GROUP,
    web.GROUP,
    records.GROUP,
    clinic.GROUP,
    drive.GROUP,
    hr.GROUP,
)
VERBS: dict[str, Verb] = {verb: run for group in GROUPS for verb, run in group.verbs.items()}
# Verbs that serve sockets: a peer that hangs up must be an EPIPE error to handle, never
# a SIGPIPE that kills the controller (or the simulator) with the belt running.
SERVING_VERBS = frozenset().union(*(group.serving for group in GROUPS))
DESCRIPTION = "The `treadctl` verbs."
EXIT_INTERRUPTED = 128 + signal.SIGINT  # the shell's convention for Ctrl-C: 130


def _parser() -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = Parser(  # its verbs' parsers are Parsers too
        prog="treadctl",
        description=DESCRIPTION,
        formatter_class=HelpFormatter,
        epilog="\n".join(
            [
                "exit codes (each verb's --help gives its own, and examples):",
                *exit_lines(
                    {
                        **EXIT_WORDS,
                        1: "a crash (Python's own exit), or a dashboard that left before "
                        "the session ended",
                        EXIT_INTERRUPTED: "interrupted by Ctrl-C",
                    }
                ),
            ]
        ),
    )
    p.add_argument(
        "--version",
        action=_Version,
        nargs=0,
        dest=argparse.SUPPRESS,
        default=argparse.SUPPRESS,
        help="print the installed version and exit",
    )
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    for group in GROUPS:
        group.add_parsers(sub)
    return p


class _Version(argparse.Action):
    """--version: the installed version, looked up only when asked for (argparse's own
    action needs it when the parser is built, and importlib.metadata is slow to load)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        _namespace: argparse.Namespace,
        _values: Any,
        _option_string: str | None = None,
    ) -> None:
        print(f"treadctl {treadctl_version()}")
        parser.exit()


def console_main() -> int:
    """The `treadctl` command: a process of its own, so it may set process-wide signals."""
    verb = next((a for a in sys.argv[1:] if not a.startswith("-")), "")
    if hasattr(signal, "SIGPIPE") and verb not in SERVING_VERBS:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `treadctl simulate ... | head` is fine
    try:
        return main()
    except KeyboardInterrupt:  # a verb that does not stop on Ctrl-C in its own way
        print("treadctl: interrupted (Ctrl-C)", file=sys.stderr)
        return EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    """The verbs, callable in-process: changes no process-wide state."""
    args = _parser().parse_args(argv)
    run = VERBS.get(args.verb)
    if run is None:
        return EXIT_CONFIG
    try:
        return run(args)
    except Exception as exc:
        code = _reported(exc)
        if code is None:
            raise
        return code


def _reported(exc: Exception) -> int | None:
    """Print an error a verb reports in words, and its exit code; None: not one of them
    (a crash). Imported here, once a verb has failed: each is the error of a module the
    verb loaded, and `treadctl --help` loads none of them."""
    from treadctl.api.socket_lock import ControllerRunningError  # noqa: PLC0415
    from treadctl.clinic.connect import ClinicUnreachableError  # noqa: PLC0415
    from treadctl.config.errors import ConfigError  # noqa: PLC0415
    from treadctl.control.loop import ConnectError  # noqa: PLC0415
    from treadctl.store.db import DatabaseError  # noqa: PLC0415
    from treadctl.store.rpe import RpeError  # noqa: PLC0415

    if isinstance(exc, ClinicUnreachableError):  # a DatabaseError, but a link out of reach
        print(f"treadctl: {exc}", file=sys.stderr)
        return EXIT_CONNECT
    if isinstance(exc, DatabaseError | RpeError | UsageError):
        print(f"treadctl: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if isinstance(exc, ConfigError):
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    if isinstance(exc, ControllerRunningError):  # the first one is left alone
        print(f"cannot start: {exc}", file=sys.stderr)
        return EXIT_CONNECT
    if isinstance(exc, ConnectError):
        print(f"cannot start: {exc}", file=sys.stderr)
        return EXIT_CONNECT
    return None


def __getattr__(name: str) -> Any:
    """Names this package gave before its verbs were imported lazily (issue 23)."""
    if name in ("ConsolePrompts", "checklist_lines"):
        from treadctl.cli import headless  # noqa: PLC0415

        return getattr(headless, name)
    if name == "plan_lines":
        from treadctl.cli.checks import plan_lines  # noqa: PLC0415

        return plan_lines
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
