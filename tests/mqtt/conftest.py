"""Fixtures for the MQTT tests: a REAL mosquitto per test (never a mock).

The broker listens on a free loopback port with `allow_anonymous false`, a password
file made by `mosquitto_passwd -b` and the ACL of examples/mqtt/acl; it is stopped at
teardown whatever the test did to it.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mqtt_broker import MOSQUITTO, MOSQUITTO_PASSWD, Broker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    for tool in (MOSQUITTO, MOSQUITTO_PASSWD):
        if not Path(tool).exists():
            pytest.fail(f"{tool} not installed: apt-get install mosquitto (scripts/test does)")
    b = Broker(tmp_path / "broker")
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short directory for unix sockets (sun_path holds 108 bytes; tmp_path can be long)."""
    d = Path(tempfile.mkdtemp(prefix="tq-", dir="/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(autouse=True)
def _real_clock_heap(frozen_heap: None) -> None:
    """Controllers on the real clock run in this process: see tests/conftest.py."""
