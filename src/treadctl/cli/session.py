"""The session verbs: check, plan, profiles, simulate, run and serve: their parsers, and
entry points that import the verbs when they run (`checks`: the files; `runs`: a
session), so that `treadctl --help` loads neither."""

from __future__ import annotations

import argparse
from pathlib import Path

from treadctl.cli.common import (
    CONFIG_EXITS,
    DEFAULT_SOCKET,
    EXIT_CONNECT,
    EXIT_OK,
    PROFILE,
    PROFILE_HELP,
    SESSION_EXITS,
    Group,
    Subparsers,
    add_files,
    add_session_files,
    verb_parser,
)
from treadctl.store.db import DEFAULT_DB

PROGRESS_HELP = "set the progressing segments from the patient's recorded sessions in --db"


def add_parsers(sub: Subparsers) -> None:
    _add_check_plan_profiles(sub)
    _add_simulate(sub)
    _add_run(sub)
    _add_serve(sub)


def _add_check_plan_profiles(sub: Subparsers) -> None:
    check = verb_parser(
        sub,
        "check",
        "validate machine, profile and patient files and try the machine's drive link",
        [
            "treadctl check --machine sim --profile stroke-30min --patient demo",
            "treadctl check --machine clinic.toml --profile demo-short   # opens the link",
            "treadctl check --machine clinic.toml --profile demo-short --offline",
        ],
        {
            EXIT_OK: "the files are valid and every link can be opened now (or --offline)",
            **CONFIG_EXITS,
            EXIT_CONNECT: "a link cannot be opened now (serial port missing or not "
            "permitted, TCP connection refused or unanswered): the reason is printed",
        },
    )
    check.add_argument("--profile", type=PROFILE, required=True, help=PROFILE_HELP)
    add_files(check)
    check.add_argument(
        "--offline",
        action="store_true",
        help="check the files only: do not try to open the drive's serial port or TCP "
        "connection (nothing is ever sent to the drive either way)",
    )

    plan_p = verb_parser(
        sub,
        "plan",
        "show the resolved plan: segments, pre-start checklist, energy estimate",
        ["treadctl plan --machine sim-turn --profile demo-short --patient demo"],
        {EXIT_OK: "the plan is printed", **CONFIG_EXITS},
    )
    plan_p.add_argument("--profile", type=PROFILE, required=True, help=PROFILE_HELP)
    add_files(plan_p)

    profiles = verb_parser(
        sub,
        "profiles",
        "the profiles shipped with treadctl",
        ["treadctl profiles list"],
        {EXIT_OK: "the list is printed"},
    )
    profiles_sub = profiles.add_subparsers(dest="profiles_verb", required=True)
    verb_parser(
        profiles_sub,
        "list",
        "each shipped profile: name, minutes, segments, title, source",
        ["treadctl profiles list"],
        {EXIT_OK: "the list is printed"},
    )


def _add_simulate(sub: Subparsers) -> None:
    sim = verb_parser(
        sub,
        "simulate",
        "run a whole profile on the virtual clock",
        [
            "treadctl simulate demo-short",
            "treadctl simulate backward-intro-15min --patient demo --quiet",
            "treadctl simulate demo-short --scenario estop-backward",
            "treadctl simulate demo-short --patient demo --db runs/sim.sqlite --progress",
        ],
        {
            **SESSION_EXITS,
            130: "interrupted by Ctrl-C (143: by SIGTERM): the simulated belt brought to "
            "rest, the event log and the record kept, one line says so",
        },
    )
    sim.add_argument("profile", type=PROFILE, help=PROFILE_HELP)
    add_session_files(sim, machine_required=False)
    sim.add_argument("--quiet", action="store_true", help="summary only, no timeline")
    sim.add_argument(
        "--db",
        type=Path,
        default=None,
        help="also record the session in this database (default: not recorded)",
    )
    sim.add_argument(
        "--progress",
        action="store_true",
        help="set the progressing segments from the patient's simulated sessions in --db",
    )


