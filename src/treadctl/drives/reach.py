"""Can a machine file's links be opened right now? (`treadctl check`; nothing is sent.)

RTU: the serial device exists, is a character device, and this user may open it for
reading and writing (it is opened non-blocking and closed again at once: no byte is
written). TCP: a connection to host:port is accepted within a short timeout, then
closed without any Modbus traffic.
"""

from __future__ import annotations

import contextlib
import grp
import os
import socket
import stat
import termios
from dataclasses import dataclass
from typing import Any

import serial

from treadctl.config.machine import (
    MachineConfig,
    ModbusDriveConfig,
    ModbusInputsConfig,
    PositionInclineConfig,
    RelayInclineConfig,
    SerialLink,
    TcpLink,
)

TCP_TIMEOUT_S = 2.0  # at most; a link's own connect_timeout_s if shorter


@dataclass(frozen=True)
class LinkReach:
    """One link of a machine file: which (`what`, `where`) and why not (`problem`)."""

    what: str  # "drive", "safety inputs"
    where: str  # "Modbus RTU /dev/ttyUSB0, 19200 baud 8E1"
    problem: str | None  # None: it can be opened now

    @property
    def line(self) -> str:
        state = "can be opened" if self.problem is None else f"UNREACHABLE: {self.problem}"
        return f"{self.what} link: {self.where}: {state}"


def describe(link: TcpLink | SerialLink) -> str:
    if isinstance(link, TcpLink):
        return f"Modbus TCP {link.host}:{link.port}"
    return f"Modbus RTU {link.port}, {link.baudrate} baud 8{link.parity}{link.stopbits}"


def serial_problem(path: str, settings: SerialLink | None = None) -> str | None:
    """Why the serial device at `path` cannot be opened now, in words; None if it can."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return f"serial port {path} does not exist (is the adapter plugged in?)"
    except PermissionError:
        return f"permission denied: cannot reach {path}"
    except OSError as exc:
        return f"serial port {path}: {exc.strerror}"
    if not stat.S_ISCHR(st.st_mode):
        return f"{path} is not a serial port (not a character device)"
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except PermissionError:
        return f"permission denied on {path}: {_group_advice(st.st_gid)}"
    except OSError as exc:
        return f"serial port {path} cannot be opened: {exc.strerror}"
    try:
        if settings is None:
            return None
        saved = _line_state(fd)
        try:
            return _settings_problem(path, settings)
        finally:  # the device as it was: a check leaves nothing behind
            if saved is not None:
                with contextlib.suppress(termios.error):
                    termios.tcsetattr(fd, termios.TCSANOW, saved)
    finally:
        os.close(fd)


def _line_state(fd: int) -> list[Any] | None:
    try:
        return termios.tcgetattr(fd)
    except termios.error:
        return None


def _settings_problem(path: str, link: SerialLink) -> str | None:
    """Whether the device takes the link's line settings, opened as the controller opens
    it (pyserial, as pymodbus does; no byte is sent). A pty or an adapter that refuses a
    parity would otherwise pass here and fail only when the controller opens it."""
    words = f"{link.baudrate} baud, 8{link.parity}{link.stopbits}"
    try:
        port = serial.Serial(
            port=path,
            baudrate=link.baudrate,
            parity=link.parity,
            stopbits=link.stopbits,
            bytesize=8,
            timeout=0,
        )
    except (termios.error, serial.SerialException, OSError, ValueError) as exc:
        return f"serial port {path} refuses {words}: {exc}"
    port.close()
    return None


def _group_advice(gid: int) -> str:
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = "dialout"
    if group == "root":
        group = "dialout"
    return f"add the user to the {group} group (sudo usermod -aG {group} $USER), then log in again"


def tcp_problem(host: str, port: int, timeout_s: float) -> str | None:
    """Why no connection to host:port is accepted within `timeout_s`; None if one is."""
    try:
        conn = socket.create_connection((host, port), timeout=timeout_s)
    except ConnectionRefusedError:
        return f"connection refused by {host}:{port} (nothing listens there)"
    except TimeoutError:
        return f"no answer from {host}:{port} within {timeout_s:g} s"
    except socket.gaierror:
        return f"unknown host {host}"
    except OSError as exc:
        return f"cannot connect to {host}:{port}: {exc.strerror or exc}"
    with contextlib.suppress(OSError):
        conn.close()
    return None


def link_problem(link: TcpLink | SerialLink) -> str | None:
    if isinstance(link, TcpLink):
        return tcp_problem(link.host, link.port, min(link.connect_timeout_s, TCP_TIMEOUT_S))
    return serial_problem(link.port, link)


def machine_links(machine: MachineConfig) -> list[tuple[str, TcpLink | SerialLink]]:
    """The links the controller would open for this machine (none for the simulator)."""
    links: list[tuple[str, TcpLink | SerialLink]] = []
    if isinstance(machine.drive, ModbusDriveConfig):
        links.append(("drive", machine.drive.link))
    inputs = machine.safety_inputs
    if isinstance(inputs, ModbusInputsConfig) and inputs.link != "drive":
        links.append(("safety inputs", inputs.link))
    actuator = machine.incline.actuator if machine.incline is not None else None
    if (
        isinstance(actuator, RelayInclineConfig | PositionInclineConfig)
        and actuator.link != "drive"
    ):
        links.append(("incline", actuator.link))  # the simulator's own lift has no link
    return links


def reach(machine: MachineConfig) -> list[LinkReach]:
    """Each link of the machine and whether it can be opened now; one try per distinct
    link (the safety inputs on the drive's own bus are the drive's link)."""
    out: list[LinkReach] = []
    tried: dict[str, str | None] = {}
    for what, link in machine_links(machine):
        where = describe(link)
        key = link.port if isinstance(link, SerialLink) else f"{link.host}:{link.port}"
        if key not in tried:
            tried[key] = link_problem(link)
        out.append(LinkReach(what, where, tried[key]))
    return out
