"""The drive verbs: the HIL simulator (`sim`), `drive probe` and `calibrate`: their
parsers, and entry points that import the verbs (cli/drive_run.py: Modbus, the simulator's
server) when they run."""

from __future__ import annotations

import argparse

from treadctl.cli.common import (
    EXIT_CONFIG,
    EXIT_CONNECT,
    EXIT_OK,
    MACHINE,
    SCENARIO,
    Group,
    Subparsers,
    verb_parser,
)
from treadctl.sim.drive_names import MAP_DRIVEN, PERSONALITY_NAMES

DEFAULT_BAUD = 19200
DEFAULT_DEVICE_ID = 1  # without --device-id or a machine file
DEFAULT_KMH_PER_HZ = 0.1  # without --kmh-per-hz or a machine file
DEFAULT_RATE_HZ = 50.0  # the machine file's [loop] rate_hz default (LoopConfig's)
PROBE_EXITS = {
    EXIT_OK: "every register was read",
    EXIT_CONFIG: "no link or map given, or a file is refused",
    EXIT_CONNECT: "the drive could not be reached or a read failed",
}
PROBE_EXAMPLES = [
    "treadctl drive probe --map delta-ms300 --tcp 127.0.0.1:5020",
    "treadctl drive probe --map delta-ms300 --rtu /dev/ttyUSB0 --baud 115200",
    "treadctl drive probe --machine clinic.toml",
]


def add_parsers(sub: Subparsers) -> None:
    _add_sim(sub)
    _add_probe(sub)
    _add_calibrate(sub)


def _add_sim(sub: Subparsers) -> None:
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
    sim_p.add_argument("--baud", type=int, default=DEFAULT_BAUD, help="RTU baud rate")
    sim_p.add_argument(
        "--parity", choices=("N", "E", "O"), default="N", help="RTU parity (ptys accept only N)"
    )
    sim_p.add_argument(
        "--wire-timing",
        action="store_true",
        help="delay answers by the RTU wire time at --baud (ptys have none)",
    )
    sim_p.add_argument(
        "--kmh-per-hz", type=float, default=DEFAULT_KMH_PER_HZ, help="belt km/h per motor Hz"
    )
    sim_p.add_argument(
        "--machine",
        type=MACHINE,
        default=None,
        help="take belt physics or the calibration factor from a machine file",
    )
    sim_p.add_argument(
        "--drive",
        choices=(*PERSONALITY_NAMES, MAP_DRIVEN),
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


def _add_probe(sub: Subparsers) -> None:
    drive_p = verb_parser(
        sub, "drive", "commissioning tools for a real drive", PROBE_EXAMPLES, PROBE_EXITS
    )
    drive_sub = drive_p.add_subparsers(dest="drive_verb", required=True)
    probe_p = verb_parser(
        drive_sub,
        "probe",
        "read status, fault, comm-loss watchdog and commissioning parameters (reads only)",
        PROBE_EXAMPLES,
        PROBE_EXITS,
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
    probe_p.add_argument("--baud", type=int, default=DEFAULT_BAUD, help="RTU baud rate")
    probe_p.add_argument("--parity", choices=("N", "E", "O"), default="E", help="RTU parity")
    probe_p.add_argument(
        "--device-id", type=int, default=None, help="the drive's Modbus device id "
        f"(default: the machine's, else {DEFAULT_DEVICE_ID})",
    )  # fmt: skip
    probe_p.add_argument(
        "--kmh-per-hz",
        type=float,
        default=None,
        help=f"belt km/h per motor Hz (default: the machine's, else {DEFAULT_KMH_PER_HZ})",
    )
    probe_p.add_argument(
        "--timeout", type=float, default=0.5, help="seconds to wait for each answer"
    )
    probe_p.add_argument(
        "--rate-hz",
        type=float,
        default=None,
        help="loop rate the serial setting must carry (default: the machine's, "
        f"else {DEFAULT_RATE_HZ:g})",
    )


def _add_calibrate(sub: Subparsers) -> None:
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


def sim_verb(args: argparse.Namespace) -> int:
    from treadctl.cli import drive_run  # noqa: PLC0415 - the simulator's Modbus server

    return drive_run.sim_verb(args)


def probe_verb(args: argparse.Namespace) -> int:
    from treadctl.cli import drive_run  # noqa: PLC0415 - Modbus

    return drive_run.probe_verb(args)


def calibrate_verb(args: argparse.Namespace) -> int:
    from treadctl.cli import drive_run  # noqa: PLC0415

    return drive_run.calibrate_verb(args)


GROUP = Group(
    add_parsers,
    {"sim": sim_verb, "drive": probe_verb, "calibrate": calibrate_verb},
    serving=frozenset({"sim"}),
)
