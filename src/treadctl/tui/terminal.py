"""The dashboard's terminal: what a stop and continue of the process does to it."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable


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
