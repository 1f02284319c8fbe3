"""Fixtures: systemd's notify socket (a real AF_UNIX datagram socket) in a short dir."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_kit import NotifyListener


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """sockaddr_un paths are short: pytest's tmp_path may be too long."""
    d = Path(tempfile.mkdtemp(prefix="tsv-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def listener(short_dir: Path) -> Iterator[NotifyListener]:
    path = short_dir / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    lst = NotifyListener(path, short_dir / "api.sock", sock)
    thread = threading.Thread(target=lst.run, daemon=True)
    thread.start()
    yield lst
    lst._stop = True
    thread.join(5)
    sock.close()
