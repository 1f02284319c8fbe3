"""Each module a process starts from (`python -m ...`, or a first import) loads on its
own, in a fresh interpreter: an import cycle shows only in the order that hits it, and
the web console's child (`treadctl.web.child`) once died on one at its first line."""

from __future__ import annotations

import subprocess
import sys

import pytest

FIRST_IMPORTS = [
    "treadctl.web.child",
    "treadctl.config.mqtt",
    "treadctl.mqtt.options",
    "treadctl.config.heartrate",
    "treadctl.cli.hr",
    "treadctl.cli.clinic",
    "treadctl.config.machine",
    "treadctl.cli",
    "treadctl.sim.main",
    # what a verb's entry point imports when it runs (cli/ imports them lazily)
    "treadctl.cli.checks",
    "treadctl.cli.runs",
    "treadctl.cli.clinic_run",
    "treadctl.cli.drive_run",
    "treadctl.cli.status",
    "treadctl.cli.database",
]


@pytest.mark.parametrize("module", FIRST_IMPORTS)
def test_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
