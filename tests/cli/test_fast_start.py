"""`treadctl` starts fast (issue 23): `--version` and `--help` build every verb's parser
but import no drive, broker, database, Bluetooth, plotting or GUI library, and no pydantic
model: each verb imports what it runs on when it runs. A structural test, not a timed
one (CI machines are busy); the figures are in docs/architecture.md.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from treadctl.cli.drive import DEFAULT_RATE_HZ
from treadctl.config.machine import LoopConfig
from treadctl.sim.drive_names import PERSONALITY_NAMES
from treadctl.sim.drives import PERSONALITIES

HEAVY = (
    "pymodbus",
    "aiohttp",
    "psycopg",
    "bumble",
    "matplotlib",
    "textual",
    "numpy",
    "paho",
    "pydantic",  # the config models: building them took 0.3 s of every start
    "aiomqtt",
    "serial",
    "sounddevice",
    "textual_serve",
)


def imported_by(*argv: str) -> set[str]:
    """The top-level packages `python -m treadctl ARGV` imports (python -X importtime)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "treadctl", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout, "nothing printed"
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "argparse" in names  # the parse worked
    return names


@pytest.mark.parametrize("argv", [("--version",), ("--help",)], ids=" ".join)
def test_the_start_imports_no_heavy_library(argv: tuple[str, ...]) -> None:
    loaded = imported_by(*argv)
    assert "treadctl" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_version_prints_the_version_on_stdout() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "treadctl", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.startswith("treadctl ")
    assert done.stdout.count("\n") == 1
    assert done.stderr == ""


def test_the_names_the_help_states_without_loading_their_modules_agree() -> None:
    """Defaults and choices the parsers state from light modules are the models' own."""
    assert LoopConfig().rate_hz == DEFAULT_RATE_HZ
    assert tuple(PERSONALITIES) == PERSONALITY_NAMES
