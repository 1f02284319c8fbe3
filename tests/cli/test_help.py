"""Help that answers questions (issue 13): --version, help text and defaults for every
option, options only where they apply, one name for one thing, and each verb's --help
ending with examples and its exit codes. The records verbs' own exit codes are checked
against real runs in test_records_help.py.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

from treadctl.cli import (
    EXIT_CONFIG,
    EXIT_CONNECT,
    EXIT_NOT_COMPLETED,
    EXIT_OK,
    EXIT_WORDS,
    GROUPS,
    SERVING_VERBS,
    HelpFormatter,
    _parser,
    main,
)

README = Path(__file__).resolve().parents[2] / "README.md"


def verbs(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every verb and sub-verb parser, by its words (`("drive", "probe")`)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from verbs(sub, (*path, name))


VERBS = dict(verbs(_parser()))


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)
    ]


def test_the_walk_finds_every_verb() -> None:
    assert {" ".join(words) for words in VERBS} >= {
        "check", "plan", "profiles", "profiles list", "simulate", "run", "serve",
        "dashboard", "status", "stop", "monitor", "sim", "drive", "drive probe", "calibrate",
        "patients", "patients add", "patients list", "patients show", "sessions",
        "sessions list", "sessions show", "sessions export", "sessions report", "sessions rpe",
        "progress", "web", "web dashboard", "web monitor", "hr", "hr scan",
        "records", "records migrate", "records ship", "records serve", "records patients",
        "records sessions", "records report", "records export",
    }  # fmt: skip


def test_each_verb_has_one_entry_point_in_one_group() -> None:
    """The parser's verbs and the groups' dispatch tables are the same set, no verb in two
    groups: a verb added without its entry point would parse and then do nothing."""
    top = {words[0] for words in VERBS}
    tables = [verb for group in GROUPS for verb in group.verbs]
    assert sorted(tables) == sorted(top)
    assert len(tables) == len(set(tables))


def test_the_serving_verbs_keep_sigpipe_off() -> None:
    """Verbs that serve sockets must see a hung-up peer as EPIPE, not die of SIGPIPE."""
    assert {"serve", "run", "sim", "dashboard", "monitor", "web", "records"} == SERVING_VERBS


@pytest.mark.parametrize("argv", [["--help"], ["sessions", "rpe", "--help"], ["--version"]])
def test_the_package_runs_as_a_module(argv: list[str]) -> None:
    """`python -m treadctl.cli` is how `treadctl run` starts its controller process."""
    done = subprocess.run(
        [sys.executable, "-m", "treadctl.cli", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("usage: treadctl" if argv != ["--version"] else "treadctl ")


def test_version_comes_from_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"treadctl {version('treadctl')}\n"


@pytest.mark.parametrize("words", VERBS, ids=" ".join)
def test_every_option_has_help_text_and_states_its_default(words: tuple[str, ...]) -> None:
    parser = VERBS[words]
    formatter = HelpFormatter(prog="treadctl")
    for action in options(parser):
        name = "/".join(action.option_strings) or action.dest
        if action.help == argparse.SUPPRESS:  # a hidden alias: another option shows it
            assert any(
                a.dest == action.dest and a.help != argparse.SUPPRESS for a in parser._actions
            ), name
            continue
        assert action.help, f"treadctl {' '.join(words)} {name}: no help text"
        shown = formatter._get_help_string(action)
        if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
            assert shown is not None
            assert "default" in shown, f"treadctl {' '.join(words)} {name}: default not stated"


@pytest.mark.parametrize("words", VERBS, ids=" ".join)
def test_each_verbs_help_ends_with_examples_and_exit_codes(words: tuple[str, ...]) -> None:
    text = VERBS[words].format_help()
    examples = text.index("\nexamples:\n")
    codes = text.index("\nexit codes:\n")
    assert examples < codes
    lines = text[examples:codes].splitlines()[2:]
    assert lines, "no example"
    prefix = "treadctl " + " ".join(words[:1])
    assert all(line.strip().startswith(prefix) for line in lines if line.strip()), lines
    listed = [int(m) for m in re.findall(r"(?m)^  (\d)  ", text[codes:])]
    assert EXIT_OK in listed
    assert set(listed) <= {EXIT_OK, 1, EXIT_CONFIG, EXIT_CONNECT, EXIT_NOT_COMPLETED}
    assert listed == sorted(listed)


@pytest.mark.parametrize("words", VERBS, ids=" ".join)
def test_each_example_parses(
    words: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The examples are real command lines (files they name exist here, empty)."""
    monkeypatch.chdir(tmp_path)
    for name in ("clinic.toml", "p017.toml", "ops.pw"):
        (tmp_path / name).write_text("", encoding="utf-8")
    text = VERBS[words].format_help()
    block = text[text.index("\nexamples:\n") : text.index("\nexit codes:\n")]
    for line in block.splitlines()[2:]:
        argv = shlex.split(line.split("#")[0])
        assert argv[0] == "treadctl"
        _parser().parse_args(argv[1:])


