"""The dashboard's terminal: what a stop and continue of the process does to it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from typing import TextIO

EXIT_NO_TERMINAL = 2  # like a usage error: nothing was started
# What textual-serve (treadctl web) sets for the app it spawns per browser tab: Textual
# then speaks a framed protocol over the pipes instead of drawing on a terminal.
WEB_DRIVER = "textual.drivers.web_driver:WebDriver"


def _is_tty(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (ValueError, OSError):  # a closed or detached stream
        return False


def missing_terminal() -> str | None:
    """Why this process cannot run a full-screen screen (None: it can).

    The dashboard reads keys from standard input and draws on standard output; with
    either one a pipe or a file it would write escape codes into it and wait for keys
    that never come. Under Textual's web driver (`treadctl web`) the pipes are the
    channel to the browser, so no terminal is needed."""
    if os.environ.get("TEXTUAL_DRIVER") == WEB_DRIVER:
        return None
    for name, stream in (("standard output", sys.stdout), ("standard input", sys.stdin)):
        if not _is_tty(stream):
            return f"{name} is not a terminal (a pipe or a file)"
    return None


def own_stop_signals(repaint: Callable[[], object]) -> Callable[[], None]:
    """A console that was stopped (SIGSTOP, a debugger) and continued just repaints.

    Textual's driver restarts application mode on every SIGCONT, which only works after
    its own SIGTSTP suspend; after a SIGSTOP it wedged the screen (the freeze test in
    tests/tui/test_tmux.py). Nothing in raw mode sends SIGTSTP (ctrl+z is a key), and a
    suspended dashboard would only stop the belt, so SIGTSTP is ignored. Call this in
    the App's event loop; it returns the function that puts the old handlers back.
    """
    old = signal.signal(signal.SIGTSTP, signal.SIG_IGN)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGCONT, repaint)

    def restore() -> None:
        loop.remove_signal_handler(signal.SIGCONT)
        signal.signal(signal.SIGTSTP, old)

    return restore
