"""Soak: a long session at 50 Hz on the real wire, everything attached, faults injected.

    .venv/bin/python bench/soak.py --minutes 30 [--transports rtu,tcp] [--hogs 1]

For each transport at once (Modbus RTU on a socat pty pair, Modbus TCP on loopback):
`treadctl sim` serves the drive and the safety inputs (hil/runner.py's machine), and
`treadctl serve --operator auto` runs a walk that alternates forward and backward
segments for the whole soak, with every client a clinic attaches: the Textual dashboard
in a tmux pane, the MQTT bridge publishing to a local mosquitto (a subscriber counts the
telemetry), the session recording to SQLite, and the browser console
(`python -m treadctl.web`) open in Debian's headless chromium. `--hogs` busy-loop
processes compete for the two cores the whole time.

While the belt runs, the bench injects one thing at a time through the simulator's
control channel, in turn:
- late answers (one answer 35 or 50 ms late to the safety inputs' or the drive's read):
  a nuisance trip if the controller latches within the next seconds;
- real faults: the e-stop chain opened, the key pulled, a drive fault code, the safety
  inputs silent, the drive silent, the whole line cut: each must latch with its own
  reason within its stated bound, measured from the injection (wall clock, the host's,
  as the controller's event log) to the controller's transition to faulted.

The bounds are the safety case's (docs/safety.md, worst-case software reaction): a
reading that reports a fault latches on the cycle it arrives, so within two cycles of
the injection (one for the read to start, one for it to come back and be judged); a
silence latches when the last good reading is older than its maximum age, so within
that age plus one cycle, plus one cycle between the last good reading and the injection.
The scripted operator resets after each fault once it has cleared and the belt has
stopped, and starts again, so one session carries every injection. Any latch that no
injected fault explains is a nuisance trip. The figures are printed; the exit status is
0 only with no nuisance trip and every fault within its bound.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "hil"))
sys.path.insert(0, str(ROOT / "bench"))

from attached import _tmux_pane_cpu_s, mosquitto  # noqa: E402
from runner import MACHINE_TEMPLATE, Hil  # noqa: E402

from treadctl.config.loader import load_model  # noqa: E402
from treadctl.config.machine import MachineConfig  # noqa: E402

TREADCTL = [sys.executable, "-m", "treadctl.cli"]
CHROMIUM = Path("/usr/bin/chromium")
SEGMENT_S = 120
FORWARD_KMH, BACKWARD_KMH = 2.0, 1.0
LATE_WATCH_S = 3.0  # a late answer's nuisance window
TRIP_WAIT_S = 10.0  # a fault never latched within this is a miss
HOLD_S = 1.5  # how long a real fault stays before it is cleared
DRIVE_UNIT, INPUTS_UNIT = 1, 2
READ_REGISTERS, READ_INPUTS = 3, 2
SIM_RT_PRIORITY = 10


@dataclass(frozen=True)
class Injection:
    name: str
    inject: str  # the simulator control line
    clear: str  # "" for late answers
    reason: str  # a latch must name this (trips only)
    silence: str = ""  # "inputs" or "drive": bound = maximum age + 2 cycles; else 2 cycles

    @property
    def trips(self) -> bool:
        return bool(self.clear)


INJECTIONS = [
    Injection("late inputs 50 ms", f"late_once 0.05 {INPUTS_UNIT} {READ_INPUTS}", "", ""),
    Injection("late drive 50 ms", f"late_once 0.05 {DRIVE_UNIT} {READ_REGISTERS}", "", ""),
    Injection("e-stop opened", "open_estop", "close_estop", "emergency-stop chain open"),
    Injection("late inputs 35 ms", f"late_once 0.035 {INPUTS_UNIT} {READ_INPUTS}", "", ""),
    Injection("key pulled", "pull_key", "insert_key", "safety key pulled"),
    Injection("late drive 35 ms", f"late_once 0.035 {DRIVE_UNIT} {READ_REGISTERS}", "", ""),
    Injection("drive fault 7", "drive_trip 7", "drive_clear_fault", "drive reports a fault"),
    Injection(
        "safety inputs silent",
        "inputs_silent",
        "inputs_answer",
        "safety inputs watchdog expired",
        silence="inputs",
    ),
    Injection(
        "drive silent",
        "drive_silent",
        "drive_answer",
        "drive stopped answering",
        silence="drive",
    ),
    Injection("line cut", "silent on", "silent off", "safety inputs watchdog expired", "inputs"),
]


def profile_text(minutes: float) -> str:
    segments = int(minutes * 60 // SEGMENT_S) + 2
    lines = ['name = "soak: forward and backward"', 'supervision = "none"', "[[blocks]]"]
    for i in range(segments):
        backward = i % 2 == 1
        lines += [
            "  [[blocks.segments]]",
            f'  direction = "{"backward" if backward else "forward"}"',
            f"  duration_s = {SEGMENT_S}",
            f"  speed_kmh = {BACKWARD_KMH if backward else FORWARD_KMH}",
        ]
    return "\n".join(lines) + "\n"


SCENARIO = """name = "soak operator"
description = "the scripted operator resets once each injected fault has cleared"
[operator]
reset_after_fault = true
"""


@dataclass
class Outcome:
    name: str
    latency_ms: float | None = None  # injection to the latch (trips)
    bound_ms: float | None = None
    reasons: list[str] = field(default_factory=list)
    nuisance: bool = False  # a late answer that latched
    reasons_match: list[bool] = field(default_factory=list)
    at: float = 0.0  # wall time of the injection

    @property
    def ok(self) -> bool:
        if self.bound_ms is None:
            return not self.nuisance
        return (
            self.latency_ms is not None
            and self.latency_ms <= self.bound_ms
            and any(self.reasons_match)
        )


class EventTail:
    """Reads the controller's JSON-lines event log as it grows (transitions only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = ""
        self.transitions: list[tuple[float, str, list[str]]] = []  # (wall, new mode, reasons)
        self.ended: str | None = None
        self.added_reasons = 0

    def poll(self) -> None:
        if not self.path.exists():
            return
        with self.path.open() as f:
            f.seek(self.offset)
            chunk = f.read()
            self.offset = f.tell()
        text = self.partial + chunk
        lines = text.split("\n")
        self.partial = lines.pop()
        for line in lines:
            if not line.strip():
                continue
            r = json.loads(line)
            if r["kind"] == "transition":
                wall = datetime.fromisoformat(r["wall"]).timestamp()
                if r["old"] == r["new"] == "faulted":
                    self.added_reasons += 1  # a later trip only adds reasons: no new latch
                    continue
                self.transitions.append((wall, r["new"], list(r["reasons"])))
            elif r["kind"] == "session_end":
                self.ended = str(r["outcome"])

    @property
    def mode(self) -> str:
        return self.transitions[-1][1] if self.transitions else "faulted"


