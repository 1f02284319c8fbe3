"""`treadctl run`: the controller in a process of its own, the dashboard in this terminal.

The controller must outlive the dashboard: a dashboard that crashes or freezes only
stops sending heartbeats, and the controller stops the belt after the presence
timeout. The controller runs in its own session (process group), so a Ctrl-C or a
closed terminal reaches the dashboard, not the loop; its output goes to a log file.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

EXIT_CONFIG = 2
EXIT_STILL_RUNNING = 4
SOCKET_WAIT_S = 30.0  # a Modbus drive may take its connect timeout and then some
END_WAIT_S = 15.0


def serve_argv(args: argparse.Namespace, socket: Path) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "treadctl.cli",
        "serve",
        "--machine",
        str(args.machine),
        "--profile",
        str(args.profile),
        "--socket",
        str(socket),
    ]
    if args.patient is not None:
        argv += ["--patient", str(args.patient)]
    if args.db is not None:
        argv += ["--db", str(args.db)]
    if args.events is not None:
        argv += ["--events", str(args.events)]
    if args.scenario is not None:
        argv += ["--scenario", str(args.scenario)]
    if args.progress:
        argv.append("--progress")
    if getattr(args, "mqtt", None) is not None:
        argv += ["--mqtt", str(args.mqtt)]
    return argv


def run_with_dashboard(args: argparse.Namespace) -> int:
    from treadctl.tui.app import run_dashboard  # noqa: PLC0415 - Textual loads slowly

    socket: Path = args.socket
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_path = Path("runs") / f"controller-{stamp}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w", encoding="utf-8") as log:
        controller = subprocess.Popen(
            serve_argv(args, socket),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if not _wait_listening(controller, log_path):
        code = controller.poll()
        sys.stderr.write(log_path.read_text(encoding="utf-8"))
        if code is None:
            controller.terminate()
            print(f"treadctl run: the controller did not open {socket}", file=sys.stderr)
            return EXIT_CONFIG
        return code
    dashboard_code = run_dashboard(socket, print_summary=False)
    try:
        code = controller.wait(END_WAIT_S)
    except subprocess.TimeoutExpired:
        print(
            f"the controller (pid {controller.pid}) still runs the session: the belt stops "
            "by itself after the operator-presence timeout.\n"
            f"  reattach: treadctl dashboard --socket {socket}\n"
            f"  stop:     treadctl stop --socket {socket}\n"
            f"  its log:  {log_path}",
            file=sys.stderr,
        )
        return EXIT_STILL_RUNNING
    text = log_path.read_text(encoding="utf-8")
    summary = text[text.find("Session summary") :] if "Session summary" in text else text[-2000:]
    print(summary.rstrip())
    print(f"  controller log: {log_path}")
    return code if dashboard_code == 0 else dashboard_code


def _wait_listening(controller: subprocess.Popen[bytes], log_path: Path) -> bool:
    deadline = time.monotonic() + SOCKET_WAIT_S
    while time.monotonic() < deadline:
        if controller.poll() is not None:
            return False
        if "controller: listening on" in log_path.read_text(encoding="utf-8"):
            return True
        time.sleep(0.05)
    return False
