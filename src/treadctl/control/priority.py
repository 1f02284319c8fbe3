"""Real-time scheduling for the control loop's thread (ros2_control does the same).

On a two-core machine a dashboard that redraws, or a broker client that wakes, can
take the core the loop is about to wake on: with SCHED_FIFO the loop preempts them.
Only the calling thread is changed; threads it starts later inherit the policy, so a
helper thread that must not run ahead of anything calls `normal_priority` first.
The kernel's real-time throttling still leaves other tasks their share if a bug spins.
"""

from __future__ import annotations

import os


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
    return None


def normal_priority() -> None:
    """Put the calling thread back to normal scheduling (no-op where unsupported)."""
    if hasattr(os, "sched_setscheduler"):
        try:
            if os.sched_getscheduler(0) != os.SCHED_OTHER:
                os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        except OSError:
            pass
