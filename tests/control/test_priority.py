"""Real-time priority for the loop thread, tried in a child process (never in pytest's)."""

from __future__ import annotations

import subprocess
import sys

from treadctl.control.priority import raise_priority

PROBE = """
import os, threading
from treadctl.control.priority import normal_priority, raise_priority
warning = raise_priority(5)
fifo = os.sched_getscheduler(0) == os.SCHED_FIFO
seen = {}
def helper():
    normal_priority()
    seen["helper"] = os.sched_getscheduler(0) == os.SCHED_OTHER
t = threading.Thread(target=helper)
t.start(); t.join()
print(warning, fifo, seen["helper"], sep="|")
"""


def test_zero_asks_for_nothing() -> None:
    assert raise_priority(0) is None


def test_fifo_when_permitted_else_a_warning_and_normal_scheduling() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    warning, fifo, helper_normal = out.split("|")
    if warning == "None":  # permitted (root, or rtprio granted)
        assert fifo == "True"
    else:  # refused: says so, and the thread stays at normal scheduling
        assert "it runs at normal priority" in warning
        assert fifo == "False"
    assert helper_normal == "True"  # a helper thread drops back to normal scheduling