def _add_run(sub: Subparsers) -> None:
    run = verb_parser(
        sub,
        "run",
        "run a session in real time",
        [
            "treadctl run --machine sim --profile demo-short --patient demo",
            "treadctl run --machine sim --profile demo-short --headless",
            "treadctl run --machine clinic.toml --profile stroke-30min --patient p017.toml "
            "--progress",
        ],
        {
            **SESSION_EXITS,
            EXIT_CONNECT: "the drive could not be connected or its watchdog armed (nothing "
            "moved); or another controller runs on the socket (its pid is named; without "
            "--headless)",
            1: "the dashboard left before it saw the session end",
        },
    )
    run.add_argument("--profile", type=PROFILE, required=True, help=PROFILE_HELP)
    add_session_files(run)
    run.add_argument(
        "--headless",
        action="store_true",
        help="command-line operator console in one process (default: the controller in a "
        "process of its own and the dashboard in this terminal)",
    )
    run.add_argument(
        "--socket",
        type=Path,
        default=DEFAULT_SOCKET,
        help=f"controller socket, without --headless (default: {DEFAULT_SOCKET})",
    )
    run.add_argument(
        "--mqtt",
        type=Path,
        default=None,
        help="MQTT bridge file, without --headless (docs/mqtt.md; default: no MQTT)",
    )
    run.add_argument(
        "--operator",
        choices=("console", "auto"),
        default="console",
        help="with --headless: who gives reset and start: the console (stdin) or the "
        "scripted demo operator (also accepts console commands)",
    )
    run.add_argument(
        "--db", type=Path, default=DEFAULT_DB, help=f"session database (default: {DEFAULT_DB})"
    )
    run.add_argument("--progress", action="store_true", help=PROGRESS_HELP)


def _add_serve(sub: Subparsers) -> None:
    serve = verb_parser(
        sub,
        "serve",
        "the controller process: runs a session, clients attach on its socket",
        [
            "treadctl serve --machine sim --profile demo-short --socket runs/a.sock",
            "treadctl serve --machine sim --profile demo-short --operator auto",
        ],
        {
            **SESSION_EXITS,
            EXIT_CONNECT: "the drive could not be connected or its watchdog armed (nothing "
            "moved); or another controller runs on the socket: refused, naming its pid, "
            "before anything is opened (the other is left alone)",
        },
    )
    serve.add_argument("--profile", type=PROFILE, required=True, help=PROFILE_HELP)
    add_session_files(serve)
    serve.add_argument(
        "--socket",
        type=Path,
        default=DEFAULT_SOCKET,
        help=f"socket path (default: {DEFAULT_SOCKET})",
    )
    serve.add_argument(
        "--db", type=Path, default=DEFAULT_DB, help=f"session database (default: {DEFAULT_DB})"
    )
    serve.add_argument("--progress", action="store_true", help=PROGRESS_HELP)
    serve.add_argument(
        "--mqtt",
        type=Path,
        default=None,
        help="MQTT bridge file (docs/mqtt.md; default: no MQTT)",
    )
    serve.add_argument(
        "--operator",
        choices=("dashboard", "auto"),
        default="dashboard",
        help="who gives reset and start: the attached dashboard, or the scripted demo "
        "operator (for unattended tests)",
    )


# The entry points: each imports its verb when it runs.


def check_verb(args: argparse.Namespace) -> int:
    from treadctl.cli import checks  # noqa: PLC0415

    return checks.check_verb(args)


def plan_verb(args: argparse.Namespace) -> int:
    from treadctl.cli import checks  # noqa: PLC0415

    return checks.plan_verb(args)


def profiles_verb(args: argparse.Namespace) -> int:
    from treadctl.cli import checks  # noqa: PLC0415

    return checks.profiles_verb(args)


def simulate_verb(args: argparse.Namespace) -> int:
    from treadctl.cli import runs  # noqa: PLC0415

    return runs.simulate_verb(args)


def run_verb(args: argparse.Namespace) -> int:
    from treadctl.cli import runs  # noqa: PLC0415

    return runs.run_verb(args)


def serve_verb(args: argparse.Namespace) -> int:
    from treadctl.cli import runs  # noqa: PLC0415

    return runs.serve_verb(args)


GROUP = Group(
    add_parsers,
    {
        "check": check_verb,
        "plan": plan_verb,
        "profiles": profiles_verb,
        "simulate": simulate_verb,
        "run": run_verb,
        "serve": serve_verb,
    },
    serving=frozenset({"serve", "run"}),
)
