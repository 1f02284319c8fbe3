"""The process one browser tab runs: the dashboard (or monitor) under Textual's web driver.

It asks the kernel for SIGTERM when the web server dies (Linux PR_SET_PDEATHSIG): with
the server gone nobody sees this console, so it must leave and stop heartbeating.
Textual's web driver turns SIGTERM into the app's exit.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
from pathlib import Path

from treadctl.web.session import PARENT_PID_ENV

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the stdin EOF and stop() still apply
        return
    expected = os.environ.get(PARENT_PID_ENV)
    if expected is not None and str(os.getppid()) != expected:
        os.kill(os.getpid(), signal.SIGTERM)  # the server died before prctl took effect


def parser() -> argparse.ArgumentParser:
    from treadctl.mqtt.options import add_monitor_arguments  # noqa: PLC0415

    p = argparse.ArgumentParser(prog="treadctl.web.child")
    sub = p.add_subparsers(dest="app", required=True)
    dash = sub.add_parser("dashboard")
    dash.add_argument("--socket", type=Path, required=True)
    add_monitor_arguments(sub.add_parser("monitor"))
    return p


def main(argv: list[str] | None = None) -> int:
    _die_with_parent()
    args = parser().parse_args(argv)
    if args.app == "dashboard":
        from treadctl.tui.app import run_dashboard  # noqa: PLC0415 - Textual loads slowly

        # stdout carries the web driver's packets: no summary printed after the app.
        return run_dashboard(args.socket, print_summary=False)
    from treadctl.mqtt.options import monitor_main  # noqa: PLC0415

    return monitor_main(args)


if __name__ == "__main__":
    sys.exit(main())
