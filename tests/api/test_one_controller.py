"""One controller per socket (issue 24): a second `treadctl serve` on the same socket is
refused, naming the first one's pid, with exit 3, before it opens or writes anything; the
first keeps its socket, its session and its clients. Real processes, real sockets."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 30.0
EXIT_CONNECT = 3


def treadctl(*args: str, timeout: float = DEADLINE_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "treadctl.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )


def serve_argv(sock: Path, db: Path, events: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "treadctl.cli",
        "serve",
        "--machine",
        str(ROOT / "src/treadctl/samples/machines/sim.toml"),
        "--profile",
        str(ROOT / "profiles/demo-short.toml"),
        "--socket",
        str(sock),
        "--db",
        str(db),
        "--events",
        str(events),
    ]


def start_serving(sock: Path, db: Path, events: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        serve_argv(sock, db, events),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    deadline = time.monotonic() + DEADLINE_S
    while treadctl("status", "--socket", str(sock)).returncode != 0:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert time.monotonic() < deadline, "the controller never answered on its socket"
        time.sleep(0.1)
    return proc


def end(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.terminate()
    out, _ = proc.communicate(timeout=DEADLINE_S)
    return out


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Unix socket paths must stay short (about 100 bytes): not under pytest's tmp_path."""
    path = Path(tempfile.mkdtemp(prefix="t1c-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_second_controller_is_refused_and_the_first_is_untouched(short_dir: Path) -> None:
    sock = short_dir / "c.sock"
    first = start_serving(sock, short_dir / "first.sqlite", short_dir / "first.jsonl")
    try:
        inode = sock.stat().st_ino
        second_db = short_dir / "second.sqlite"
        second_events = short_dir / "second.jsonl"
        second = subprocess.run(
            serve_argv(sock, second_db, second_events),
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
            check=False,
            cwd=ROOT,
        )
        assert second.returncode == EXIT_CONNECT, (second.stdout, second.stderr)
        assert "Traceback" not in second.stderr
        assert second.stderr == (
            f"cannot start: another controller (pid {first.pid}) is running on {sock}: "
            f"refusing to start a second one (stop it first: treadctl stop --socket {sock})\n"
        )
        assert "listening" not in second.stdout
        # refused before it opened or wrote anything of its own
        assert not second_db.exists()
        assert not second_events.exists()

        # the first: still running, its socket the same file, still answering
        assert first.poll() is None
        assert sock.stat().st_ino == inode
        status = treadctl("status", "--socket", str(sock))
        assert status.returncode == 0, status.stderr
        assert status.stdout.startswith("Demo: short backward bout: ")
        stop = treadctl("stop", "--socket", str(sock))
        assert stop.returncode == 0, stop.stderr
        out = end(first)
    finally:
        end(first)
    assert first.returncode == 4  # stopped by treadctl-stop: not completed
    assert "outcome: stopped by treadctl-stop" in out
    assert "controller error" not in out
    with sqlite3.connect(short_dir / "first.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM sessions").fetchone() == (1,)
    assert not sock.exists()


def test_the_socket_is_free_again_once_the_first_has_gone(short_dir: Path) -> None:
    """The lock goes with its process, however it ends: after a SIGKILL (socket file left
    behind, stale) the next controller starts, and after a clean end too."""
    sock = short_dir / "c.sock"
    first = start_serving(sock, short_dir / "a.sqlite", short_dir / "a.jsonl")
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=DEADLINE_S)
    assert sock.is_socket()  # left behind by the killed controller
    second = start_serving(sock, short_dir / "b.sqlite", short_dir / "b.jsonl")
    try:
        assert (short_dir / "c.sock.lock").read_text() == f"{second.pid}\n"
    finally:
        end(second)
    third = start_serving(sock, short_dir / "c.sqlite", short_dir / "c.jsonl")
    end(third)
    assert third.returncode == 4


def test_a_socket_that_answers_without_the_lock_is_not_taken_over(short_dir: Path) -> None:
    """A listener the lock does not know of (a treadctl from before the lock, a lock file
    removed by hand): refused all the same, naming the pid that listens."""
    sock = short_dir / "c.sock"
    other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket, sys, time\n"
            "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
            f"s.bind({str(sock)!r}); s.listen(8)\n"
            "print('listening', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None
        assert other.stdout.readline() == "listening\n"
        second_events = short_dir / "second.jsonl"
        second = subprocess.run(
            serve_argv(sock, short_dir / "second.sqlite", second_events),
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
            check=False,
            cwd=ROOT,
        )
        assert second.returncode == EXIT_CONNECT, (second.stdout, second.stderr)
        assert f"another controller (pid {other.pid}) is running on {sock}" in second.stderr
        assert "Traceback" not in second.stderr
        assert sock.is_socket()  # still the other's
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.connect(str(sock))  # and it still answers
        assert other.poll() is None
    finally:
        other.kill()
        other.communicate()
    assert os.path.exists(sock)
