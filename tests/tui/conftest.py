"""Fixtures of the dashboard's tests: a real controller on the simulator, in the test's loop."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from tui_rig import Rig, demo_files, start_controller


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Unix socket paths must stay under about 100 bytes: not under pytest's tmp_path."""
    path = Path(tempfile.mkdtemp(prefix="tui-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def make_rig(short_dir: Path) -> AsyncIterator[Callable[..., Awaitable[Rig]]]:
    """make_rig(profile=None, **machine_overrides): a controller on the demo session."""
    rigs: list[Rig] = []

    async def make(profile: Path | None = None, **machine: object) -> Rig:
        files = demo_files(profile, **machine)
        rig = await start_controller(short_dir / f"c{len(rigs)}.sock", files)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        await rig.close()


@pytest.fixture
async def rig(make_rig: Callable[..., Awaitable[Rig]]) -> Rig:
    return await make_rig()


@pytest.fixture(autouse=True)
def _real_clock_heap(frozen_heap: None) -> None:
    """Controllers on the real clock run in this process: see tests/conftest.py."""
