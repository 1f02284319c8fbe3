"""`treadctl hr scan`: list the heart-rate straps in range, to pick one for the machine file."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import TYPE_CHECKING, TextIO

from treadctl.cli.common import (
    EXIT_CONFIG,
    EXIT_CONNECT,
    EXIT_NOT_COMPLETED,
    EXIT_OK,
    Group,
    HelpFormatter,
    epilog,
    verb_parser,
)

if TYPE_CHECKING:  # bumble takes about a second to import: only `hr scan` itself pays
    from treadctl.drives.ble_link import HciLink
    from treadctl.heartrate.scan import Found

EXIT_FOUND = EXIT_OK
EXIT_USAGE = EXIT_CONFIG
EXIT_NO_CONTROLLER = EXIT_CONNECT
# None in range: the scan did not find what it was for (1 is Python's own crash status).
EXIT_NONE = EXIT_NOT_COMPLETED

DEFAULT_TRANSPORT = "usb:0"
DEFAULT_OWN_ADDRESS = "C0:7E:AD:C7:00:01"
DEFAULT_DURATION_S = 5.0
MAX_DURATION_S = 120.0
OPEN_TIMEOUT_S = 10.0

TEXT = "list the heart-rate straps (or every advertiser) in range with their signal strength"
EXAMPLES = [
    f"treadctl hr scan                          # the first USB dongle, {DEFAULT_DURATION_S:g} s",
    "treadctl hr scan --transport hci-socket:0 # Linux adapter hci0 (stop bluetoothd first)",
    "treadctl hr scan --all --json             # every advertiser (an FTMS treadmill too)",
]
EXITS = {
    EXIT_FOUND: "at least one found",
    EXIT_USAGE: "bad options",
    EXIT_NO_CONTROLLER: "the Bluetooth controller could not be opened",
    EXIT_NONE: "none in range (not completed)",
}
DESCRIPTION = (
    TEXT[:1].upper() + TEXT[1:] + ".\nPut the address (or the name) of your strap in the "
    "machine file's [heart_rate.source]\n(docs/heart-rate.md), a treadmill's in [drive] "
    "(docs/ftms.md)."
)


def _duration(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: not a number") from exc
    if not (math.isfinite(value) and 0 < value <= MAX_DURATION_S):
        raise argparse.ArgumentTypeError(f"{text!r}: give 0 < seconds <= {MAX_DURATION_S:g}")
    return value


def _address(text: str) -> str:
    from treadctl.config.heartrate import ADDRESS_RE  # noqa: PLC0415 - pydantic: when parsed

    if not ADDRESS_RE.match(text):
        raise argparse.ArgumentTypeError(f"{text!r}: six hex pairs, e.g. C0:7E:AD:C7:00:01")
    return text


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hr = verb_parser(sub, "hr", "heart-rate sources (Bluetooth LE straps)", EXAMPLES, EXITS)
    verbs = hr.add_subparsers(dest="hr_verb", required=True, metavar="{scan}")
    p = verbs.add_parser(
        "scan",
        help=TEXT,
        description=DESCRIPTION,
        epilog=epilog(EXAMPLES, EXITS),
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "--transport",
        default=DEFAULT_TRANSPORT,
        help="bumble transport of the Bluetooth controller: usb:0, hci-socket:0, "
        "serial:/dev/ttyACM0 ...",
    )
    p.add_argument(
        "--duration-s",
        type=_duration,
        default=DEFAULT_DURATION_S,
        help=f"how long to listen, seconds (at most {MAX_DURATION_S:g})",
    )
    p.add_argument(
        "--own-address",
        type=_address,
        default=DEFAULT_OWN_ADDRESS,
        help="our own (random static) Bluetooth address on the air",
    )
    p.add_argument(
        "--all", action="store_true", help="every advertiser, not only heart-rate straps"
    )
    p.add_argument("--json", action="store_true", help="one JSON array on stdout")
    p.set_defaults(func=main)


def render(found: list[Found], as_json: bool) -> str:
    if as_json:
        rows = [
            {
                "address": f.address,
                "name": f.name,
                "rssi_dbm": f.rssi_dbm,
                "heart_rate_service": f.heart_rate_service,
            }
            for f in found
        ]
        return json.dumps(rows, indent=2)
    if not found:
        return "no heart-rate straps in range (exit status 4)"
    lines = [f"{'ADDRESS':<20} {'RSSI':>8}  NAME"]
    for f in found:
        rssi = f"{f.rssi_dbm} dBm" if f.rssi_dbm is not None else "?"
        lines.append(f"{f.address:<20} {rssi:>8}  {f.name or '(no name)'}")
    return "\n".join(lines)


async def scan_and_print(
    link: HciLink, duration_s: float, all_devices: bool, as_json: bool, out: TextIO
) -> int:
    from treadctl.heartrate.scan import scan  # noqa: PLC0415 - bumble: only when scanning

    found = await scan(link, duration_s, all_devices=all_devices)
    print(render(found, as_json), file=out)
    return EXIT_FOUND if found else EXIT_NONE


def main(args: argparse.Namespace) -> int:
    # bumble takes about a second to import: `treadctl` pays for it only here
    import asyncio  # noqa: PLC0415

    from treadctl.drives.ble_link import LinkError, TransportLink  # noqa: PLC0415

    link = TransportLink(args.transport, args.own_address, OPEN_TIMEOUT_S)
    try:
        return asyncio.run(scan_and_print(link, args.duration_s, args.all, args.json, sys.stdout))
    except LinkError as exc:
        print(f"treadctl hr scan: cannot open the controller: {exc}", file=sys.stderr)
        return EXIT_NO_CONTROLLER


GROUP = Group(add_parser, {"hr": main})
