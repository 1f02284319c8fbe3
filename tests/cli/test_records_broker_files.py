"""A clinic file whose [broker] names a file that cannot be read (issue 24): `records
serve` and `records ship` over MQTT refuse with one line naming the clinic file, the field
and the file, exit 2, as `serve --mqtt` does for mqtt.toml; never a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

EXIT_CONFIG = 2
EXIT_UNREACHABLE = 3

INGESTER = """
[records]
url = "postgresql://treadctl@127.0.0.1:{port}/treadctl"
site = "clinic-a"

[broker]
host = "127.0.0.1"
port = {port}
username = "ingester"
password_file = "ingester.password"
timeout_s = 0.5
"""

TREADMILL = """
[records]
treadmill_id = "tm-01"
site = "clinic-a"

[broker]
host = "127.0.0.1"
port = {port}
username = "tm-01"
password_file = "tm-01.password"
timeout_s = 0.5
{tls}
"""


def _closed_port() -> int:
    """A port nobody listens on: what is tried after the files are checked is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _treadctl(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "treadctl.cli", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def _refused_one_line(done: subprocess.CompletedProcess[str], clinic: Path, want: str) -> None:
    assert done.returncode == EXIT_CONFIG, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"{clinic}: broker.")
    assert want in done.stderr


def test_records_serve_names_the_missing_password_file(tmp_path: Path) -> None:
    clinic = tmp_path / "ingester.toml"
    clinic.write_text(INGESTER.format(port=_closed_port()))
    done = _treadctl(tmp_path, "records", "serve", "--clinic", str(clinic))
    missing = tmp_path / "ingester.password"
    _refused_one_line(
        done, clinic, f"broker.password_file: cannot read {missing}: No such file or directory"
    )
    assert done.stdout == ""  # nothing started: no "ingesting ..." line


@pytest.mark.parametrize("follow", [False, True])
def test_records_ship_names_the_missing_password_file(tmp_path: Path, follow: bool) -> None:
    clinic = tmp_path / "treadmill-mqtt.toml"
    clinic.write_text(TREADMILL.format(port=_closed_port(), tls=""))
    argv = ["records", "ship", "--clinic", str(clinic), "--db", str(tmp_path / "tm.sqlite")]
    done = _treadctl(tmp_path, *argv, *(["--follow"] if follow else []))
    missing = tmp_path / "tm-01.password"
    _refused_one_line(
        done, clinic, f"broker.password_file: cannot read {missing}: No such file or directory"
    )


def test_records_ship_refuses_an_empty_password_file_and_a_missing_ca(tmp_path: Path) -> None:
    clinic = tmp_path / "treadmill-mqtt.toml"
    tls = '[broker.tls]\nca_file = "clinic-ca.pem"'
    clinic.write_text(TREADMILL.format(port=_closed_port(), tls=tls))
    (tmp_path / "tm-01.password").write_text("\n")
    done = _treadctl(tmp_path, "records", "ship", "--clinic", str(clinic))
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert lines == [
        f"{clinic}: broker.password_file: {tmp_path / 'tm-01.password'} is empty: "
        "the first line is the password",
        f"{clinic}: broker.tls.ca_file: cannot read {tmp_path / 'clinic-ca.pem'}: "
        "No such file or directory",
    ]


def test_records_ship_with_its_password_file_goes_on_to_the_broker(tmp_path: Path) -> None:
    """The check refuses only what is missing: with the file there, ship tries the broker
    (nobody listens: unreachable, exit 3)."""
    clinic = tmp_path / "treadmill-mqtt.toml"
    clinic.write_text(TREADMILL.format(port=_closed_port(), tls=""))
    (tmp_path / "tm-01.password").write_text("secret\n")
    db = tmp_path / "tm.sqlite"
    simulated = _treadctl(tmp_path, "simulate", "demo-short", "--quiet", "--db", str(db))
    assert simulated.returncode == 0, simulated.stderr
    done = _treadctl(tmp_path, "records", "ship", "--clinic", str(clinic), "--db", str(db))
    assert done.returncode == EXIT_UNREACHABLE, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert "password" not in done.stderr
