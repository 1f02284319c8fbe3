"""Loop timing of the controller process with hostile socket clients (issue 17).

    .venv/bin/python bench/hostile_clients.py --seconds 30 [--rate 50]

Runs `treadctl serve --operator auto` on the built-in simulator twice, one after the
other, in one invocation: nothing attached, then with flooding clients attached from
other processes for the whole run. The flood, each in a process of its own:

- garbage: lines of junk as fast as the socket takes them, reading the refusals;
- long: 10 MB lines, then a valid line;
- deep: JSON nested 100,000 deep, lines of non-finite numbers and lone surrogates;
- churn: connect, hello, close, as fast as the controller accepts;
- mute: clients that say hello and never read;
- dribble: a partial line, one byte every few milliseconds.

Prints one line per case and the ratio of their lateness p99, which issue 17 bounds at
1.5, with no deadline skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from attached import PROFILE, ROOT, TREADCTL  # the same session as attached.py

FIGURES = re.compile(
    r"cycles (\d+), overruns (\d+), skipped deadlines (\d+).*?"
    r"wake-up lateness\s+p50 ([0-9.]+) ms\s+p99 ([0-9.]+) ms\s+max ([0-9.]+) ms",
    re.S,
)
HELLO = b'{"type":"hello","client":"flood"}\n'
# A valid line after the long ones (not a stop: that would end the measured session).
BEAT = b'{"type":"heartbeat"}\n'


def _connect(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def _drain(s: socket.socket) -> None:
    s.setblocking(False)
    with contextlib.suppress(BlockingIOError, InterruptedError):
        while s.recv(1 << 16):
            pass
    s.setblocking(True)


def _forever(path: str, until: float, body: Callable[[str], None]) -> None:
    """Run one attack again and again; a refused or cut connection starts it again."""
    while time.monotonic() < until:
        with contextlib.suppress(OSError):
            body(path)
        time.sleep(0.001)


def garbage(path: str) -> None:
    lines = [
        b"not json\n",
        b'{"type":"launch"}\n',
        b'{"type":"command","id":1,"action":"start"}\n',
        b'{"type":"sim","id":2,"input":"estop","value":-Infinity}\n',
        b"\x00\xff\xfe garbage \x80\n",
    ]
    blob = b"".join(lines) * 200
    with _connect(path) as s:
        s.sendall(HELLO)
        for _ in range(200):
            s.sendall(blob)
            _drain(s)


def long_lines(path: str) -> None:
    chunk = b"x" * (1 << 20)
    with _connect(path) as s:
        s.sendall(HELLO)
        for _ in range(10):
            s.sendall(chunk)
            _drain(s)
        s.sendall(b"\n" + BEAT)
        _drain(s)


def deep(path: str) -> None:
    bad = [
        b"[" * 100_000 + b"\n",
        b'{"type":"command","id":1,"action":"speed","speed_kmh":1e999}\n',
        b'{"type":"hello","client":"\\ud800"}\n',
        b'{"type":"command","id":' + b"9" * 5000 + b',"action":"pause"}\n',
    ]
    with _connect(path) as s:
        for _ in range(50):
            for line in bad:
                s.sendall(line)
            _drain(s)


def churn(path: str) -> None:
    for _ in range(200):
        with _connect(path) as s:
            s.sendall(HELLO)


def mute(path: str) -> None:
    socks = []
    with contextlib.ExitStack() as stack:
        for _ in range(8):
            s = stack.enter_context(_connect(path))
            s.sendall(HELLO)
            socks.append(s)
        time.sleep(30)  # never reads: the controller must cut these off


def dribble(path: str) -> None:
    with _connect(path) as s:
        s.sendall(HELLO)
        for _ in range(2000):
            s.sendall(b"{")
            time.sleep(0.005)


def commands(path: str) -> None:
    """Valid commands as an observer (issue 27): 3,000 starts and 20,000 pauses, in two
    writes; every one is answered (refused, coalesced or busy), none lengthens a cycle."""
    starts = b"".join(b'{"type":"command","id":%d,"action":"start"}\n' % i for i in range(3000))
    pauses = b"".join(
        b'{"type":"command","id":%d,"action":"pause"}\n' % (3000 + i) for i in range(20_000)
    )
    with _connect(path) as s:
        s.sendall(b'{"type":"hello","role":"observer","client":"commands"}\n')
        s.sendall(starts)
        s.sendall(pauses)
        _drain(s)


ATTACKS: dict[str, Callable[[str], None]] = {
    "garbage": garbage,
    "long": long_lines,
    "deep": deep,
    "churn": churn,
    "mute": mute,
    "dribble": dribble,
    "commands": commands,
}


def served_run(seconds: float, rate_hz: float, tmp: Path, attacks: list[str]) -> dict[str, float]:
    case = "-".join(attacks) or "quiet"
    machine = tmp / "machine.toml"
    text = (ROOT / "src/treadctl/samples/machines/sim.toml").read_text()
    machine.write_text(text.replace("rate_hz = 50", f"rate_hz = {rate_hz:g}"))
    profile = tmp / f"profile-{case}.toml"
    profile.write_text(PROFILE.format(seconds=seconds, supervision="none"))
    sock = Path(tempfile.mkdtemp(prefix="th-", dir="/tmp")) / "c.sock"
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
        str(ROOT / "src/treadctl/samples/patients/demo.toml"),
        "--socket",
        str(sock),
        "--db",
        str(tmp / f"{case}.sqlite"),
        "--events",
        str(tmp / f"{case}.jsonl"),
    ]
    serve = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = PeakRss(serve.pid)
    attackers: list[mp.Process] = []
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            if time.monotonic() > deadline or serve.poll() is not None:
                raise RuntimeError("the controller did not open its socket")
            time.sleep(0.05)
        if attacks:
            until = time.monotonic() + seconds + 60
            ctx = mp.get_context("fork")
            for body in (ATTACKS[name] for name in attacks):
                proc = ctx.Process(target=_forever, args=(str(sock), until, body), daemon=True)
                proc.start()
                attackers.append(proc)
        out, _ = serve.communicate(timeout=seconds * 3 + 120)
    finally:
        for proc in attackers:
            proc.kill()
        if serve.poll() is None:
            serve.kill()
    m = FIGURES.search(out)
    if m is None:
        raise RuntimeError(f"no cycle figures in the {case} run:\n{out[-3000:]}")
    if "Traceback" in out:
        raise RuntimeError(f"a traceback in the controller's output:\n{out[-3000:]}")
    return {
        "cycles": float(m.group(1)),
        "overruns": float(m.group(2)),
        "skipped": float(m.group(3)),
        "p50": float(m.group(4)),
        "p99": float(m.group(5)),
        "max": float(m.group(6)),
        "peak_rss_mb": peak.mb,
    }


class PeakRss:
    """The controller's largest resident set, sampled from /proc while it runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.mb = 0.0
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        status = Path(f"/proc/{self.pid}/status")
        while True:
            try:
                text = status.read_text()
            except OSError:
                return
            for line in text.splitlines():
                if line.startswith("VmRSS:"):
                    self.mb = max(self.mb, int(line.split()[1]) / 1024)
            time.sleep(0.2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument(
        "--each", action="store_true", help="also one run per attack, alone (a table to read)"
    )
    args = ap.parse_args()
    results: dict[str, dict[str, float]] = {}
    cases: list[tuple[str, list[str]]] = [
        ("nothing attached", []),
        ("flooding clients", [*ATTACKS]),
    ]
    if args.each:
        cases += [(f"{name} only", [name]) for name in ATTACKS]
    with tempfile.TemporaryDirectory() as name:
        for case, attacks in cases:
            f = served_run(args.seconds, args.rate, Path(name), attacks)
            results[case] = f
            print(
                f"{case:>17} @ {args.rate:g} Hz: {f['cycles']:.0f} cycles, lateness p50 "
                f"{f['p50']:.3f} ms, p99 {f['p99']:.3f} ms, max {f['max']:.3f} ms, "
                f"overruns {f['overruns']:.0f}, skipped deadlines {f['skipped']:.0f}, "
                f"controller peak RSS {f['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    quiet, loud = results["nothing attached"], results["flooding clients"]
    ratio = loud["p99"] / quiet["p99"] if quiet["p99"] > 0 else float("inf")
    print(f"p99 ratio (flood / quiet): {ratio:.2f} (issue 17 bound: 1.5); cores {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
