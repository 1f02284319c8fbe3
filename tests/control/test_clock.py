from __future__ import annotations

import asyncio

import pytest

from treadctl.clock import FINE_SLEEP_S, MonotonicClock, VirtualClock


async def test_virtual_clock_jumps_to_deadlines() -> None:
    clock = VirtualClock(start_s=100.0, wall_start=0.0)
    await clock.sleep_until(105.5)
    assert clock.now() == 105.5
    await clock.sleep_until(101.0)  # never goes back
    assert clock.now() == 105.5
    assert clock.wall_time() == 5.5
    assert clock.is_virtual


async def test_virtual_clock_lets_other_tasks_run() -> None:
    clock = VirtualClock(yield_every=4)
    ran = asyncio.Event()

    async def other() -> None:
        ran.set()

    task = asyncio.create_task(other())
    for i in range(8):
        await clock.sleep_until(clock.now() + i)
    assert ran.is_set()
    await task


async def test_monotonic_clock_waits_for_the_deadline() -> None:
    clock = MonotonicClock()
    deadline = clock.now() + 0.02
    await clock.sleep_until(deadline)
    assert clock.now() >= deadline
    assert not clock.is_virtual


@pytest.mark.parametrize("fine_s", [0.0, FINE_SLEEP_S])
async def test_monotonic_clock_never_wakes_before_the_deadline(fine_s: float) -> None:
    clock = MonotonicClock(fine_s=fine_s)
    for i in range(40):
        deadline = clock.now() + (i % 4) * 0.001  # around and inside the fine-sleep stretch
        await clock.sleep_until(deadline)
        assert clock.now() >= deadline


async def test_monotonic_clock_lets_other_tasks_run_while_it_waits() -> None:
    clock = MonotonicClock(fine_s=FINE_SLEEP_S)
    ran = asyncio.Event()

    async def other() -> None:
        ran.set()

    task = asyncio.create_task(other())
    await clock.sleep_until(clock.now() + 0.02)  # longer than the fine-sleep stretch
    assert ran.is_set()
    await task
