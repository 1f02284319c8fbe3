"""`treadctl check --machine` of an FTMS treadmill tries its Bluetooth link (issue 24):
before, it printed ok without opening anything. As a process of its own, driving an
emulated controller over a real TCP socket (bumble's tcp-client transport), as it would
drive a USB dongle."""

from __future__ import annotations

import asyncio
import re
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from treadctl.ble.ftms_emulator import EmulatedTreadmill
from treadctl.heartrate.emulator import VirtualRadio

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "src/treadctl/samples/machines/ftms.toml"
TREADMILL = "F7:1A:33:0C:52:9E"  # the shipped file's
WAIT_S = 60.0
EXIT_OK, EXIT_CONNECT = 0, 3


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


def machine_file(tmp_path: Path, transport: str, timeout_s: float = 2.0) -> Path:
    """The shipped FTMS machine file with the emulated controller's transport."""
    text = SHIPPED.read_text(encoding="utf-8")
    text, n = re.subn(r'(?m)^transport = "usb:0"', f'transport = "{transport}"', text)
    assert n == 1
    text, n = re.subn(r"(?m)^connect_timeout_s = 10\.0", f"connect_timeout_s = {timeout_s}", text)
    assert n == 1
    path = tmp_path / "ftms.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def check(machine: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "treadctl.cli", "check", "--machine", str(machine),
        "--profile", "demo-short",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), WAIT_S)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_check_hears_the_treadmill(served: tuple[VirtualRadio, str], tmp_path: Path) -> None:
    radio, spec = served
    treadmill = EmulatedTreadmill(radio, TREADMILL)
    await treadmill.start()
    try:
        rc, out, err = await check(machine_file(tmp_path, spec))
    finally:
        await treadmill.stop()
    assert rc == EXIT_OK, err
    assert f"drive link: Bluetooth FTMS {TREADMILL} through {spec}: can be opened" in out
    assert not treadmill.controlled  # heard, never connected to or written


async def test_check_says_when_the_treadmill_is_not_heard(
    served: tuple[VirtualRadio, str], tmp_path: Path
) -> None:
    _, spec = served
    rc, out, err = await check(machine_file(tmp_path, spec, timeout_s=1.0))
    assert rc == EXIT_CONNECT
    assert f"drive link: Bluetooth FTMS {TREADMILL} through {spec}: UNREACHABLE: " in out
    assert f"treadctl check: drive link: {TREADMILL} not heard advertising in 1 s" in err


async def test_check_says_when_the_controller_cannot_be_opened(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens there once closed
    spec = f"tcp-client:127.0.0.1:{port}"
    rc, _, err = await check(machine_file(tmp_path, spec))
    assert rc == EXIT_CONNECT
    assert "treadctl check: drive link: cannot open the Bluetooth controller: " in err
    assert "ConnectionRefusedError" in err
    assert "Traceback" not in err
