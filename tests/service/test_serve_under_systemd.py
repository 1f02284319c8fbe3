"""The real `treadctl serve` process with systemd's environment: READY=1 once the API
socket listens, WATCHDOG=1 at half of WATCHDOG_USEC while the loop runs, none while the
process is stopped, STOPPING=1 on the way out, and a restart after kill -9 latched."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from service_kit import (
    DEADLINE_S,
    ROOT,
    SIM_MACHINE,
    NotifyListener,
    start_serve,
    stop_serve,
    wait_ready,
)

WATCHDOG_USEC = 400_000  # pings every 0.2 s
PING_S = WATCHDOG_USEC / 1e6 / 2


def env_for(listener: NotifyListener) -> dict[str, str]:
    return {"NOTIFY_SOCKET": str(listener.path), "WATCHDOG_USEC": str(WATCHDOG_USEC)}


def pings(listener: NotifyListener) -> list[float]:
    return [d.at for d in listener.with_line("WATCHDOG=1")]


def test_ready_after_the_api_socket_then_pings_at_half_the_watchdog(
    listener: NotifyListener, tmp_path: Path
) -> None:
    proc = start_serve(listener.api_socket, tmp_path, env_for(listener))
    try:
        ready = wait_ready(listener, proc)
        assert ready.api_socket_existed, "READY=1 before the API socket listened"
        assert any(line.startswith("STATUS=latched: power-on") for line in ready.text.split("\n"))
        time.sleep(0.5)
        start = time.monotonic()
        n0 = len(pings(listener))
        window_s = 3.0
        time.sleep(window_s)
        n = len(pings(listener)) - n0
        elapsed = time.monotonic() - start
        print(f"\n{n} pings in {elapsed:.2f} s (interval {PING_S} s)")
        # never more often than every WATCHDOG_USEC/2 (+2 for the window's edges) ...
        assert n <= elapsed / PING_S + 2
        # ... and steadily while the loop runs (a quarter of the rate: a loaded machine)
        assert n >= elapsed / PING_S / 4
        gaps = [b - a for a, b in zip(pings(listener), pings(listener)[1:], strict=False)]
        assert max(gaps) < WATCHDOG_USEC / 1e6, f"a gap as long as the watchdog: {gaps}"
        assert proc.poll() is None
    finally:
        stop_serve(proc)
    stopping = listener.with_line("STOPPING=1")
    assert stopping, listener.messages()
    assert stopping[0].at >= pings(listener)[-1] - PING_S  # on the way out, not before


def test_a_stopped_process_stops_pinging_and_pings_again_when_continued(
    listener: NotifyListener, tmp_path: Path
) -> None:
    proc = start_serve(listener.api_socket, tmp_path, env_for(listener))
    try:
        wait_ready(listener, proc)
        listener.wait_for("WATCHDOG=1")
        os.kill(proc.pid, signal.SIGSTOP)  # a stalled loop, as from outside
        try:
            time.sleep(0.3)  # anything already sent has arrived
            before = len(pings(listener))
            time.sleep(6 * PING_S)
            stalled = len(pings(listener)) - before
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        assert stalled == 0, "pings while the loop could not cycle"
        deadline = time.monotonic() + DEADLINE_S
        while len(pings(listener)) == before:
            assert time.monotonic() < deadline, "no pings after SIGCONT"
            time.sleep(0.05)
    finally:
        stop_serve(proc)


def status_json(sock: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "treadctl.cli", "status", "--json", "--socket", str(sock)],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    status: dict[str, object] = json.loads(done.stdout)
    return status


def test_a_restart_after_kill_9_comes_up_latched_and_never_moving(
    listener: NotifyListener, tmp_path: Path
) -> None:
    first = start_serve(listener.api_socket, tmp_path, env_for(listener))
    try:
        wait_ready(listener, first)
        first.send_signal(signal.SIGKILL)  # what systemd does to a stalled controller
        first.wait(DEADLINE_S)
    finally:
        stop_serve(first)
    assert not listener.with_line("STOPPING=1")  # killed: no goodbye
    assert listener.api_socket.exists()  # the stale socket is left behind
    listener.received.clear()
    second = start_serve(listener.api_socket, tmp_path, env_for(listener))
    try:
        ready = wait_ready(listener, second)
        assert "STATUS=latched: power-on, belt 0.0 km/h" in ready.text.split("\n")
        for _ in range(3):  # and it stays so: nobody reset it
            status = status_json(listener.api_socket)
            assert status["mode"] == "faulted", status
            assert status["latched"] is True, status
            assert "controller started: reset required" in str(status["reasons"])
            assert status["setpoint_kmh"] == 0.0, status
            assert status["actual_kmh"] in (None, 0.0), status
            time.sleep(0.5)
    finally:
        stop_serve(second)


def test_no_notify_socket_no_datagrams_and_serve_unchanged(
    listener: NotifyListener, tmp_path: Path
) -> None:
    proc = start_serve(listener.api_socket, tmp_path, {"WATCHDOG_USEC": str(WATCHDOG_USEC)})
    try:
        deadline = time.monotonic() + DEADLINE_S
        while not listener.api_socket.exists():
            assert proc.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.05)
        status_json(listener.api_socket)
        time.sleep(4 * PING_S)
    finally:
        out = stop_serve(proc)
    assert listener.messages() == []
    assert "controller: listening on" in out


def test_no_ready_when_the_drive_cannot_be_connected(
    listener: NotifyListener, tmp_path: Path
) -> None:
    """A Modbus drive on a serial port that is not there: exit 3 (restarted by the unit,
    within its start limit), and systemd is never told READY=1."""
    text = SIM_MACHINE.read_text(encoding="utf-8")
    drive = (
        '[drive]\nkind = "modbus"\nmap = "generic"\nkmh_per_hz = 0.1\n'
        f'[drive.link]\nkind = "rtu"\nport = "{tmp_path / "ttyUSB9"}"\nbaudrate = 115200\n'
        'parity = "N"\n[safety_inputs]\nkind = "modbus"\nlink = "drive"\n\n'
    )
    machine = tmp_path / "machine.toml"
    machine.write_text(text[: text.index("[drive]")] + drive + text[text.index("[loop]") :])
    proc = start_serve(listener.api_socket, tmp_path, env_for(listener), machine=machine)
    try:
        code = proc.wait(DEADLINE_S)
    finally:
        out = stop_serve(proc)
    assert code == 3, out
    assert "cannot start" in out
    time.sleep(0.3)  # anything sent has arrived
    assert not listener.with_line("READY=1"), listener.messages()
    assert not listener.with_line("WATCHDOG=1")


def test_the_scenario_hook_still_runs_beside_the_pings(
    listener: NotifyListener, tmp_path: Path
) -> None:
    """Both hooks on LoopParts.on_cycle: the scenario's fault is injected and the
    pings go on; STATUS names the new reason."""
    scenario = tmp_path / "pull.toml"
    scenario.write_text(
        'name = "pull"\ndescription = "key pulled at once"\n\n'
        '[[event]]\nat_s = 0.5\naction = "pull_key"\n'
    )
    proc = start_serve(
        listener.api_socket, tmp_path, env_for(listener), extra=("--scenario", str(scenario))
    )
    try:
        wait_ready(listener, proc)
        status = listener.wait_for("STATUS=latched: power-on, safety-key-pulled, belt 0.0 km/h")
        n = len(pings(listener))
        deadline = time.monotonic() + DEADLINE_S
        while len(pings(listener)) < n + 3:
            assert time.monotonic() < deadline, "pings stopped after the injected fault"
            time.sleep(0.05)
        assert proc.poll() is None
    finally:
        stop_serve(proc)
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert any(e["kind"] == "fault_injected" and e["action"] == "pull_key" for e in events)
    assert status.api_socket_existed
