"""The `treadctl` verbs."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import sys
import textwrap
import threading
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from treadctl.api.verbs import status_main, stop_main
from treadctl.app import (
    SessionFiles,
    apply_prescription,
    build_session,
    build_sim_session,
    load_session,
    session_progress,
)
from treadctl.config.errors import ConfigError
from treadctl.config.loader import load_model
from treadctl.config.machine import LoopConfig, MachineConfig, SerialLink, TcpLink
from treadctl.config.patient import PatientConfig
from treadctl.config.profile import SegmentKind
from treadctl.console import HELP, parse_line
from treadctl.control.clock import FINE_SLEEP_S, Clock, MonotonicClock, VirtualClock
from treadctl.control.loop import ConnectError, ControlLoop, LoopSnapshot
from treadctl.control.operator import ScriptedOperator
from treadctl.control.priority import raise_priority
from treadctl.control.summary import SessionSummary
from treadctl.drives.calibrate import from_measurement, from_mechanics
from treadctl.drives.probe import ProbeContext, machine_context, probe
from treadctl.drives.reach import reach
from treadctl.drives.regmap import load_map
from treadctl.launch import run_with_dashboard
from treadctl.mqtt.bridge import MqttBridge
from treadctl.mqtt.cli import add_monitor_arguments, monitor_main
from treadctl.mqtt.config import load_mqtt_config
from treadctl.protocol.checklist import checklist, segment_words
from treadctl.protocol.energy import estimate_for_patient
from treadctl.protocol.plan import Plan
from treadctl.safety.interlock import facing_words
from treadctl.safety.types import Direction, Mode
from treadctl.samples import Kind, UnknownSampleError, profile_lines, resolve
from treadctl.serve import Bridge, Controller
from treadctl.sim.drives import MAP_DRIVEN, PERSONALITIES
from treadctl.sim.main import SimOptions, host_port, run_sim
from treadctl.sim.scenario import Scenario
from treadctl.store import report, verbs
from treadctl.store.db import DEFAULT_DB, DatabaseError
from treadctl.store.eventlog import EventLog
from treadctl.store.history import DEFAULT_RPE_SCALE, RPE_SCALES, RpeError
from treadctl.store.recorder import SessionInfo, SessionRecorder
from treadctl.store.timeline import format_event, segment_number

DEFAULT_SOCKET = Path("runs") / "treadctl.sock"
EXIT_OK = 0
EXIT_NOT_COMPLETED = 4  # not 1: that is what Python exits with on a crash
EXIT_CONFIG = 2
EXIT_CONNECT = 3


SessionRun = Coroutine[Any, Any, SessionSummary]
Runner = Callable[[Clock, EventLog, ScriptedOperator | None, SessionRecorder | None], SessionRun]


class UsageError(Exception):
    """Options that do not go together; the message says what to give."""


def _default_events_path(kind: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path("runs") / f"{kind}-{stamp}.jsonl"


def sample(kind: Kind) -> Callable[[str], Path]:
    """The argparse type of --machine, --profile, --patient and --scenario: a path, or
    the name of a shipped sample (treadctl.samples); an unknown name is a usage error."""

    def convert(value: str) -> Path:
        try:
            return resolve(kind, value)
        except UnknownSampleError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = f"{kind} file or name"
    return convert


MACHINE = sample("machine")
PROFILE = sample("profile")
PATIENT = sample("patient")
SCENARIO = sample("scenario")
DEFAULT_MACHINE = "sim"
PROFILE_HELP = "profile file (TOML) or a shipped profile's name (treadctl profiles list)"


def treadctl_version() -> str:
    try:
        return package_version("treadctl")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown (not installed)"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's lines (examples, exit codes) and states an option's default
    when its help text does not already say it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            not action.option_strings
            or "default" in text
            or action.default in (None, False, argparse.SUPPRESS)
        ):
            return text
        return f"{text} (default: %(default)s)"


# What each exit code means, as the verbs use them (README.md has the same table).
EXIT_WORDS = {
    EXIT_OK: "ok",
    EXIT_CONFIG: "configuration or usage error (bad file, options that do not go together)",
    EXIT_CONNECT: "unreachable: the drive, its link or the controller could not be reached",
    EXIT_NOT_COMPLETED: "not completed (stopped, fault) or refused",
}


def epilog(examples: list[str], exits: dict[int, str]) -> str:
    """The end of a verb's --help: a few examples, then its exit codes."""
    lines = ["examples:", *(f"  {e}" for e in examples), "", "exit codes:"]
    return "\n".join([*lines, *exit_lines(exits)])


def exit_lines(exits: dict[int, str]) -> list[str]:
    lines: list[str] = []
    for code, text in sorted(exits.items()):
        lines += textwrap.wrap(text, 78, initial_indent=f"  {code}  ", subsequent_indent=" " * 5)
    return lines


