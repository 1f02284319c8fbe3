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
EXIT_CONNECT = 3  # README's exit table: the drive or its link could not be reached
EXIT_STILL_RUNNING = 4
SOCKET_WAIT_S = 30.0  # a Modbus drive may take its connect timeout and then some
END_WAIT_S = 15.0
REASON_MAX_CHARS = 300  # of a log line shown as the reason: the log file has the rest


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


class ControllerChild:
    """The controller process as the dashboard watches it: once it has exited, its exit
    code and the reason in words (the dashboard then stops retrying and says why)."""

    def __init__(self, proc: subprocess.Popen[bytes], log_path: Path, machine: Path) -> None:
        self.proc = proc
        self.log_path = log_path
        self.machine = machine
        self._exit: tuple[int, str] | None = None

    def exited(self) -> tuple[int, str] | None:
        if self._exit is None:
            code = self.proc.poll()
            if code is not None:
                self._exit = (code, exit_reason(code, self.log_path, self.machine))
        return self._exit


def last_error_line(log_text: str) -> str:
    """The controller's last words: its last non-blank line, bounded."""
    lines = [ln.strip() for ln in log_text.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("controller: listening on")]
    if not lines:
        return "(nothing in its log)"
    line = lines[-1]
    return line if len(line) <= REASON_MAX_CHARS else line[: REASON_MAX_CHARS - 1] + "…"


def link_problems(machine: Path) -> list[str]:
    """Why the machine file's links cannot be opened now (what `treadctl check` says)."""
    from treadctl.config.errors import ConfigError  # noqa: PLC0415 - only after a failure
    from treadctl.config.loader import load_model  # noqa: PLC0415
    from treadctl.config.machine import MachineConfig  # noqa: PLC0415
    from treadctl.drives.reach import reach  # noqa: PLC0415

    try:
        config = load_model(machine, MachineConfig)
    except ConfigError:  # the controller has said what is wrong with the file
        return []
    return [f"{r.what} link: {r.problem}" for r in reach(config) if r.problem is not None]


def exit_reason(code: int, log_path: Path, machine: Path) -> str:
    """ "the controller exited with code 3: cannot start: ... (serial port X does not
    exist)": its last log line, and for a link failure what the link check finds."""
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        text = f"(its log {log_path} cannot be read: {exc.strerror})"
    reason = f"the controller exited with code {code}: "
    problems = link_problems(machine) if code == EXIT_CONNECT else []
    if problems:  # the cause first: what to fix, then the controller's own words
        reason += "; ".join(problems) + "; its last line: "
    reason += last_error_line(text)
    return reason


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
    child = ControllerChild(controller, log_path, Path(args.machine))
    if not _wait_listening(controller, log_path):
        code = controller.poll()
        sys.stderr.write(log_path.read_text(encoding="utf-8"))
        if code is None:
            controller.terminate()
            print(f"treadctl run: the controller did not open {socket}", file=sys.stderr)
            return EXIT_CONFIG
        print(f"treadctl run: {exit_reason(code, log_path, child.machine)}", file=sys.stderr)
        return code
    dashboard_code = run_dashboard(socket, print_summary=False, controller=child)
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
