"""`treadctl check` tries the machine file's link without sending anything (issue 13).

A machine file whose serial port does not exist used to pass as `ok:`. Now `check`
names the link it would use and whether it can be opened right now: exit 3 with the
reason in words when it cannot, `--offline` for the files only.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from treadctl.cli import EXIT_CONFIG, EXIT_CONNECT, EXIT_OK, main
from treadctl.drives.reach import serial_problem

SIM_MACHINE = Path(__file__).resolve().parents[2] / "src/treadctl/samples/machines/sim.toml"


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two linked serial devices from socat (as tests/drives/conftest.py)."""
    socat = shutil.which("socat")
    if socat is None:
        pytest.fail("socat is not installed: scripts/test installs it (apt-get install socat)")
    a, b = tmp_path / "ttyA", tmp_path / "ttyB"
    proc = subprocess.Popen(
        [socat, f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    end = time.monotonic() + 5
    while not (a.exists() and b.exists()):
        if time.monotonic() > end or proc.poll() is not None:
            proc.kill()
            pytest.fail("socat did not create the pty pair")
        time.sleep(0.01)
    yield str(a), str(b)
    proc.terminate()
    proc.wait(timeout=5)


def machine_file(tmp_path: Path, link: str, inputs: str = 'link = "drive"') -> Path:
    """The shipped simulator machine with a Modbus drive on `link` instead."""
    text = SIM_MACHINE.read_text(encoding="utf-8")
    drive = (
        '[drive]\nkind = "modbus"\nmap = "generic"\nkmh_per_hz = 0.1\n'
        f"[drive.link]\n{link}\n"
        f'[safety_inputs]\nkind = "modbus"\n{inputs}\n\n'
    )
    text = text[: text.index("[drive]")] + drive + text[text.index("[loop]") :]
    path = tmp_path / "machine.toml"
    path.write_text(text, encoding="utf-8")
    return path


def check(capsys: pytest.CaptureFixture[str], machine: Path, *extra: str) -> tuple[int, str, str]:
    code = main(["check", "--machine", str(machine), "--profile", "demo-short", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def rtu(port: str) -> str:
    return f'kind = "rtu"\nport = "{port}"\nbaudrate = 115200\nparity = "N"'


def closed_port() -> int:
    """A local TCP port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_a_missing_serial_port_is_exit_3_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "ttyUSB9")
    code, out, err = check(capsys, machine_file(tmp_path, rtu(missing)))
    assert code == EXIT_CONNECT == 3
    assert f"drive link: Modbus RTU {missing}, 115200 baud 8N1: UNREACHABLE" in out
    assert f"serial port {missing} does not exist" in err


def test_offline_checks_the_files_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = check(
        capsys, machine_file(tmp_path, rtu(str(tmp_path / "ttyUSB9"))), "--offline"
    )
    assert code == EXIT_OK
    assert out.startswith("ok: ")
    assert "link" not in out
    assert err == ""


def test_a_pty_is_a_serial_port_that_opens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pty_pair: tuple[str, str]
) -> None:
    a, b = pty_pair
    code, out, err = check(capsys, machine_file(tmp_path, rtu(a)))
    assert (code, err) == (EXIT_OK, "")
    assert out.splitlines()[0].startswith("ok: ")
    assert f"drive link: Modbus RTU {a}, 115200 baud 8N1: can be opened" in out
    # the safety inputs on the drive's bus are the drive's link: not a second line
    assert "safety inputs link" not in out
    # nothing was written to the other end
    fd = os.open(b, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        with pytest.raises(BlockingIOError):
            os.read(fd, 100)
    finally:
        os.close(fd)


def test_a_regular_file_is_not_a_serial_port(tmp_path: Path) -> None:
    path = tmp_path / "ttyFAKE"
    path.write_text("", encoding="utf-8")
    assert serial_problem(str(path)) == f"{path} is not a serial port (not a character device)"


def test_a_device_without_permission_names_the_group(
    pty_pair: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A character device this user may not open (as root, the refusal is simulated)."""

    def refuse(path: str, _flags: int) -> int:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "open", refuse)
    problem = serial_problem(pty_pair[0])
    assert problem is not None
    assert problem.startswith(f"permission denied on {pty_pair[0]}: add the user to the ")
    assert "group" in problem


def test_tcp_to_a_closed_port_is_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = closed_port()
    link = f'kind = "tcp"\nhost = "127.0.0.1"\nport = {port}'
    code, out, err = check(capsys, machine_file(tmp_path, link))
    assert code == EXIT_CONNECT
    assert f"drive link: Modbus TCP 127.0.0.1:{port}: UNREACHABLE" in out
    assert f"connection refused by 127.0.0.1:{port}" in err


def test_tcp_to_a_listening_port_is_ok_and_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        link = f'kind = "tcp"\nhost = "127.0.0.1"\nport = {port}'
        code, out, err = check(capsys, machine_file(tmp_path, link))
        assert (code, err) == (EXIT_OK, "")
        assert f"drive link: Modbus TCP 127.0.0.1:{port}: can be opened" in out
        conn, _ = server.accept()
        with conn:
            conn.settimeout(2)
            assert conn.recv(100) == b""  # closed without a byte: no Modbus traffic


def test_separate_safety_input_link_is_tried_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pty_pair: tuple[str, str]
) -> None:
    missing = str(tmp_path / "ttyUSB7")
    inputs = f"[safety_inputs.link]\n{rtu(missing)}"
    code, out, err = check(capsys, machine_file(tmp_path, rtu(pty_pair[0]), inputs))
    assert code == EXIT_CONNECT
    assert "drive link:" in out
    assert "can be opened" in out
    assert f"treadctl check: safety inputs link: serial port {missing} does not exist" in err


def test_the_simulator_has_no_link_to_try(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = check(capsys, SIM_MACHINE)
    assert (code, err) == (EXIT_OK, "")
    assert out.startswith("ok: ")
    assert "link" not in out


def test_a_bad_file_is_still_exit_2_before_any_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    machine = machine_file(tmp_path, rtu(str(tmp_path / "ttyUSB9")))
    machine.write_text(
        machine.read_text(encoding="utf-8").replace(
            "max_forward_kmh = 12.0", "max_forward_kmh = 99.0"
        ),
        encoding="utf-8",
    )
    code, out, _err = check(capsys, machine)
    assert code == EXIT_CONFIG
    assert "link" not in out


def test_line_settings_the_device_refuses_are_exit_3_in_check_probe_and_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pty_pair: tuple[str, str]
) -> None:
    """A Linux pty opened once with even parity refuses it the next time (EINVAL from
    tcsetattr: a termios.error, not an OSError): `check` said "can be opened", and
    `drive probe` and `run` then died with a traceback (exit 1). All three now name the
    settings and exit 3; `check` puts the device's line state back as it found it."""
    a, _b = pty_pair
    serial.Serial(a, 115200, parity="E").close()  # a pty's first use: accepted once
    link = rtu(a).replace('parity = "N"', 'parity = "E"')
    machine = machine_file(tmp_path, link)
    code, out, err = check(capsys, machine)
    assert code == EXIT_CONNECT
    assert f"serial port {a} refuses 115200 baud, 8E1" in err + out
    code = main(["drive", "probe", "--map", "generic", "--rtu", a, "--baud", "115200"])
    out, err = capsys.readouterr()
    assert code == EXIT_CONNECT, out + err
    assert "cannot open with 115200 baud, 8E1" in out + err
    assert "Traceback" not in out + err
    done = subprocess.run(
        [
            *("treadctl", "run", "--headless", "--machine", str(machine)),
            *("--profile", "demo-short", "--db", str(tmp_path / "r.sqlite")),
            *("--events", str(tmp_path / "e.jsonl")),
        ],
        input="quit\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == EXIT_CONNECT, done.stdout + done.stderr
    assert "cannot open with 115200 baud, 8E1" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_check_leaves_the_line_state_as_it_found_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pty_pair: tuple[str, str]
) -> None:
    """`check` opens the port with the file's settings; had it left them set, the pty's
    quirk above would make the controller's own first open fail."""
    a, _b = pty_pair
    link = rtu(a).replace('parity = "N"', 'parity = "E"')
    code, out, _err = check(capsys, machine_file(tmp_path, link))
    assert code == EXIT_OK, out
    serial.Serial(a, 115200, parity="E").close()  # the controller's open still works


def test_an_incline_actuator_on_its_own_link_is_tried_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pty_pair: tuple[str, str]
) -> None:
    """A lift on its own bus (not the drive's) is a link the controller opens: `check`
    tries it like the drive's."""
    port = closed_port()
    machine = machine_file(tmp_path, rtu(pty_pair[0]))
    machine.write_text(
        machine.read_text(encoding="utf-8")
        + '\n[incline.actuator]\nkind = "position"\n'
        + f'[incline.actuator.link]\nkind = "tcp"\nhost = "127.0.0.1"\nport = {port}\n',
        encoding="utf-8",
    )
    code, out, err = check(capsys, machine)
    assert code == EXIT_CONNECT, out + err
    assert "drive link:" in out
    assert f"incline link: Modbus TCP 127.0.0.1:{port}: UNREACHABLE" in out