@dataclass
class Rig:
    """One transport: the simulator, the controller and its clients."""

    transport: str
    tmp: Path
    minutes: float
    mqtt_port: int
    hil: Hil = field(init=False)
    serve: subprocess.Popen[bytes] | None = None
    tail: EventTail = field(init=False)
    period_s: float = 0.02
    input_age_s: float = 0.0
    drive_age_s: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)
    claimed: set[float] = field(default_factory=set)  # latch walls explained by a fault
    tmux: str = ""
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    socket_path: Path = field(init=False)
    realtime: list[bool] = field(default_factory=list)

    def start(self, attach: set[str], *, default_ages: bool = True) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.hil = Hil(self.transport, self.tmp)
        link = self.hil.start_sim()
        self.realtime = [realtime(p.pid) for p in self.hil.procs]  # as hil/runner.py does
        machine_text = MACHINE_TEMPLATE.format(
            transport=self.transport,
            map=self.hil.map_name,
            link=link,
            rate_hz=self.hil.rate_hz,
            backward_walking="belt_reverses",
            realtime_priority=self.hil.realtime_priority,
        )
        if default_ages:  # the product's defaults (5 cycles), not the HIL rig's own figures
            machine_text = "".join(
                line
                for line in machine_text.splitlines(keepends=True)
                if not line.startswith(("drive_read_timeout_s", "input_read_timeout_s"))
            )
        (self.tmp / "machine.toml").write_text(machine_text)
        machine = load_model(self.tmp / "machine.toml", MachineConfig)
        self.period_s = 1.0 / machine.loop.rate_hz
        self.input_age_s = machine.watchdog.input_read_timeout_s
        self.drive_age_s = machine.watchdog.drive_read_timeout_s
        (self.tmp / "profile.toml").write_text(profile_text(self.minutes))
        (self.tmp / "scenario.toml").write_text(SCENARIO)
        (self.tmp / "mqtt.toml").write_text(
            f'site = "soak"\ntreadmill = "{self.transport}"\n'
            f'[broker]\nhost = "127.0.0.1"\nport = {self.mqtt_port}\n'
        )
        self.socket_path = Path(tempfile.mkdtemp(prefix="soak-", dir="/tmp")) / "c.sock"
        events = self.tmp / "events.jsonl"
        self.tail = EventTail(events)
        argv = [
            *TREADCTL,
            "serve",
            "--operator",
            "auto",
            "--machine",
            str(self.tmp / "machine.toml"),
            "--profile",
            str(self.tmp / "profile.toml"),
            "--scenario",
            str(self.tmp / "scenario.toml"),
            "--socket",
            str(self.socket_path),
            "--db",
            str(self.tmp / "session.sqlite"),
            "--events",
            str(events),
        ]
        if "mqtt" in attach:
            argv += ["--mqtt", str(self.tmp / "mqtt.toml")]
        with (self.tmp / "serve.out").open("wb") as out:
            self.serve = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not self.socket_path.exists():
            if time.monotonic() > deadline or self.serve.poll() is not None:
                raise RuntimeError(
                    f"{self.transport}: the controller did not open its socket:\n"
                    + (self.tmp / "serve.out").read_text()[-3000:]
                )
            time.sleep(0.05)
        if "dashboard" in attach:
            self.tmux = f"soak-{self.transport}-{os.getpid()}"
            command = " ".join([*TREADCTL, "dashboard", "--socket", str(self.socket_path)])
            subprocess.run(
                ["tmux", "new-session", "-d", "-s", self.tmux, "-x", "120", "-y", "40", command],
                check=True,
            )
        if "web" in attach:
            self._start_web()

    def _start_web(self) -> None:
        token_file = self.tmp / "token"
        token = f"soak-{os.getpid()}-{self.transport}-0123456789abcdef"
        token_file.write_text(token + "\n")
        out_path = self.tmp / "web.out"
        with out_path.open("wb") as out:
            web = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "treadctl.web",
                    "dashboard",
                    "--socket",
                    str(self.socket_path),
                    "--port",
                    "0",
                    "--token-file",
                    str(token_file),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.procs.append(web)
        deadline = time.monotonic() + 60
        url = None
        while url is None:
            for word in out_path.read_text().split():
                if word.startswith("http://127.0.0.1:") and "?token=" in word:
                    url = word
            if url is None:
                if time.monotonic() > deadline or web.poll() is not None:
                    raise RuntimeError(f"the web console did not start:\n{out_path.read_text()}")
                time.sleep(0.1)
        with (self.tmp / "browser.out").open("wb") as out:
            browser = subprocess.Popen(
                [sys.executable, __file__, "--browser", url, "--profile-dir", str(self.tmp / "b")],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.procs.append(browser)

    # -- injections --------------------------------------------------------------------
    def bound_ms(self, inj: Injection) -> float | None:
        if not inj.trips:
            return None
        if inj.silence == "inputs":
            return (self.input_age_s + 2 * self.period_s) * 1000
        if inj.silence == "drive":
            return (self.drive_age_s + 2 * self.period_s) * 1000
        return 2 * self.period_s * 1000

    def wait_running(self, timeout_s: float) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            self.tail.poll()
            if self.tail.ended is not None:
                return False
            if self.tail.mode == "running" and time.time() - self.tail.transitions[-1][0] > 2:
                return True
            time.sleep(0.05)
        return False

    def inject(self, inj: Injection) -> Outcome:
        out = Outcome(inj.name, bound_ms=self.bound_ms(inj))
        before = len(self.tail.transitions)
        at = out.at = time.time()
        self.hil.sim_cmd(inj.inject)
        end = time.monotonic() + (TRIP_WAIT_S if inj.trips else LATE_WATCH_S)
        latch = None
        while time.monotonic() < end and latch is None:
            time.sleep(0.02)
            self.tail.poll()
            for wall, mode, reasons in self.tail.transitions[before:]:
                if mode == "faulted":
                    latch = (wall, reasons)
                    break
        if inj.trips:
            with contextlib.suppress(Exception):
                time.sleep(max(0.0, HOLD_S - (time.time() - at)))
            self.hil.sim_cmd(inj.clear)
            if latch is not None:
                out.latency_ms = (latch[0] - at) * 1000
                out.reasons = latch[1]
                out.reasons_match = [inj.reason in r for r in latch[1]]
                self.claimed.add(latch[0])
        elif latch is not None:
            out.nuisance = True
            out.reasons = latch[1]
            self.claimed.add(latch[0])  # counted once, as this late answer's nuisance
        self.outcomes.append(out)
        return out

    def unexplained_latches(self, t0: float) -> list[tuple[float, list[str]]]:
        self.tail.poll()
        return [
            (wall, reasons)
            for wall, mode, reasons in self.tail.transitions
            if mode == "faulted" and wall >= t0 and wall not in self.claimed
        ]

    def close(self) -> None:
        if self.tmux:
            subprocess.run(["tmux", "kill-session", "-t", self.tmux], check=False)
        for proc in [*self.procs, self.serve]:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*self.procs, self.serve]:
            if proc is None:
                continue
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.hil.close()