def verb_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    text: str,
    examples: list[str],
    exits: dict[int, str],
) -> argparse.ArgumentParser:
    return sub.add_parser(
        name,
        help=text,
        description=text[:1].upper() + text[1:] + ".",
        epilog=epilog(examples, exits),
        formatter_class=HelpFormatter,
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="treadctl",
        description=__doc__,
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
    config = {EXIT_CONFIG: "a file is refused (one line per problem) or a usage error"}
    session_exits = {
        EXIT_OK: "the session completed",
        **config,
        EXIT_NOT_COMPLETED: "the session did not complete (stopped, faulted, time limit)",
    }

    def files(sp: argparse.ArgumentParser, machine_required: bool = True) -> None:
        sp.add_argument(
            "--machine",
            type=MACHINE,
            required=machine_required,
            default=None if machine_required else DEFAULT_MACHINE,
            help="machine file (TOML) or a shipped machine's name"
            + ("" if machine_required else f" (default: {DEFAULT_MACHINE}, the simulator)"),
        )
        sp.add_argument(
            "--patient",
            type=PATIENT,
            default=None,
            help="patient file (TOML) or a sample's name (default: none, no personal caps)",
        )

    def session_files(sp: argparse.ArgumentParser, machine_required: bool = True) -> None:
        """The files of a verb that runs a session: also its event log and scenario."""
        files(sp, machine_required)
        sp.add_argument(
            "--events",
            type=Path,
            default=None,
            help="JSON-lines event log (default: runs/<verb>-<time>.jsonl)",
        )
        sp.add_argument(
            "--scenario",
            type=SCENARIO,
            default=None,
            help="simulator scenario (file or shipped name): timed faults and operator "
            "commands (default: none)",
        )

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
            **config,
            EXIT_CONNECT: "a link cannot be opened now (serial port missing or not "
            "permitted, TCP connection refused or unanswered): the reason is printed",
        },
    )
    check.add_argument("--profile", type=PROFILE, required=True, help=PROFILE_HELP)
    files(check)
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
        {EXIT_OK: "the plan is printed", **config},
    )
    plan_p.add_argument("--profile", type=PROFILE, required=True, help=PROFILE_HELP)
    files(plan_p)

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
        session_exits,
    )
    sim.add_argument("profile", type=PROFILE, help=PROFILE_HELP)
    session_files(sim, machine_required=False)
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
            **session_exits,
            EXIT_CONNECT: "the drive could not be connected or its watchdog armed (nothing moved)",
            1: "the dashboard left before it saw the session end",
        },
    )
    run.add_argument("--profile", type=PROFILE, required=True, help=PROFILE_HELP)
    session_files(run)
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
    run.add_argument(
        "--progress",
        action="store_true",
        help="set the progressing segments from the patient's recorded sessions in --db",
    )
    serve = verb_parser(
        sub,
        "serve",
        "the controller process: runs a session, clients attach on its socket",
        [
            "treadctl serve --machine sim --profile demo-short --socket runs/a.sock",
            "treadctl serve --machine sim --profile demo-short --operator auto",
        ],
        {
            **session_exits,
            EXIT_CONNECT: "the drive could not be connected or its watchdog armed (nothing moved)",
        },
    )
    serve.add_argument("--profile", type=PROFILE, required=True, help=PROFILE_HELP)
    session_files(serve)
    serve.add_argument(
        "--socket",
        type=Path,
        default=DEFAULT_SOCKET,
        help=f"socket path (default: {DEFAULT_SOCKET})",
    )
    serve.add_argument(
        "--db", type=Path, default=DEFAULT_DB, help=f"session database (default: {DEFAULT_DB})"
    )
    serve.add_argument(
        "--progress",
        action="store_true",
        help="set the progressing segments from the patient's recorded sessions in --db",
    )
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
    unreachable = {EXIT_CONNECT: "no controller answers on the socket"}
    clients: tuple[tuple[str, str, dict[int, str]], ...] = (
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
                **unreachable,
                EXIT_NOT_COMPLETED: "the controller refused it",
            },
        ),
    )
    for verb, text, exits in clients:
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
            {EXIT_OK: "the user quit", **config},
        )
    )
    _records_parsers(sub)
    sim_p = verb_parser(
        sub,
        "sim",
        "the HIL simulator: a drive and safety I/O on Modbus",
        [
            "treadctl sim --map delta-ms300 --tcp 127.0.0.1:5020 --control 127.0.0.1:5021",
            "treadctl sim --map siemens-v20 --rtu /dev/pts/7 --baud 115200 --wire-timing",
        ],
        {
            EXIT_OK: "stopped by Ctrl-C or SIGTERM",
            EXIT_CONFIG: "neither --tcp nor --rtu given, or a file is refused",
        },
    )
    sim_p.add_argument("--map", default="generic", help="register map to emulate")
    sim_p.add_argument("--tcp", metavar="HOST:PORT", help="serve Modbus TCP here")
    sim_p.add_argument("--rtu", metavar="DEVICE", help="serve Modbus RTU on this serial device")
    sim_p.add_argument("--baud", type=int, default=19200, help="RTU baud rate")
    sim_p.add_argument(
        "--parity", choices=("N", "E", "O"), default="N", help="RTU parity (ptys accept only N)"
    )
    sim_p.add_argument(
        "--wire-timing",
        action="store_true",
        help="delay answers by the RTU wire time at --baud (ptys have none)",
    )
    sim_p.add_argument("--kmh-per-hz", type=float, default=0.1, help="belt km/h per motor Hz")
    sim_p.add_argument(
        "--machine",
        type=MACHINE,
        default=None,
        help="take belt physics or the calibration factor from a machine file",
    )
    sim_p.add_argument(
        "--drive",
        choices=(*PERSONALITIES, MAP_DRIVEN),
        default=None,
        help="which real drive to emulate (default: the one the map is named after; "
        "'map': a drive that does whatever the map says, for the generic map and your own)",
    )
    sim_p.add_argument("--drive-id", type=int, default=1, help="the drive's Modbus device id")
    sim_p.add_argument(
        "--io-id", type=int, default=2, help="the safety input module's Modbus device id"
    )
    sim_p.add_argument(
        "--control",
        metavar="HOST:PORT",
        help="line-based fault-injection channel (open_estop, drive_trip 7, ...)",
    )
    sim_p.add_argument(
        "--scenario", type=SCENARIO, default=None, help="timed fault events (file or name)"
    )
    probe_exits = {
        EXIT_OK: "every register was read",
        EXIT_CONFIG: "no link or map given, or a file is refused",
        EXIT_CONNECT: "the drive could not be reached or a read failed",
    }
    probe_examples = [
        "treadctl drive probe --map delta-ms300 --tcp 127.0.0.1:5020",
        "treadctl drive probe --map delta-ms300 --rtu /dev/ttyUSB0 --baud 115200",
        "treadctl drive probe --machine clinic.toml",
    ]
    drive_p = verb_parser(
        sub, "drive", "commissioning tools for a real drive", probe_examples, probe_exits
    )
    drive_sub = drive_p.add_subparsers(dest="drive_verb", required=True)
    probe_p = verb_parser(
        drive_sub,
        "probe",
        "read status, fault, comm-loss watchdog and commissioning parameters (reads only)",
        probe_examples,
        probe_exits,
    )
    probe_p.add_argument("--machine", type=MACHINE, help="take link, map, device id from it")
    probe_p.add_argument("--map", help="register map name or file (default: the machine's)")
    probe_p.add_argument("--tcp", metavar="HOST:PORT", help="the drive on Modbus TCP")
    probe_p.add_argument(
        "--rtu",
        metavar="DEVICE",
        help="the drive on Modbus RTU on this serial device (formerly --port, still accepted)",
    )
    probe_p.add_argument("--port", dest="rtu", metavar="DEVICE", help=argparse.SUPPRESS)
    probe_p.add_argument("--baud", type=int, default=19200, help="RTU baud rate")
    probe_p.add_argument("--parity", choices=("N", "E", "O"), default="E", help="RTU parity")
    probe_p.add_argument(
        "--device-id", type=int, default=None, help="the drive's Modbus device id "
        "(default: the machine's, else 1)",
    )  # fmt: skip
    probe_p.add_argument(
        "--kmh-per-hz",
        type=float,
        default=None,
        help="belt km/h per motor Hz (default: the machine's, else 0.1)",
    )
    probe_p.add_argument(
        "--timeout", type=float, default=0.5, help="seconds to wait for each answer"
    )
    probe_p.add_argument(
        "--rate-hz",
        type=float,
        default=None,
        help="loop rate the serial setting must carry (default: the machine's, else 50)",
    )

    cal = verb_parser(
        sub,
        "calibrate",
        "belt km/h per motor Hz from a timed measurement",
        [
            "treadctl calibrate --hz 20 --revolutions 10 --seconds 45 --belt-length-m 3.1",
            "treadctl calibrate   # asks for each figure",
        ],
        {EXIT_OK: "the factor is printed", EXIT_CONFIG: "a figure is missing or invalid"},
    )
    cal.add_argument(
        "--hz", type=float, help="drive frequency the belt ran at (default: asked for)"
    )
    cal.add_argument(
        "--revolutions",
        type=int,
        help="belt revolutions counted, a mark passing (default: asked for)",
    )
    cal.add_argument(
        "--seconds", type=float, help="time for those revolutions (default: asked for)"
    )
    cal.add_argument(
        "--belt-length-m", type=float, help="belt length, measured (default: asked for)"
    )
    cal.add_argument(
        "--roller-diameter-mm",
        type=float,
        help="for the theoretical comparison (default: none made)",
    )
    cal.add_argument("--gear-ratio", type=float, default=1.0, help="motor turns per roller turn")
    cal.add_argument("--poles", type=int, default=4, help="motor poles")
    return p


