"""Fixtures for the drive backends: real pty pairs from socat."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two linked serial devices: what one end writes, the other reads (real RTU bytes)."""
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
