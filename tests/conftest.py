"""Shared test configuration: hypothesis settings profiles, and the parallel run.

"ci" (the default) runs every property test with at least 10,000 examples; "dev" runs
200 for quick local iterations. Select with the environment variable, e.g.
``HYPOTHESIS_PROFILE=dev .venv/bin/pytest``, or with ``--hypothesis-profile=dev``.

Tests that should stay fast under "ci" set their own ``max_examples`` with
``@settings(max_examples=...)``; a profile only supplies the defaults.

The parallel run (pytest-xdist: ``scripts/test`` passes ``-n`` and ``--dist loadgroup``;
``./scripts/test -n 0`` runs serially). Most of the suite's wall time is waiting on the
real clock (50 Hz loops, sockets, subprocesses), not CPU, so there are more workers than
cores. Each worker is a process of its own with its own session fixtures (its own
PostgreSQL server), free ports and temporary directories. Two rules here keep it sound:

* a test module with a module- or class-scoped fixture runs whole on one worker (an
  ``xdist_group`` named after the module): its fixture is built once, not once per worker
  nor again each time another module's test came in between;
* the hardware-in-the-loop tests (tests/hil: a simulator and a controller as processes
  of their own on the real clock, at real-time priority when run as root) run one rig at
  a time, all on one worker (``xdist_group`` "hil"): with a TCP and an RTU rig at once
  beside four other workers, an RTU rig still answered late now and then (2 of 2,212
  failed in a fresh clone at load 3-5) and tripped the watchdogs it tests. The whole
  suite (scripts/test without arguments) runs tests/hil by itself, after the rest;
* the longest tests are handed out first (``LONGEST_FIRST``), so no worker is left
  starting a four-minute test when the others are done;
* the tests that only burn CPU on the virtual clock (``CPU_BOUND``: the stateful property
  shares, the record matrix's and the progression's worker pools) run at nice 10 when the
  run is root's (as CI's is; a user could not take the nice value back afterwards), so
  the tests on the real clock beside them get the cores first.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

# Only CPU on the virtual clock, minutes of it: reniced in a parallel run (see above).
CPU_BOUND = (
    "tests/safety/test_properties.py::TestInterlockProperties",
    "tests/integration/test_record_matrix.py",
    "tests/integration/test_turn_round_progression.py",
)
CPU_BOUND_NICE = 10

# Handed out first in a parallel run, in this order (node-id prefixes; the rest keeps
# pytest's order). Each is minutes of work on one worker: started last, it alone would
# set the run's length. From `pytest --durations` on the 2-core machine.
LONGEST_FIRST = (
    "tests/safety/test_properties.py::TestInterlockProperties",  # 4 shares, ~1 min CPU each
    "tests/integration/test_record_matrix.py",  # ~100 s, a 2-process pool inside
    "tests/integration/test_turn_round_progression.py",
    "tests/hil/",  # real processes on the real clock, 10-60 s each
    "tests/tui/test_tmux.py",
    "tests/web/",
)

# deadline=None: a stateful example runs hundreds of 20 ms control cycles; wall-clock
# deadlines would only measure the machine's load, not the code under test.
settings.register_profile("ci", max_examples=10_000, deadline=None, print_blob=True)
settings.register_profile("dev", max_examples=200, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# A pytest-xdist worker starts with COLUMNS=80 and LINES=24 in its environment, which every
# subprocess inherits: a dashboard in a 120x40 tmux window then laid itself out for 80x24.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)


@pytest.fixture
def frozen_heap() -> Iterator[None]:
    """What earlier tests left alive, out of the collector's sight for this test.

    For tests that run a controller on the real clock inside this process: a full
    collection over the heap that hundreds of earlier tests leave behind took 0.5 to 7 s
    here, past the simulated drive's 0.5 s comm-loss watchdog (fault code 54). `treadctl
    serve` freezes its own heap the same way once the session is built (cli._realtime).
    Unfrozen afterwards, so what those tests left is collected later as usual.
    """
    gc.freeze()
    yield
    gc.unfreeze()


def _rank(item: pytest.Item) -> int:
    for rank, prefix in enumerate(LONGEST_FIRST):
        if item.nodeid.startswith(prefix):
            return rank
    return len(LONGEST_FIRST)


def _has_wide_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(
        defs[-1].scope in ("module", "class", "package")
        for name, defs in info.name2fixturedefs.items()
        # not the class fixture pytest adds to every unittest.TestCase (setUpClass): the
        # stateful property shares are unittest classes that must spread over workers
        if defs and not name.startswith("_unittest_")
    )


@pytest.hookimpl(tryfirst=True)  # before xdist turns xdist_group marks into node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config, "workerinput"):
        return  # not a pytest-xdist worker: the serial run keeps pytest's order
    grouped = {item.nodeid.split("::")[0] for item in items if _has_wide_fixture(item)}
    for item in items:
        module = item.nodeid.split("::")[0]
        if module.startswith("tests/hil/"):
            item.add_marker(pytest.mark.xdist_group("hil"))
        elif module in grouped:
            item.add_marker(pytest.mark.xdist_group(module))
    items.sort(key=_rank)  # stable: within a rank, pytest's order


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """A CPU-bound test (``CPU_BOUND``) runs at a higher nice value, pools it starts too."""
    renice = (
        hasattr(item.config, "workerinput")
        and os.geteuid() == 0
        and item.nodeid.startswith(CPU_BOUND)
    )
    before = os.getpriority(os.PRIO_PROCESS, 0) if renice else 0
    if renice:
        os.setpriority(os.PRIO_PROCESS, 0, max(before, CPU_BOUND_NICE))
    try:
        yield
    finally:
        if renice:
            os.setpriority(os.PRIO_PROCESS, 0, before)
