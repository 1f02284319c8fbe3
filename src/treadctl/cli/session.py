"""The session verbs: check, plan, profiles, simulate, run and serve (their parsers; the
verbs that run a session are in `runs`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from treadctl.app import load_session
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
from treadctl.cli.runs import run_verb, serve_verb, simulate_verb
from treadctl.config.machine import MachineConfig
from treadctl.config.patient import PatientConfig
from treadctl.config.profile import SegmentKind
from treadctl.drives.reach import reach
from treadctl.protocol.checklist import checklist
from treadctl.protocol.energy import estimate_for_patient
from treadctl.protocol.plan import Plan
from treadctl.samples import profile_lines
from treadctl.store.db import DEFAULT_DB
from treadctl.store.timeline import segment_number

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
        SESSION_EXITS,
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
            EXIT_CONNECT: "the drive could not be connected or its watchdog armed (nothing moved)",
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
            EXIT_CONNECT: "the drive could not be connected or its watchdog armed (nothing moved)",
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


def check_verb(args: argparse.Namespace) -> int:
    files = load_session(args.machine, args.profile, args.patient)
    plan = files.plan
    print(f"ok: {plan.profile.name}: {len(plan.segments)} segments, {plan.total_s / 60:.1f} min")
    return EXIT_OK if args.offline else _check_links(files.machine)


def _check_links(machine: MachineConfig) -> int:
    """`check` without --offline: each link the controller would open, and whether it
    can be opened now (nothing is sent); exit 3 with the reason if one cannot."""
    code = EXIT_OK
    for link in reach(machine):
        print(link.line)
        if link.problem is not None:
            print(f"treadctl check: {link.what} link: {link.problem}", file=sys.stderr)
            code = EXIT_CONNECT
    return code


def plan_verb(args: argparse.Namespace) -> int:
    files = load_session(args.machine, args.profile, args.patient)
    print("\n".join(plan_lines(files.plan, files.patient, files.machine)))
    return EXIT_OK


def profiles_verb(_args: argparse.Namespace) -> int:
    print("\n".join(profile_lines()))
    return EXIT_OK


def plan_lines(plan: Plan, patient: PatientConfig | None, machine: MachineConfig) -> list[str]:
    total = len(plan.segments)
    out = [f"{plan.profile.name}: {total} segments, {plan.total_s / 60:.1f} min"]
    if machine.walker_turns:
        out.append(
            f"{machine.name}: backward walking by turning round (the belt always runs "
            "forward; the walker faces away from the console)"
        )
    else:
        out.append(f"{machine.name}: backward walking on a reversing belt")
    out.append("each segment, then its pre-start checklist (confirmed before its start):")
    for seg in plan.segments:
        extra = f", incline {seg.incline_pct:g} %" if seg.incline_pct else ""
        extra += f", cue {seg.cadence_spm:g} steps/min" if seg.cadence_spm else ""
        speed = f"{seg.target_kmh:5.2f} km/h" if seg.kind is not SegmentKind.REST else " " * 10
        number = segment_number(seg.index, total)
        out.append(
            f"  {number:>5} {seg.label:<32} {seg.kind.value:<8} {speed} "
            f"{seg.duration_s / 60:5.1f} min  rails {seg.rail_policy.value}{extra}"
        )
        box = "[ ]" if seg.kind is not SegmentKind.REST else " · "
        out += [f"        {box} {item}" for item in checklist(machine, plan, seg.index)]
    energy = estimate_for_patient(plan, patient)
    out += (
        energy.lines() if energy else ["energy: no estimate (no body_mass_kg in the patient file)"]
    )
    return out


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