class Subscriber:
    """Counts telemetry messages per treadmill on the broker (paho, a thread of its own)."""

    def __init__(self, port: int) -> None:
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="soak-sub")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("treadctl/soak/+/telemetry")
        self.client.loop_start()

    def _on_message(self, _client: object, _userdata: object, message: object) -> None:
        topic = str(getattr(message, "topic", ""))
        with self.lock:
            self.counts[topic] = self.counts.get(topic, 0) + 1

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def realtime(pid: int) -> bool:
    """The simulator and the pty pair stand in for hardware, which no load on the
    controller's computer slows down: they run SCHED_FIFO where allowed (as root), at the
    controller's own priority (`treadctl serve` sets its loop's)."""
    try:
        os.sched_setscheduler(pid, os.SCHED_FIFO, os.sched_param(SIM_RT_PRIORITY))
    except OSError:
        return False
    return True


@contextlib.contextmanager
def hogs(n: int) -> Iterator[None]:
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def browse(url: str, profile_dir: str) -> int:
    """The browser console's tab: opened once, kept open until killed."""
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile_dir,
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            headless=True,
        )
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("body.-first-byte", timeout=120_000)
        print("browser: the console's first screen arrived", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        while not stop.is_set():
            page.wait_for_timeout(1000)
        context.close()
    return 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--transports", default="rtu,tcp")
    ap.add_argument("--hogs", type=int, default=1, help="busy-loop processes (default 1)")
    ap.add_argument("--attach", default="dashboard,mqtt,web")
    ap.add_argument("--every", type=float, default=15.0, help="seconds between injections")
    ap.add_argument(
        "--hil-ages",
        action="store_true",
        help="hil/runner.py's own maximum ages instead of the defaults (5 cycles)",
    )
    ap.add_argument("--keep", type=Path, help="copy every process's output and log here")
    ap.add_argument("--browser", help=argparse.SUPPRESS)
    ap.add_argument("--profile-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.browser:
        return browse(args.browser, args.profile_dir)
    attach = {a for a in args.attach.split(",") if a}
    if "web" in attach and not CHROMIUM.exists():
        print(f"{CHROMIUM} not found (apt-get install chromium) or --attach without web")
        return 2
    if "dashboard" in attach and shutil.which("tmux") is None:
        print("tmux not found (apt-get install tmux) or --attach without dashboard")
        return 2
    started = datetime.now().astimezone()
    with tempfile.TemporaryDirectory(prefix="soak-") as name, mosquitto(Path(name)) as port:
        root = Path(name)
        subscriber = Subscriber(port) if "mqtt" in attach else None
        rigs = [Rig(t, root / t, args.minutes, port) for t in args.transports.split(",")]
        try:
            with hogs(args.hogs):
                for rig in rigs:
                    rig.start(attach, default_ages=not args.hil_ages)
                t0 = time.time()
                cpu0 = {r.transport: _tmux_pane_cpu_s(r.tmux) or 0.0 for r in rigs if r.tmux}
                threads = [
                    threading.Thread(target=drive_injections, args=(r, args), daemon=True)
                    for r in rigs
                ]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                elapsed = time.time() - t0
                cpu1 = {r.transport: _tmux_pane_cpu_s(r.tmux) or 0.0 for r in rigs if r.tmux}
                telemetry = subscriber.snapshot() if subscriber else {}
        finally:
            for rig in rigs:
                rig.close()
            if subscriber is not None:
                subscriber.close()
            if args.keep is not None:
                shutil.copytree(root, args.keep, dirs_exist_ok=True, symlinks=True)
        return report(rigs, args, started, elapsed, cpu0, cpu1, telemetry, t0)


def drive_injections(rig: Rig, args: argparse.Namespace) -> None:
    end = time.monotonic() + args.minutes * 60
    i = 0
    # the first run starts after the scripted operator's reset and start
    while time.monotonic() < end:
        if not rig.wait_running(min(60.0, max(1.0, end - time.monotonic()))):
            if rig.tail.ended is not None:
                return
            continue
        inj = INJECTIONS[i % len(INJECTIONS)]
        i += 1
        rig.inject(inj)
        rest = args.every - (LATE_WATCH_S if not inj.trips else 0.0)
        time.sleep(max(0.0, min(rest, end - time.monotonic())))


def report(
    rigs: list[Rig],
    args: argparse.Namespace,
    started: datetime,
    elapsed: float,
    cpu0: dict[str, float],
    cpu1: dict[str, float],
    telemetry: dict[str, int],
    t0: float,
) -> int:
    print(
        f"soak ({started:%Y-%m-%d %H:%M %Z}, {os.cpu_count()} cores): {args.minutes:g} min at "
        f"50 Hz, {args.hogs} busy loop(s), attached: {args.attach}; {elapsed / 60:.1f} min ran"
    )
    good = True
    for rig in rigs:
        out = (rig.tmp / "serve.out").read_text() if (rig.tmp / "serve.out").exists() else ""
        loop = [line.strip() for line in out.splitlines() if "cycles" in line or "lateness" in line]
        late = [o for o in rig.outcomes if o.bound_ms is None]
        trips = [o for o in rig.outcomes if o.bound_ms is not None]
        nuisances = [o for o in late if o.nuisance]
        unexplained = rig.unexplained_latches(t0)
        print(
            f"  {rig.transport}: {len(rig.outcomes)} injections, session: {rig.tail.ended}; "
            f"simulator and wire SCHED_FIFO: {all(rig.realtime)}; maximum ages: inputs "
            f"{rig.input_age_s * 1000:.0f} ms, drive {rig.drive_age_s * 1000:.0f} ms"
        )
        print(
            f"    late answers: {len(late)}, nuisance trips {len(nuisances)}"
            + "".join(f"\n      NUISANCE {o.name}: {o.reasons}" for o in nuisances)
        )
        print(f"    latches no injection explains: {len(unexplained)}")
        for wall, reasons in unexplained:
            last = max((o for o in rig.outcomes if o.at <= wall), key=lambda o: o.at, default=None)
            after = f"{wall - last.at:.1f} s after '{last.name}'" if last else "before any"
            print(f"      at {datetime.fromtimestamp(wall):%H:%M:%S.%f} ({after}): {reasons}")
        by_name: dict[str, list[Outcome]] = {}
        for o in trips:
            by_name.setdefault(o.name, []).append(o)
        for name, outcomes in by_name.items():
            lat = [o.latency_ms for o in outcomes if o.latency_ms is not None]
            missed = [o for o in outcomes if not o.ok]
            figures = (
                f"p50 {statistics.median(lat):.0f} ms, max {max(lat):.0f} ms"
                if lat
                else "never latched"
            )
            print(
                f"    {name:>22}: {len(outcomes)} injected, {figures}, bound "
                f"{outcomes[0].bound_ms:.0f} ms, outside the bound or wrong reason: {len(missed)}"
            )
            for o in missed:
                print(f"      MISS {o.latency_ms} ms {o.reasons}")
            good = good and not missed
        if rig.transport in cpu0 and rig.transport in cpu1 and elapsed > 0:
            share = (cpu1[rig.transport] - cpu0[rig.transport]) / elapsed * 100
            print(f"    dashboard CPU {share:.1f} % of a core")
        topic = f"treadctl/soak/{rig.transport}/telemetry"
        if telemetry:
            print(f"    MQTT telemetry received: {telemetry.get(topic, 0)} ({elapsed:.0f} s)")
        for line in loop[-3:]:
            print(f"    {line}")
        good = good and not nuisances and not unexplained and bool(trips)
    print(f"  result: {'PASS' if good else 'FAIL'}")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