def _records_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def db(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument(
            "--db", type=Path, default=DEFAULT_DB, help=f"session database (default: {DEFAULT_DB})"
        )
        return sp

    pat = sub.add_parser("patients", help="patients in the session database")
    pat_sub = pat.add_subparsers(dest="patients_verb", required=True)
    db(pat_sub.add_parser("add", help="add or update a patient from a patient file")).add_argument(
        "--patient", type=PATIENT, required=True, help="patient file (TOML) or a sample's name"
    )
    db(pat_sub.add_parser("list", help="every patient"))
    pshow = db(pat_sub.add_parser("show", help="one patient and their sessions"))
    pshow.add_argument("pseudonym")
    pshow.add_argument("--all", action="store_true", help=ALL_HELP)

    ses = sub.add_parser("sessions", help="recorded sessions")
    ses_sub = ses.add_subparsers(dest="sessions_verb", required=True)
    slist = db(ses_sub.add_parser("list", help="every session, or one patient's"))
    slist.add_argument("--patient", default=None, metavar="PSEUDONYM")
    slist.add_argument("--all", action="store_true", help=ALL_HELP)
    db(ses_sub.add_parser("show", help="one session: status, segments, summary")).add_argument(
        "id", type=int
    )
    exp = db(ses_sub.add_parser("export", help="one session's samples (csv) or everything (json)"))
    exp.add_argument("id", type=int)
    exp.add_argument(
        "--format",
        choices=("csv", "json"),
        default="csv",
        help="csv: the 10 Hz samples; json: session, segments, events, samples (default: csv)",
    )
    exp.add_argument("--out", type=Path, default=None, help="file to write (default: stdout)")
    rep = db(ses_sub.add_parser("report", help="one session's clinician report (HTML, printable)"))
    rep.add_argument("id", type=int)
    rep.add_argument(
        "--out",
        type=Path,
        default=None,
        help="HTML file (default: session-ID-report.html next to the database)",
    )
    rpe = db(ses_sub.add_parser("rpe", help="record a session's rating of perceived exertion"))
    rpe.add_argument("id", type=int)
    rpe.add_argument("value", help="the rating, on the scale (Borg 6-20 by default)")
    rpe.add_argument(
        "--scale",
        choices=sorted(RPE_SCALES),
        default=DEFAULT_RPE_SCALE,
        help="borg: Borg RPE 6-20 (default); cr10: Borg CR10 0-10",
    )

    prog = db(
        sub.add_parser(
            "progress",
            help="a patient's sessions of a profile and the next session's prescription",
        )
    )
    prog.add_argument(
        "--patient", type=PATIENT, required=True, help="patient file (TOML) or a sample's name"
    )
    prog.add_argument("--profile", type=PROFILE, required=True, help=PROFILE_HELP)
    prog.add_argument(
        "--machine",
        type=MACHINE,
        default=DEFAULT_MACHINE,
        help="machine file or name the caps are checked against "
        f"(default: {DEFAULT_MACHINE}, the simulator)",
    )
    prog.add_argument(
        "--simulated",
        action="store_true",
        help="the simulated sessions (treadctl simulate --db) instead of the real ones",
    )
    prog.add_argument(
        "--all",
        action="store_true",
        help="also list demo runs and sessions in which the belt never moved (marked, not counted)",
    )


ALL_HELP = "also sessions on the built-in simulator and those in which the belt never moved"


def _records(args: argparse.Namespace) -> int:
    if args.verb == "patients":
        if args.patients_verb == "add":
            return verbs.patients_add(args.db, args.patient)
        if args.patients_verb == "list":
            return verbs.patients_list(args.db)
        return verbs.patients_show(args.db, args.pseudonym, args.all)
    if args.sessions_verb == "list":
        return verbs.sessions_list(args.db, args.patient, args.all)
    if args.sessions_verb == "show":
        return verbs.sessions_show(args.db, args.id)
    if args.sessions_verb == "rpe":
        return verbs.sessions_rpe(args.db, args.id, args.value, args.scale)
    if args.sessions_verb == "report":
        return report.report_verb(args.db, args.id, args.out)
    return verbs.sessions_export(args.db, args.id, args.format, args.out)


def _progress(args: argparse.Namespace) -> int:
    files = load_session(args.machine, args.profile, args.patient)
    kind = "simulate" if args.simulated else "run"
    assert files.patient is not None
    which = "simulated sessions" if args.simulated else "sessions"
    where = f"{which} in {args.db}; machine {files.machine.name}"
    who, name, standstill = (
        files.patient.pseudonym,
        files.profile.name,
        files.machine.limits.standstill_kmh,
    )
    params = files.plan.progression
    if params is None:  # no rule to prescribe from: the history only
        lines = verbs.history_lines(
            args.db, who, name, kind, standstill, where, include_all=args.all
        )
        print("\n".join(lines))
        return EXIT_OK
    progress = verbs.progress_of(
        args.db, params, who, name, args.profile, kind, standstill, include_all=args.all
    )
    # the plan with the prescription: refused here already if it breaks any rule
    apply_prescription(files, args.profile, progress.prescription)
    print("\n".join(verbs.progress_lines(progress, who, name, where)))
    return EXIT_OK


# Verbs that serve sockets: a peer that hangs up must be an EPIPE error to handle, never
# a SIGPIPE that kills the controller (or the simulator) with the belt running.
SERVING_VERBS = frozenset({"serve", "run", "sim", "dashboard", "monitor"})


def console_main() -> int:
    """The `treadctl` command: a process of its own, so it may set process-wide signals."""
    verb = next((a for a in sys.argv[1:] if not a.startswith("-")), "")
    if hasattr(signal, "SIGPIPE") and verb not in SERVING_VERBS:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `treadctl simulate ... | head` is fine
    return main()


def main(argv: list[str] | None = None) -> int:
    """The verbs, callable in-process: changes no process-wide state."""
    args = _parser().parse_args(argv)
    try:
        if args.verb == "check":
            files = load_session(args.machine, args.profile, args.patient)
            plan = files.plan
            print(
                f"ok: {plan.profile.name}: {len(plan.segments)} segments, "
                f"{plan.total_s / 60:.1f} min"
            )
            return EXIT_OK if args.offline else _check_links(files.machine)
        if args.verb == "plan":
            files = load_session(args.machine, args.profile, args.patient)
            print("\n".join(plan_lines(files.plan, files.patient, files.machine)))
            return EXIT_OK
        if args.verb == "profiles":
            print("\n".join(profile_lines()))
            return EXIT_OK
        if args.verb == "simulate":
            return _simulate(args)
        if args.verb == "run":
            return _run(args)
        if args.verb == "serve":
            return _serve(args)
        if args.verb == "dashboard":
            from treadctl.tui.app import run_dashboard  # noqa: PLC0415 - Textual loads slowly

            return run_dashboard(args.socket)
        if args.verb == "status":
            return status_main(args.socket, args.json)
        if args.verb == "monitor":
            return monitor_main(args)
        if args.verb == "stop":
            return stop_main(args.socket)
        if args.verb == "sim":
            return _sim(args)
        if args.verb == "drive":
            return _probe(args)
        if args.verb == "calibrate":
            return _calibrate(args)
        if args.verb in ("patients", "sessions"):
            return _records(args)
        if args.verb == "progress":
            return _progress(args)
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
    return EXIT_CONFIG


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


def _sim(args: argparse.Namespace) -> int:
    if args.tcp is None and args.rtu is None:
        print("treadctl sim: give --tcp HOST:PORT and/or --rtu DEVICE", file=sys.stderr)
        return EXIT_CONFIG
    opts = SimOptions(
        map_name=args.map,
        kmh_per_hz=args.kmh_per_hz,
        tcp=host_port(args.tcp) if args.tcp else None,
        rtu=args.rtu,
        baudrate=args.baud,
        parity=args.parity,
        wire_timing=args.wire_timing,
        drive_id=args.drive_id,
        io_id=args.io_id,
        control=host_port(args.control) if args.control else None,
        scenario=args.scenario,
        machine=args.machine,
        personality=args.drive,
    )
    return asyncio.run(run_sim(opts))


def _probe(args: argparse.Namespace) -> int:
    ctx: ProbeContext | None = None
    map_name = args.map
    if args.machine is not None:
        machine = load_model(args.machine, MachineConfig)
        ctx, machine_map = machine_context(machine, str(args.machine), args.rate_hz)
        map_name = map_name or machine_map
    link: TcpLink | SerialLink
    if args.tcp:
        host, port = host_port(args.tcp)
        link = TcpLink(kind="tcp", host=host, port=port, timeout_s=args.timeout)
    elif args.rtu:
        link = SerialLink(
            kind="rtu",
            port=args.rtu,
            baudrate=args.baud,
            parity=args.parity,
            timeout_s=args.timeout,
        )
    elif ctx is not None:
        link = ctx.link.model_copy(update={"timeout_s": args.timeout})
    else:
        print(
            "treadctl drive probe: give --tcp HOST:PORT, --rtu DEVICE or --machine FILE",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    if map_name is None:
        print("treadctl drive probe: give --map or --machine", file=sys.stderr)
        return EXIT_CONFIG
    regmap = load_map(map_name, "treadctl drive probe --map")
    device_id = args.device_id or (ctx.device_id if ctx else 1)
    kmh_per_hz = args.kmh_per_hz or (ctx.kmh_per_hz if ctx else 0.1)
    rate = args.rate_hz or LoopConfig().rate_hz
    loop = ctx.loop if ctx else LoopConfig(rate_hz=rate)
    inputs = ctx.input_reads if ctx else None
    machine_link = ctx is not None and not (args.tcp or args.rtu)
    source = ctx.machine_file if ctx and machine_link else ""
    ctx = ProbeContext(link, device_id, kmh_per_hz, loop, inputs, source)
    lines = asyncio.run(probe(link, regmap, device_id, kmh_per_hz, ctx))
    print("\n".join(lines))
    return EXIT_CONNECT if any(line.startswith("  error:") for line in lines) else EXIT_OK


def _ask(value: float | None, prompt: str, kind: type = float) -> float:
    if value is not None:
        return value
    if not sys.stdin.isatty():
        raise ValueError(f"missing {prompt} (give it as an option)")
    return float(kind(input(f"{prompt}: ")))


def _calibrate(args: argparse.Namespace) -> int:
    print(
        "Calibration: nobody on the belt. Run the drive at a fixed frequency from its own\n"
        "keypad (local mode), mark the belt, time N passes of the mark, measure the belt."
    )
    try:
        hz = _ask(args.hz, "frequency (Hz)")
        revs = int(_ask(args.revolutions, "revolutions counted", int))
        seconds = _ask(args.seconds, "seconds for them")
        length = _ask(args.belt_length_m, "belt length (m)")
        result = from_measurement(hz, revs, seconds, length)
    except ValueError as exc:
        print(f"treadctl calibrate: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print("\n".join(result.lines(hz)))
    if args.roller_diameter_mm:
        theory = from_mechanics(args.roller_diameter_mm, args.gear_ratio, args.poles)
        slip = (1 - result.kmh_per_hz / theory) * 100
        print(
            f"from the mechanics (no slip): {theory:.5f} km/h per Hz; measured is {slip:+.1f} % off"
        )
    return EXIT_OK


def _scenario(path: Path | None) -> Scenario | None:
    return Scenario.load(path) if path is not None else None


def _recorder(
    db: Path | None,
    kind: str,
    files: SessionFiles,
    profile_path: Path,
    events: EventLog,
    clock: Clock,
) -> SessionRecorder | None:
    """The session's database recorder; it opens the database in its own thread."""
    if db is None:
        return None
    try:
        text: str | None = profile_path.read_text(encoding="utf-8")
    except OSError:
        text = None
    info = SessionInfo(
        kind,
        files.profile.name,
        files.machine.name,
        files.plan.segments,
        files.patient,
        text,
        files.plan.prescription,
    )
    return SessionRecorder(db, info, events, clock, files.machine.limits.standstill_kmh)


def _close_recorder(recorder: SessionRecorder | None, exc: BaseException | None) -> None:
    if recorder is None:
        return
    if isinstance(exc, ConnectError):
        recorder.close("faulted", f"cannot start: {exc}")
    elif exc is not None:
        recorder.close("interrupted", f"controller error: {exc!r}")
    else:
        recorder.close()


def _record_lines(recorder: SessionRecorder | None, summary: SessionSummary) -> list[str]:
    """The session record's final word, printed under the summary."""
    if recorder is None:
        return []
    late = [] if summary.warnings else [f"  WARNING: {w}" for w in recorder.warnings()]
    lost = recorder.lost()
    if recorder.session_id is None:
        return [*late, f"  session record: NOT written to {recorder.path}"]
    where = f"  session record: session {recorder.session_id} in {recorder.path}"
    if recorder.problem is None and lost == (0, 0):
        return [*late, where]
    return [*late, f"{where}, INCOMPLETE: {lost[0]} samples and {lost[1]} events not recorded"]


def _with_progress(
    args: argparse.Namespace, files: SessionFiles, kind: str, db: Path | None
) -> SessionFiles:
    """With --progress: the plan with the prescription from the recorded sessions, and the
    reason printed before anything starts. Refused (exit 2) rather than run without it."""
    if not args.progress:
        return files
    if db is None:
        raise UsageError("--progress needs --db: the database with the patient's sessions")
    if files.patient is None:
        raise UsageError("--progress needs --patient: a prescription is for one patient")
    progress = session_progress(files, args.profile, db, kind, create=True)
    files = apply_prescription(files, args.profile, progress.prescription)
    counted = len(progress.results)
    which = "simulated " if kind == "simulate" else ""
    print(
        f"progression: {progress.prescription} "
        f"(from {counted} counted {which}session{'s' if counted != 1 else ''} in {db})"
    )
    for note in progress.notes:
        print(f"  note: {note}")
    sys.stdout.flush()
    return files


def _simulate(args: argparse.Namespace) -> int:
    files = load_session(args.machine, args.profile, args.patient)
    files = _with_progress(args, files, "simulate", args.db)
    scenario = _scenario(args.scenario)
    operator = scenario.operator_for() if scenario else ScriptedOperator()
    clock = VirtualClock()
    events_path = args.events or _default_events_path("simulate")
    events = EventLog(events_path)
    recorder = _recorder(args.db, "simulate", files, args.profile, events, clock)
    session = build_sim_session(
        files, clock, events, operator, scenario, end_on_fault=True, recorder=recorder
    )
    error: BaseException | None = None
    try:
        summary = asyncio.run(session.loop.run())
    except BaseException as exc:
        error = exc
        raise
    finally:
        _close_recorder(recorder, error)
        events.close()
    if not args.quiet:
        print("Timeline:")
        for record in events.records:
            line = format_event(record, len(files.plan.segments))
            if line is not None:
                print("  " + line)
    for line in [*summary.lines(), *_record_lines(recorder, summary)]:
        print(line)
    print(f"  event log: {events_path}")
    return EXIT_OK if summary.outcome == "completed" else EXIT_NOT_COMPLETED


def _run(args: argparse.Namespace) -> int:
    files = load_session(args.machine, args.profile, args.patient)
    files = _with_progress(args, files, "run", args.db)
    scenario = _scenario(args.scenario)
    if not args.headless:
        return run_with_dashboard(args)
    if args.mqtt is not None:
        raise UsageError("--mqtt needs the controller process: leave out --headless")

    def console(
        clock: Clock,
        events: EventLog,
        operator: ScriptedOperator | None,
        recorder: SessionRecorder | None,
    ) -> SessionRun:
        async def main() -> SessionSummary:
            # built inside the event loop: pymodbus clients need a running loop
            session = build_session(files, clock, events, operator, scenario, recorder=recorder)
            try:
                return await _run_console(session.loop)
            finally:
                await session.loop.close()

        return main()

    return _realtime(args, files, scenario, console)


def _serve(args: argparse.Namespace) -> int:
    """The controller process: no terminal of its own; events go to stdout (a log file)."""
    files = load_session(args.machine, args.profile, args.patient)
    bridges: list[Bridge] = []
    if args.mqtt is not None:
        bridges.append(MqttBridge(load_mqtt_config(args.mqtt)))
    files = _with_progress(args, files, "run", args.db)
    scenario = _scenario(args.scenario)

    def ready(_api: object) -> None:
        print(f"controller: listening on {args.socket}", flush=True)

    def controller(
        clock: Clock,
        events: EventLog,
        operator: ScriptedOperator | None,
        recorder: SessionRecorder | None,
    ) -> SessionRun:
        return Controller(
            files,
            clock,
            events,
            args.socket,
            recorder=recorder,
            scenario=scenario,
            operator=operator,
            handle_signals=True,
            on_ready=ready,
            bridges=bridges,
        ).run()

    return _realtime(args, files, scenario, controller)


def _realtime(
    args: argparse.Namespace, files: SessionFiles, scenario: Scenario | None, runner: Runner
) -> int:
    """A real-time session: event log echoed to stdout, the record kept whatever happens,
    the summary printed; exit 0 only for a completed session."""
    operator = None
    if args.operator == "auto":
        operator = scenario.operator_for() if scenario else ScriptedOperator()
    clock: Clock = MonotonicClock(fine_s=FINE_SLEEP_S)  # this process runs one loop
    events_path = args.events or _default_events_path("run")
    total = len(files.plan.segments)
    events = EventLog(events_path, echo=sys.stdout, formatter=lambda r: format_event(r, total))
    recorder = _recorder(args.db, "run", files, args.profile, events, clock)
    # after the event-log and database threads exist: they keep normal scheduling
    warning = raise_priority(files.machine.loop.realtime_priority)
    if warning is not None:
        events.write(0.0, clock.wall_time(), "warning", text=warning)
    # Everything imported and built so far lives as long as the process: out of the
    # collector's sight, a full collection no longer stops the loop for ~90 ms to scan it.
    gc.freeze()
    error: BaseException | None = None
    try:
        summary = asyncio.run(runner(clock, events, operator, recorder))
    except BaseException as exc:
        error = exc
        raise
    finally:
        _close_recorder(recorder, error)
        events.close()
    for line in [*summary.lines(), *_record_lines(recorder, summary)]:
        print(line)
    print(f"  event log: {events_path}")
    sys.stdout.flush()
    return EXIT_OK if summary.outcome == "completed" else EXIT_NOT_COMPLETED


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


def checklist_lines(machine: MachineConfig, plan: Plan, index: int) -> list[str]:
    """The checklist of segment `index` as the headless console prints it."""
    words = segment_words(plan.segments[index], len(plan.segments))
    return [
        f"pre-start checklist for {words} (confirm each before `start`):",
        *(f"  [ ] {item}" for item in checklist(machine, plan, index)),
    ]


class ConsolePrompts:
    """What the headless console tells its operator at each stop before a start: the
    checklist of the segment about to start and the word that comes next (`turned` on a
    turn-round machine's turnaround, then `start`). Pure: fed one snapshot at a time."""

    def __init__(self, machine: MachineConfig, plan: Plan) -> None:
        self.machine = machine
        self.plan = plan
        self.checked: int | None = 0  # the first checklist is printed at the session's start
        self.turn_said: int | None = None
        self.ready_said: int | None = None

    def lines(self, snap: LoopSnapshot) -> list[str]:
        out = snap.outputs
        segs = self.plan.segments
        if out is None or snap.sequencer.ended or snap.segment_index >= len(segs):
            return []
        if out.mode is Mode.RUNNING:  # the next stop prompts afresh
            self.checked = self.turn_said = self.ready_said = None
            return []
        i = snap.segment_index
        seg = segs[i]
        walking = Direction.BACKWARD if seg.kind is SegmentKind.BACKWARD else Direction.FORWARD
        if (
            seg.kind is SegmentKind.REST
            or out.mode is not Mode.STOPPED
            or not out.at_standstill
            or out.direction is not walking
        ):
            return []
        words = segment_words(seg, len(segs))
        lines: list[str] = []
        if out.turn_pending:
            if self.turn_said != i:
                self.turn_said = i
                lines.append(
                    f"turnaround: the walker turns round to face {facing_words(walking)} "
                    f"(belt at standstill); type `turned` once they have, then `start` {words}"
                )
        elif self.ready_said != i:
            self.ready_said = i
            lines.append(f"ready: type `start` for {words}")
        if lines and self.checked != i:
            self.checked = i
            lines += checklist_lines(self.machine, self.plan, i)
        return lines


async def _run_console(loop: ControlLoop) -> SessionSummary:
    """Run the loop with stdin as the operator's console and SIGINT/SIGTERM as stop."""
    aio = asyncio.get_running_loop()
    step = loop.p.machine.speed_step_kmh
    if loop.p.plan.segments:
        print("\n".join(checklist_lines(loop.p.machine, loop.p.plan, 0)), flush=True)
    prompts = ConsolePrompts(loop.p.machine, loop.p.plan)

    async def prompt() -> None:
        while True:
            lines = prompts.lines(loop.snapshot)
            if lines:
                print("\n".join(lines), flush=True)
            await asyncio.sleep(0.1)

    def handle_line(line: str) -> None:
        out = loop.snapshot.outputs
        target = out.target_kmh if out is not None else 0.0
        action = parse_line(line, target, step)
        if action.command is not None:
            loop.submit(action.command)
        if action.quit:
            loop.request_quit()
        if action.status and out is not None:
            reasons = ", ".join(r.value for r in out.reasons) or "-"
            print(
                f"status: {out.mode.value}, {out.direction.value}, target "
                f"{out.target_kmh:.2f} km/h, command {loop.snapshot.setpoint_kmh:.2f} km/h, "
                f"reasons: {reasons}",
                flush=True,
            )
        if action.message:
            print(action.message, flush=True)

    def reader() -> None:
        for line in sys.stdin:
            aio.call_soon_threadsafe(handle_line, line)

    if sys.stdin is not None and not sys.stdin.closed:
        threading.Thread(target=reader, name="console", daemon=True).start()
        if sys.stdin.isatty():
            print(HELP, flush=True)

    def on_signal() -> None:
        loop.request_quit("signal")

    for sig in (signal.SIGINT, signal.SIGTERM):
        aio.add_signal_handler(sig, on_signal)
    prompter = asyncio.create_task(prompt(), name="console-prompts")
    try:
        return await loop.run()
    finally:
        prompter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await prompter


if __name__ == "__main__":
    raise SystemExit(console_main())
