"""`treadctl hr scan` as a process of its own, driving an emulated controller over a real
TCP socket (bumble's tcp-client transport), as it would drive a USB dongle."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest

from treadctl.cli.common import (
    EXIT_CONFIG,
    EXIT_CONNECT,
    EXIT_NOT_COMPLETED,
    EXIT_OK,
    HelpFormatter,
)
from treadctl.cli.hr import (
    EXIT_FOUND,
    EXIT_NO_CONTROLLER,
    EXIT_NONE,
    add_parser,
    main,
)
from treadctl.config.heartrate import BackoffConfig, BleSourceConfig
from treadctl.drives.ble_link import TransportLink
from treadctl.heartrate.ble import BleHeartRate
from treadctl.heartrate.emulator import EmulatedStrap, VirtualRadio

WAIT_S = 60.0


@pytest.fixture
async def served() -> AsyncIterator[tuple[VirtualRadio, str]]:
    """A virtual radio and the tcp-client spec of a controller on it."""
    radio = VirtualRadio()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    transport = await radio.serve_controller(sock)
    try:
        yield radio, f"tcp-client:127.0.0.1:{port}"
    finally:
        await transport.close()


async def bounded(aw: Awaitable[None], what: str) -> None:
    """Await with a limit; past it, print every task's stack (a hang says where it is)."""
    try:
        async with asyncio.timeout(WAIT_S):
            await aw
    except TimeoutError:
        for task in asyncio.all_tasks():
            print(task, file=sys.stderr)
            task.print_stack(file=sys.stderr)
        raise AssertionError(f"not within {WAIT_S:g} s: {what}") from None


async def run_verb(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-W", "error", "-m", "treadctl.cli", "hr", "scan", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), WAIT_S)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_scan_verb_lists_two_straps_with_rssi(served: tuple[VirtualRadio, str]) -> None:
    radio, spec = served
    a = EmulatedStrap(radio, "C1:00:00:00:00:0A", "Polar H10 A")
    b = EmulatedStrap(radio, "C1:00:00:00:00:0B", "Garmin HRM B")
    await a.start()
    await b.start()
    try:
        rc, out, err = await run_verb("--transport", spec, "--duration-s", "1", "--json")
        rc_text, text, _ = await run_verb("--transport", spec, "--duration-s", "1")
    finally:
        await a.stop()
        await b.stop()
    assert rc == EXIT_FOUND, err
    rows = json.loads(out)
    assert sorted((r["address"], r["name"], r["rssi_dbm"]) for r in rows) == [
        ("C1:00:00:00:00:0A", "Polar H10 A", -50),
        ("C1:00:00:00:00:0B", "Garmin HRM B", -50),
    ]
    assert rc_text == EXIT_FOUND
    lines = [line.split() for line in text.splitlines()]
    assert ["C1:00:00:00:00:0A", "-50", "dBm", "Polar", "H10", "A"] in lines


async def test_scan_verb_says_none_in_range(served: tuple[VirtualRadio, str]) -> None:
    _, spec = served
    rc, out, _ = await run_verb("--transport", spec, "--duration-s", "0.5")
    assert rc == EXIT_NONE == EXIT_NOT_COMPLETED
    assert "no heart-rate straps in range" in out


async def test_scan_verb_without_a_controller_says_why() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens there once closed
    rc, _, err = await run_verb("--transport", f"tcp-client:127.0.0.1:{port}")
    assert rc == EXIT_NO_CONTROLLER
    assert "cannot open the controller" in err
    assert "ConnectionRefusedError" in err


async def test_ble_source_through_a_transport_link(served: tuple[VirtualRadio, str]) -> None:
    """The production link code (TransportLink, bumble's transport, HCI over a socket)."""
    radio, spec = served
    strap = EmulatedStrap(radio, "C1:00:00:00:00:0A", "Polar H10 A")
    await bounded(strap.start(), "the strap starts")
    cfg = BleSourceConfig(
        kind="ble", transport=spec, name="Polar H10 A", scan_timeout_s=5.0,
        reconnect=BackoffConfig(initial_s=0.05, max_s=0.5),
    )  # fmt: skip
    src = BleHeartRate(cfg, TransportLink(cfg.transport, cfg.own_address, cfg.connect_timeout_s))
    src.start()
    try:
        await asyncio.wait_for(strap.subscribed.wait(), WAIT_S)
        async with asyncio.timeout(WAIT_S):
            while await src.read_bpm() != 77.0:
                await strap.send(77)
                await asyncio.sleep(0.05)
    finally:
        await bounded(src.stop(), "the source stops")
        await bounded(strap.stop(), "the strap stops")


def scan_parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser, Any]:
    """treadctl's parser with the hr group added, as cli.GROUPS will add it; the hr and
    the hr scan parsers."""
    parser = argparse.ArgumentParser(prog="treadctl", formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest="verb", required=True)
    add_parser(sub)
    hr = sub.choices["hr"]
    scan_verbs = next(a for a in hr._actions if isinstance(a, argparse._SubParsersAction))
    return parser, hr, scan_verbs.choices["scan"]


def test_help_states_defaults_examples_and_exit_codes() -> None:
    """The rules of tests/cli/test_help.py for every verb, on hr and hr scan."""
    parser, hr, scan_p = scan_parsers()
    formatter = HelpFormatter(prog="treadctl")
    for action in scan_p._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, action.dest
        if action.default not in (None, False):
            assert "default" in (formatter._get_help_string(action) or ""), action.dest
    for verb in (hr, scan_p):
        text = verb.format_help()
        examples = text.index("\nexamples:\n")
        codes = text.index("\nexit codes:\n")
        assert examples < codes
        lines = [line for line in text[examples:codes].splitlines()[2:] if line.strip()]
        assert lines
        for line in lines:
            assert line.strip().startswith("treadctl hr scan"), line
            argv = shlex.split(line.split("#")[0])
            args = parser.parse_args(argv[1:])
            assert args.func is main
        listed = [int(m) for m in re.findall(r"(?m)^  (\d)  ", text[codes:])]
        assert listed == [EXIT_OK, EXIT_CONFIG, EXIT_CONNECT, EXIT_NOT_COMPLETED]
    assert EXIT_NONE == EXIT_NOT_COMPLETED  # "none found" is never 1, Python's crash


def test_importing_the_verb_does_not_import_bumble() -> None:
    """`treadctl` imports every verb at start: the Bluetooth stack only when scanning."""
    code = (
        "import sys, treadctl.cli.common, treadctl.cli.hr; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'bumble'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"
