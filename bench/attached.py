"""Loop timing of the controller process with clients attached (issue 7, item 2).

    .venv/bin/python bench/attached.py --seconds 60 [--rate 50]

Runs `treadctl serve --operator auto` (the scripted operator resets and starts) on the
built-in simulator three ways, one after the other: nothing attached; the real Textual
dashboard attached in a tmux pane (a second process on the same two cores, rendering
10 status messages a second); publishing telemetry over MQTT to a local mosquitto.
Each run's own summary gives the wake-up lateness; prints one line per case.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MACHINE_TEXT = (ROOT / "src/treadctl/samples/machines/sim.toml").read_text()
PATIENT = ROOT / "src/treadctl/samples/patients/demo.toml"
TREADCTL = [sys.executable, "-m", "treadctl.cli"]
PROFILE = """
name = "bench: steady walk"
supervision = "{supervision}"
[[blocks]]
  [[blocks.segments]]
  direction = "forward"
  duration_s = {seconds}
  speed_kmh = 2.0
"""
LATENESS = re.compile(
    r"cycles (\d+), overruns (\d+).*?wake-up lateness\s+p50 ([0-9.]+) ms\s+p99 ([0-9.]+) ms"
    r"\s+max ([0-9.]+) ms",
    re.S,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def mosquitto(tmp: Path) -> Iterator[int]:
    """An anonymous broker on loopback for the run (the bench measures load, not auth)."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen(
        [exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            break
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("mosquitto did not start")
        time.sleep(0.05)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def served_run(
    case: str, seconds: float, rate_hz: float, tmp: Path, mqtt_port: int | None = None
) -> dict[str, float]:
    """One `treadctl serve` session; case: nothing, dashboard or mqtt."""
    machine = tmp / f"m{rate_hz:g}.toml"
    machine.write_text(MACHINE_TEXT.replace("rate_hz = 50", f"rate_hz = {rate_hz:g}"))
    profile = tmp / f"profile-{case}.toml"
    supervision = "required" if case == "dashboard" else "none"
    profile.write_text(PROFILE.format(seconds=seconds, supervision=supervision))
    sock = Path(tempfile.mkdtemp(prefix="tb-", dir="/tmp")) / "c.sock"
    argv = [
        *TREADCTL,
        "serve",
        "--operator",
        "auto",
        "--machine",
        str(machine),
        "--profile",
        str(profile),
        "--patient",
        str(PATIENT),
        "--socket",
        str(sock),
        "--db",
        str(tmp / f"{case}.sqlite"),
        "--events",
        str(tmp / f"{case}.jsonl"),
    ]
    if case == "mqtt":
        assert mqtt_port is not None
        mqtt_file = tmp / "mqtt.toml"
        mqtt_file.write_text(
            'site = "bench"\ntreadmill = "tm-1"\n'
            f'[broker]\nhost = "127.0.0.1"\nport = {mqtt_port}\n'
        )
        argv += ["--mqtt", str(mqtt_file)]
    serve = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    session = f"bench-{os.getpid()}"
    dashboard_cpu_s = None
    try:
        if case == "dashboard":
            deadline = time.monotonic() + 30
            while not sock.exists():
                if time.monotonic() > deadline or serve.poll() is not None:
                    raise RuntimeError("the controller did not open its socket")
                time.sleep(0.05)
            command = " ".join([*TREADCTL, "dashboard", "--socket", str(sock)])
            subprocess.run(
                ["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40", command],
                check=True,
            )
        out, _ = serve.communicate(timeout=seconds * 3 + 120)
        if case == "dashboard":
            dashboard_cpu_s = _tmux_pane_cpu_s(session)
    finally:
        if serve.poll() is None:
            serve.kill()
        if case == "dashboard":
            subprocess.run(["tmux", "kill-session", "-t", session], check=False)
    m = LATENESS.search(out)
    if m is None:
        raise RuntimeError(f"no cycle figures in the {case} run:\n{out[-3000:]}")
    figures = {
        "cycles": float(m.group(1)),
        "overruns": float(m.group(2)),
        "late_p50_ms": float(m.group(3)),
        "late_p99_ms": float(m.group(4)),
        "late_max_ms": float(m.group(5)),
    }
    if dashboard_cpu_s is not None:
        figures["dashboard_cpu_share"] = dashboard_cpu_s / seconds
    if case == "dashboard" and "from auto-operator: accepted" not in _events_text(tmp, case):
        raise RuntimeError("the dashboard case never ran the belt (no accepted start)")
    return figures


def _events_text(tmp: Path, case: str) -> str:
    text = (tmp / f"{case}.jsonl").read_text()
    lines = []
    for line in text.splitlines():
        r = json.loads(line)
        if r["kind"] == "command":
            lines.append(
                f"{r['command']} from {r['source']}: {'accepted' if r['accepted'] else 'x'}"
            )
    return "\n".join(lines)


def _tmux_pane_cpu_s(session: str) -> float | None:
    """CPU seconds (user + system) of the dashboard process, read from /proc."""
    pid = subprocess.run(
        ["tmux", "list-panes", "-t", session, "-F", "#{pane_pid}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if not pid:
        return None
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--cases", default="nothing,dashboard,mqtt")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as name, mosquitto(Path(name)) as port:
        for case in args.cases.split(","):
            f = served_run(case, args.seconds, args.rate, Path(name), port)
            extra = (
                f", dashboard CPU {f['dashboard_cpu_share'] * 100:.1f} % of a core"
                if "dashboard_cpu_share" in f
                else ""
            )
            print(
                f"{case:>9} @ {args.rate:g} Hz: {f['cycles']:.0f} cycles, lateness p50 "
                f"{f['late_p50_ms']:.2f} ms, p99 {f['late_p99_ms']:.2f} ms, max "
                f"{f['late_max_ms']:.2f} ms, overruns {f['overruns']:.0f}{extra}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
