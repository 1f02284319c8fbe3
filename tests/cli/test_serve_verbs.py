"""`treadctl serve` as a process, with `status` and `stop` as separate processes."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 30.0


def treadctl(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "treadctl.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    short = Path(tempfile.mkdtemp(prefix="ts-", dir="/tmp"))
    sock = short / "c.sock"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "treadctl.cli",
            "serve",
            "--machine",
            str(ROOT / "src/treadctl/samples/machines/sim.toml"),
            "--profile",
            str(ROOT / "profiles/demo-short.toml"),
            "--patient",
            str(ROOT / "src/treadctl/samples/patients/demo.toml"),
            "--socket",
            str(sock),
            "--db",
            str(tmp_path / "t.sqlite"),
            "--events",
            str(tmp_path / "events.jsonl"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    deadline = time.monotonic() + DEADLINE_S
    while not sock.exists():
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert time.monotonic() < deadline, "the controller never opened its socket"
        time.sleep(0.05)
    yield proc, sock
    if proc.poll() is None:
        proc.terminate()
        proc.wait(30)
    if proc.stdout is not None:
        proc.stdout.close()
    shutil.rmtree(short, ignore_errors=True)


def test_clients_that_hang_up_never_kill_the_controller(
    served: tuple[subprocess.Popen[str], Path],
) -> None:
    proc, sock = served
    for _ in range(20):  # hang up while the controller writes status at 10 Hz
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(sock))
            s.sendall(b'{"type": "hello"}\n')
            s.recv(100)
        # abrupt close with unread data pending: the server's next write gets EPIPE
    time.sleep(0.5)
    assert proc.poll() is None, "the controller died when a client hung up"
    status = treadctl("status", "--socket", str(sock))
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines()[0] == "Demo: short backward bout: FAULTED FORWARD"
    assert "LATCHED: controller started: reset required" in status.stdout
    # numbered from 1 of the plan's count, as everywhere else (the demo has three)
    assert "  segment 1/3: " in status.stdout
    assert "[fault] Operator      no console attached: start refused" in status.stdout


def test_stop_ends_the_session_and_the_record_is_kept(
    served: tuple[subprocess.Popen[str], Path], tmp_path: Path
) -> None:
    proc, sock = served
    stop = treadctl("stop", "--socket", str(sock))
    assert stop.returncode == 0, stop.stderr
    assert stop.stdout.strip() == "stop: accepted: belt faulted"
    out, _ = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 4  # not completed
    assert "outcome: stopped by treadctl-stop" in out
    assert f"session record: session 1 in {tmp_path / 't.sqlite'}" in out
    assert not sock.exists()  # the controller removes its socket
    gone = treadctl("status", "--socket", str(sock))
    assert gone.returncode == 3
    assert "no controller answering" in gone.stderr
