"""Shared test configuration: hypothesis settings profiles.

"ci" (the default) runs every property test with at least 10,000 examples; "dev" runs
200 for quick local iterations. Select with the environment variable, e.g.
``HYPOTHESIS_PROFILE=dev .venv/bin/pytest``, or with ``--hypothesis-profile=dev``.

Tests that should stay fast under "ci" set their own ``max_examples`` with
``@settings(max_examples=...)``; a profile only supplies the defaults.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

# deadline=None: a stateful example runs hundreds of 20 ms control cycles; wall-clock
# deadlines would only measure the machine's load, not the code under test.
settings.register_profile("ci", max_examples=10_000, deadline=None, print_blob=True)
settings.register_profile("dev", max_examples=200, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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