def test_the_exit_codes_are_the_ones_the_code_uses() -> None:
    """Read from the verbs: check's unreachable link, probe's failed read, status's and
    stop's missing controller are 3; a refused stop and an unfinished session are 4."""

    def codes(*words: str) -> str:
        text = VERBS[words].format_help()
        return text[text.index("\nexit codes:\n") :]

    assert "  3  a link cannot be opened now" in codes("check")
    assert "  3  " in codes("drive", "probe")
    assert "  3  " in codes("status")
    assert "  3  " in codes("stop")
    assert "  4  the controller refused it" in codes("stop")
    for verb in ("simulate", "run", "serve"):
        assert "  4  the session did not complete" in codes(verb)
    assert "  3  " in codes("run")
    assert "  3  " not in codes("simulate")  # the simulated drive has no link to lose
    assert "  3  " not in codes("plan")


def test_readme_has_the_same_exit_code_table() -> None:
    text = README.read_text(encoding="utf-8")
    table = dict(re.findall(r"(?m)^\| (\d) \| (.+) \|$", text))
    assert set(table) == {"0", "1", "2", "3", "4"}
    assert table["2"].startswith("configuration or usage error")
    assert table["3"].startswith("unreachable")
    assert "`check`" in table["3"]
    assert table["4"].startswith("not completed")
    for code, words in EXIT_WORDS.items():
        first = words.split(":")[0].split(" (")[0]
        assert table[str(code)].startswith(first), (code, first)


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--machine", "sim", "--profile", "demo-short", "--events", "x.jsonl"],
        ["check", "--machine", "sim", "--profile", "demo-short", "--scenario", "estop-backward"],
        ["plan", "--machine", "sim", "--profile", "demo-short", "--events", "x.jsonl"],
        ["plan", "--machine", "sim", "--profile", "demo-short", "--scenario", "estop-backward"],
    ],
)
def test_options_only_where_they_apply(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """check and plan run no session: no event log, no scenario."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == EXIT_CONFIG
    assert "unrecognized arguments" in capsys.readouterr().err


def test_the_session_verbs_keep_their_event_log_and_scenario() -> None:
    for verb in ("simulate", "run", "serve"):
        opts = {o for a in options(VERBS[(verb,)]) for o in a.option_strings}
        assert {"--events", "--scenario"} <= opts, verb


def test_one_name_for_a_serial_device_and_the_old_one_still_works() -> None:
    """`--rtu DEVICE` in sim and drive probe; probe's old --port is a hidden alias."""
    for words in (("sim",), ("drive", "probe")):
        rtu = next(a for a in VERBS[words]._actions if "--rtu" in a.option_strings)
        assert rtu.metavar == "DEVICE"
    probe = VERBS[("drive", "probe")]
    help_text = probe.format_help()
    assert "--port DEVICE" not in help_text
    assert "formerly --port, still accepted" in help_text
    for option in ("--rtu", "--port"):
        args = _parser().parse_args(["drive", "probe", option, "/dev/ttyUSB0", "--map", "generic"])
        assert args.rtu == "/dev/ttyUSB0"


def test_the_old_port_option_reaches_the_probe(capsys: pytest.CaptureFixture[str]) -> None:
    """`drive probe --port` on a device that does not exist: the probe ran on it (exit 3)."""
    code = main(["drive", "probe", "--port", "/nonexistent/ttyUSB9", "--map", "generic"])
    out = capsys.readouterr().out
    assert code == EXIT_CONNECT
    assert "/nonexistent/ttyUSB9" in out
