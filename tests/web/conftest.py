"""Fixtures of the browser console's tests: real processes, real chromium."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from web_rig import Proc, cleanup, start_controller, start_web


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Unix socket paths must stay under about 100 bytes: not under pytest's tmp_path."""
    path = Path(tempfile.mkdtemp(prefix="web-", dir="/tmp"))
    yield path
    cleanup(path)


@pytest.fixture
def controller(short_dir: Path) -> Iterator[tuple[Proc, Path]]:
    ctl, sock = start_controller(short_dir)
    yield ctl, sock
    ctl.stop()


@pytest.fixture
def web(short_dir: Path, controller: tuple[Proc, Path]) -> Iterator[tuple[Proc, str]]:
    proc, base = start_web(short_dir, controller[1])
    yield proc, base
    proc.stop()
