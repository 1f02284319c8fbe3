"""A real controller on the built-in simulator, its real Unix socket, in the test's loop."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from api_fixtures import PROFILE, ROOT, Running, wait_for

from treadctl.app import load_session
from treadctl.clock import MonotonicClock
from treadctl.serve import Controller
from treadctl.store.eventlog import EventLog


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Unix socket paths must stay short (about 100 bytes): not under pytest's tmp_path."""
    path = Path(tempfile.mkdtemp(prefix="tc-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def running(short_dir: Path) -> AsyncIterator[Running]:
    profile = short_dir / "profile.toml"
    profile.write_text(PROFILE)
    files = load_session(
        ROOT / "src/treadctl/samples/machines/sim.toml",
        profile,
        ROOT / "src/treadctl/samples/patients/demo.toml",
    )
    events = EventLog(None)
    controller = Controller(files, MonotonicClock(), events, short_dir / "c.sock")
    task: asyncio.Task[object] = asyncio.create_task(controller.run())
    await wait_for(lambda: controller.api is not None and (short_dir / "c.sock").exists(), "up")
    yield Running(controller, task, short_dir / "c.sock", events)
    if not task.done():
        controller.api.loop.request_quit("test teardown")  # type: ignore[union-attr]
        # a moving belt must come to rest first: the loop leaves only at standstill
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), 30)
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
    events.close()


@pytest.fixture(autouse=True)
def _real_clock_heap(frozen_heap: None) -> None:
    """Controllers on the real clock run in this process: see tests/conftest.py."""
