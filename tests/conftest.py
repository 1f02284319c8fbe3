"""Shared test configuration: hypothesis settings profiles.

"ci" (the default) runs every property test with at least 10,000 examples; "dev" runs
200 for quick local iterations. Select with the environment variable, e.g.
``HYPOTHESIS_PROFILE=dev .venv/bin/pytest``, or with ``--hypothesis-profile=dev``.

Tests that should stay fast under "ci" set their own ``max_examples`` with
``@settings(max_examples=...)``; a profile only supplies the defaults.
"""

from __future__ import annotations

import os

from hypothesis import settings

# deadline=None: a stateful example runs hundreds of 20 ms control cycles; wall-clock
# deadlines would only measure the machine's load, not the code under test.
settings.register_profile("ci", max_examples=10_000, deadline=None, print_blob=True)
settings.register_profile("dev", max_examples=200, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
