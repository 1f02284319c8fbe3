"""The drive verbs when they run: the HIL simulator (`sim`), `drive probe` and `calibrate`
(their parsers are in cli/drive.py)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from treadctl.cli.common import EXIT_CONFIG, EXIT_CONNECT, EXIT_OK
from treadctl.cli.drive import DEFAULT_DEVICE_ID, DEFAULT_KMH_PER_HZ
from treadctl.config.loader import load_model
from treadctl.config.machine import LoopConfig, MachineConfig, SerialLink, TcpLink
from treadctl.drives.calibrate import from_measurement, from_mechanics
from treadctl.drives.probe import ProbeContext, machine_context, probe
from treadctl.drives.regmap import load_map
from treadctl.sim.main import SimOptions, host_port, run_sim


def sim_verb(args: argparse.Namespace) -> int:
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


def probe_verb(args: argparse.Namespace) -> int:
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
    device_id = args.device_id or (ctx.device_id if ctx else DEFAULT_DEVICE_ID)
    kmh_per_hz = args.kmh_per_hz or (ctx.kmh_per_hz if ctx else DEFAULT_KMH_PER_HZ)
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


def calibrate_verb(args: argparse.Namespace) -> int:
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
