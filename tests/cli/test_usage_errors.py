"""What a new user gets for a slip (issue 24): a mistyped verb, subcommand or option value
is answered with the closest names; an option a verb does not know is refused with that
verb's usage, not the top-level one; `monitor` without a terminal is refused at once.
The installed command, run as a process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXIT_CONFIG = 2


def treadctl(*argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "treadctl.cli", *argv],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["simulat", "demo-short"], "invalid choice: 'simulat': did you mean 'simulate'"),
        (["staus"], "invalid choice: 'staus': did you mean 'status'"),
        (["records", "shp"], "invalid choice: 'shp': did you mean 'ship'?"),
        (
            ["run", "--machine", "sim", "--profile", "demo-short", "--operator", "atuo"],
            "argument --operator: invalid choice: 'atuo': did you mean 'auto'?",
        ),
    ],
)
def test_a_mistyped_name_gets_a_suggestion(argv: list[str], said: str) -> None:
    done = treadctl(*argv)
    assert done.returncode == EXIT_CONFIG
    assert said in done.stderr
    assert "Traceback" not in done.stderr


def test_a_name_like_nothing_gets_the_list_of_choices() -> None:
    done = treadctl("xyzzy")
    assert done.returncode == EXIT_CONFIG
    assert "invalid choice: 'xyzzy' (choose from 'check', " in done.stderr
    assert "did you mean" not in done.stderr


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["run", "--machine", "sim", "--profile", "demo-short", "--bogus"], "treadctl run"),
        (["simulate", "demo-short", "--quiet", "--bogus", "x"], "treadctl simulate"),
        (["records", "ship", "--bogus"], "treadctl records ship"),
        (["drive", "probe", "--bogus"], "treadctl drive probe"),
    ],
)
def test_an_unknown_option_gets_the_verbs_own_usage(argv: list[str], usage: str) -> None:
    done = treadctl(*argv)
    assert done.returncode == EXIT_CONFIG
    lines = done.stderr.splitlines()
    assert lines[0].startswith(f"usage: {usage} [-h]"), done.stderr
    unknown = " ".join(argv[argv.index("--bogus") :])
    assert lines[-1] == f"{usage}: error: unrecognized arguments: {unknown}"
    assert "VERB ..." not in lines[0]


def test_the_verbs_options_still_parse_after_the_change() -> None:
    done = treadctl("plan", "--machine", "sim", "--profile", "demo-short")
    assert done.returncode == 0, done.stderr


def test_monitor_without_a_terminal_is_refused_at_once() -> None:
    """stdout a pipe: before, Textual wrote escape codes into it and never ended."""
    done = treadctl("monitor", "--broker", "127.0.0.1:1", "--site", "clinic-a", timeout=20)
    assert done.returncode == EXIT_CONFIG
    assert done.stdout == ""
    assert done.stderr.startswith(
        "treadctl monitor: needs a terminal: standard output is not a terminal"
    )
    assert "\x1b" not in done.stderr
