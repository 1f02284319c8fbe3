"""Real-time scheduling for the control loop's thread (ros2_control does the same).

On a two-core machine a dashboard that redraws, or a broker client that wakes, can
take the core the loop is about to wake on: with SCHED_FIFO the loop preempts them.
The process's other threads (event log, recorder, MQTT bridge) run SCHED_FIFO too, at
the lowest real-time priority, below the loop: they share the interpreter lock with it,
and at normal scheduling one of them, preempted by a busy process while it held the
lock, kept the loop waiting for that lock until the scheduler ran it again (wake-up
lateness up to 175 ms under load, bench/soak.py; a priority inversion). At priority 1
they never run ahead of the loop, and nothing at normal priority stops them mid-lock.
Threads started later inherit the calling thread's policy: a helper thread calls
`helper_priority` first. The kernel's real-time throttling still leaves other tasks
their share if a bug spins.
"""

from __future__ import annotations

import contextlib
import os
import threading

HELPER_PRIORITY = 1  # the lowest SCHED_FIFO priority: below the loop, above every normal task


def raise_priority(priority: int) -> str | None:
    """Make the calling thread SCHED_FIFO at `priority`; a warning text when it cannot."""
    if priority <= 0:
        return None
    if not hasattr(os, "sched_setscheduler"):
        return "real-time priority asked for, but this system has no SCHED_FIFO"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except OSError as exc:
        return (
            f"could not run the loop at real-time priority {priority} ({exc.strerror}): "
            "it runs at normal priority; grant rtprio (e.g. limits.conf) or run as root"
        )
    if priority > HELPER_PRIORITY:
        for task in _other_threads():
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                os.sched_setscheduler(task, os.SCHED_FIFO, os.sched_param(HELPER_PRIORITY))
    return None


def helper_priority() -> None:
    """A helper thread's scheduling, first thing in the thread: below the loop. A thread
    started by the real-time loop inherits its priority and drops to HELPER_PRIORITY; one
    at normal scheduling stays there (the loop has none, or raises it later and then
    lowers every thread it finds to HELPER_PRIORITY itself)."""
    if not hasattr(os, "sched_setscheduler"):
        return
    with contextlib.suppress(OSError):
        if (
            os.sched_getscheduler(0) == os.SCHED_FIFO
            and os.sched_getparam(0).sched_priority > HELPER_PRIORITY
        ):
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(HELPER_PRIORITY))


def _other_threads() -> list[int]:
    """The process's other threads (Linux: /proc/self/task; elsewhere none)."""
    me = threading.get_native_id()
    try:
        return [int(t) for t in os.listdir("/proc/self/task") if int(t) != me]
    except OSError:
        return []


def normal_priority() -> None:
    """Put the calling thread back to normal scheduling (no-op where unsupported)."""
    if hasattr(os, "sched_setscheduler"):
        try:
            if os.sched_getscheduler(0) != os.SCHED_OTHER:
                os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        except OSError:
            pass
