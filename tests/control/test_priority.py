"""Real-time priority for the loop thread, tried in a child process (never in pytest's)."""

from __future__ import annotations

import os
import subprocess
import sys

from treadctl.control.priority import HELPER_PRIORITY, raise_priority

PROBE = """
import os, threading
from treadctl.control.priority import helper_priority, normal_priority, raise_priority

def policy():
    return os.sched_getscheduler(0), os.sched_getparam(0).sched_priority

started = threading.Event(); done = threading.Event(); seen = {}
def before():  # started before the loop's priority was raised (the event log's writer)
    started.set(); done.wait(); seen["before"] = policy()
early = threading.Thread(target=before); early.start(); started.wait()
warning = raise_priority(5)
seen["loop"] = policy()
def helper():  # started by the loop afterwards (the MQTT bridge's thread)
    helper_priority(); seen["helper"] = policy()
def dropped():
    normal_priority(); seen["normal"] = policy()
for target in (helper, dropped):
    t = threading.Thread(target=target); t.start(); t.join()
done.set(); early.join()
print(warning, *(f"{seen[k][0]},{seen[k][1]}" for k in ("loop", "before", "helper", "normal")),
      sep="|")
"""


def test_zero_asks_for_nothing() -> None:
    assert raise_priority(0) is None


def test_fifo_when_permitted_with_every_other_thread_below_it_else_a_warning() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    warning, *policies = out.split("|")
    loop, before, helper, normal = (tuple(int(x) for x in p.split(",")) for p in policies)
    fifo, other = os.SCHED_FIFO, os.SCHED_OTHER
    if warning == "None":  # permitted (root, or rtprio granted)
        assert loop == (fifo, 5)
        # the threads that share the interpreter lock with the loop: real-time, below it
        assert before == (fifo, HELPER_PRIORITY)
        assert helper == (fifo, HELPER_PRIORITY)
    else:  # refused: says so, and every thread stays at normal scheduling
        assert "it runs at normal priority" in warning
        assert loop == before == helper == (other, 0)
    assert normal == (other, 0)  # normal_priority still drops a thread to normal scheduling
