"""The `treadctl` command: one argparse parser assembled from verb groups, and `main`.

Each group is a module of this package with a `GROUP` (`common.Group`): a function that
adds its verbs' parsers, a table from each top-level verb to its entry point, and the
verbs that serve sockets. To add a group, write its module and add its `GROUP` to
`GROUPS` below (the order there is the order of `treadctl --help`).
"""

from __future__ import annotations

import argparse
import signal
import sys

from treadctl.cli import clients, clinic, drive, hr, records, session, web
from treadctl.cli.common import (
    EXIT_CONFIG,
    EXIT_CONNECT,
    EXIT_NOT_COMPLETED,
    EXIT_OK,
    EXIT_WORDS,
    Group,
    HelpFormatter,
    UsageError,
    Verb,
    epilog,
    exit_lines,
    treadctl_version,
    verb_parser,
)
from treadctl.cli.headless import ConsolePrompts, checklist_lines
from treadctl.cli.session import plan_lines
from treadctl.clinic.connect import ClinicUnreachableError
from treadctl.config.errors import ConfigError
from treadctl.control.loop import ConnectError
from treadctl.store.db import DatabaseError
from treadctl.store.history import RpeError

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


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
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
                    }
                ),
            ]
        ),
    )
    p.add_argument(
        "--version", action="version", version=f"treadctl {treadctl_version()}",
        help="print the installed version and exit",
    )  # fmt: skip
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    for group in GROUPS:
        group.add_parsers(sub)
    return p


def console_main() -> int:
    """The `treadctl` command: a process of its own, so it may set process-wide signals."""
    verb = next((a for a in sys.argv[1:] if not a.startswith("-")), "")
    if hasattr(signal, "SIGPIPE") and verb not in SERVING_VERBS:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `treadctl simulate ... | head` is fine
    return main()


def main(argv: list[str] | None = None) -> int:
    """The verbs, callable in-process: changes no process-wide state."""
    args = _parser().parse_args(argv)
    run = VERBS.get(args.verb)
    if run is None:
        return EXIT_CONFIG
    try:
        return run(args)
    except ClinicUnreachableError as exc:  # a DatabaseError, but a link out of reach: 3
        print(f"treadctl: {exc}", file=sys.stderr)
        return EXIT_CONNECT
    except (DatabaseError, RpeError, UsageError) as exc:
        print(f"treadctl: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    except ConnectError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return EXIT_CONNECT
