"""`treadctl dashboard` without a terminal: refused at once, nothing written to the pipe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from treadctl.tui import terminal

TREADCTL = Path(sys.executable).with_name("treadctl")
ENV = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "xterm-256color"}


def test_a_piped_dashboard_refuses_at_once(tmp_path: Path) -> None:
    """stdout a pipe (`treadctl dashboard | cat`): exit 2 within seconds, the pipe empty
    (no escape codes), and a message on stderr that says why and what to do instead."""
    socket = tmp_path / "c.sock"  # no controller: the refusal comes before any connect
    out = subprocess.run(
        [str(TREADCTL), "dashboard", "--socket", str(socket)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
        check=False,
        env=ENV,
    )
    assert out.returncode == terminal.EXIT_NO_TERMINAL == 2
    assert out.stdout == b""
    err = out.stderr.decode()
    assert "\x1b" not in err
    assert "needs a terminal: standard output is not a terminal" in err
    assert f"treadctl status --socket {socket}" in err


def test_stdin_not_a_terminal_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty:
        def __init__(self, tty: bool) -> None:
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    monkeypatch.setattr(sys, "stdout", Tty(True))
    monkeypatch.setattr(sys, "stdin", Tty(False))
    assert terminal.missing_terminal() == "standard input is not a terminal (a pipe or a file)"
    monkeypatch.setattr(sys, "stdin", Tty(True))
    assert terminal.missing_terminal() is None
    monkeypatch.setattr(sys, "stdin", None)
    assert terminal.missing_terminal() is not None
