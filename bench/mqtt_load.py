"""MQTT load: many treadmills publishing telemetry at 10 Hz through one mosquitto.

    .venv/bin/python bench/mqtt_load.py                       # 50 treadmills, 30 s
    .venv/bin/python bench/mqtt_load.py --mode simulated      # bridges fed simulated status
    .venv/bin/python bench/mqtt_load.py --treadmills 10 --duration 10

Starts its own mosquitto on a free loopback port (passwords and the ACL of
examples/mqtt/acl, as the tests do), runs the treadmills in worker processes and one
subscriber here, and prints a table: telemetry expected and received, drops (seq gaps
at the subscriber and the bridges' own queue drops), end-to-end latency (`sent_at` to
receipt at the subscriber, and `sampled_at` to receipt), the control loops' timing and
the CPU each part used. Everything stops by itself (the measured window is --duration
seconds; a hard deadline kills whatever is left).

Modes: `controllers` runs real in-process Controllers on the built-in simulator (control
loop at 50 Hz, API server, bridge), several per worker process; `simulated` runs real
bridges fed by a simulated treadmill's Status at 10 Hz (no control loops); `auto` (the
default) runs the controllers and, if they did not keep their deadlines on this machine,
the simulated bridges too, and says which.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "mqtt"))

import aiomqtt  # noqa: E402
from mqtt_broker import Broker  # noqa: E402

from treadctl.api.messages import Status, Welcome  # noqa: E402
from treadctl.api.server import ApiServer  # noqa: E402
from treadctl.api.status import StatusBuilder, session_info  # noqa: E402
from treadctl.app import build_sim_session, load_session  # noqa: E402
from treadctl.clock import MonotonicClock  # noqa: E402
from treadctl.config.mqtt import MqttConfig  # noqa: E402
from treadctl.control.loop import ControlLoop  # noqa: E402
from treadctl.control.stats import BIN_US  # noqa: E402
from treadctl.mqtt.bridge import MqttBridge  # noqa: E402
from treadctl.safety.interlock import InterlockConfig  # noqa: E402
from treadctl.serve import Controller  # noqa: E402
from treadctl.sim.operator import ScriptedOperator  # noqa: E402
from treadctl.store.eventlog import EventLog  # noqa: E402

SITE = "bench"
MACHINE = ROOT / "src/treadctl/samples/machines/sim.toml"
PATIENT = ROOT / "src/treadctl/samples/patients/demo.toml"
PROFILE = """
name = "bench: steady walk"
supervision = "none"
[[blocks]]
  [[blocks.segments]]
  direction = "forward"
  duration_s = 3600
  speed_kmh = 2.0
"""
CONNECT_WAIT_S = 60.0
HARD_EXTRA_S = 90.0  # the whole run is killed this long after the window should end


# -- workers ------------------------------------------------------------------------------


def bridge_for(name: str, port: int, workdir: Path, rate_hz: float) -> MqttBridge:
    cfg = MqttConfig.model_validate(
        {
            "site": SITE,
            "treadmill": name,
            "broker": {
                "host": "127.0.0.1",
                "port": port,
                "username": name,
                "password_file": str(workdir / f"{name}.password"),
            },
            "telemetry": {"rate_hz": rate_hz},
            "reconnect": {"initial_s": 0.2, "max_s": 2.0},
        }
    )
    return MqttBridge(cfg)


async def stdin_line() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def wait_connected(bridges: list[MqttBridge]) -> None:
    deadline = time.monotonic() + CONNECT_WAIT_S
    while not all(b.stats.connected for b in bridges):
        if time.monotonic() > deadline:
            raise SystemExit("worker: bridges did not connect")
        await asyncio.sleep(0.05)


def loop_capture(loop: ControlLoop) -> tuple[list[int], list[int], int, int]:
    st = loop.stats
    return list(st.work._bins), list(st.lateness._bins), st.overruns, st.skipped_deadlines


def _bins_pct(bins: list[int], q: float) -> float:
    total, seen = sum(bins), 0
    for i, n in enumerate(bins):
        seen += n
        if n and seen >= q * total:
            return (i + 1) * BIN_US / 1e3
    return 0.0


def loop_window(a: tuple[Any, ...], b: tuple[Any, ...]) -> dict[str, float]:
    """One control loop's figures between two captures (the measured window only)."""
    work = [y - x for x, y in zip(a[0], b[0], strict=True)]
    late = [y - x for x, y in zip(a[1], b[1], strict=True)]
    top = max((i for i, n in enumerate(late) if n), default=-1)
    return {
        "cycles": sum(work),
        "overruns": b[2] - a[2],
        "skipped": b[3] - a[3],
        "late_p99_ms": _bins_pct(late, 0.99),
        "late_max_ms": (top + 1) * BIN_US / 1e3,
        "work_p99_ms": _bins_pct(work, 0.99),
    }


def bridge_result(b: MqttBridge) -> dict[str, int]:
    return {
        "published": b.stats.telemetry_published,
        "dropped": b.dropped_telemetry,
        "connections": b.stats.connections,
    }


async def worker_controllers(names: list[str], port: int, workdir: Path, rate: float) -> None:
    profile = workdir / "profile.toml"
    files = load_session(MACHINE, profile, PATIENT)
    sock_dir = Path(tempfile.mkdtemp(prefix="tqb-", dir="/tmp"))
    bridges, runs = [], []
    for i, name in enumerate(names):
        bridge = bridge_for(name, port, workdir, rate)
        ctl = Controller(
            files,
            MonotonicClock(),
            EventLog(None),
            sock_dir / f"{i}.sock",
            operator=ScriptedOperator(confirm_delay_s=0.2, turnaround_s=0.5),
            bridges=[bridge],
        )
        bridges.append(bridge)
        runs.append((ctl, asyncio.create_task(ctl.run())))
    await wait_connected(bridges)
    print("READY", flush=True)
    await stdin_line()  # "go": the measured window starts
    loops_ = [ctl.api.loop for ctl, _ in runs if ctl.api is not None]
    before = [loop_capture(loop) for loop in loops_]
    cpu0 = time.process_time()
    await stdin_line()  # "stop" (or EOF)
    cpu = time.process_time() - cpu0
    loops = [loop_window(a, loop_capture(loop)) for a, loop in zip(before, loops_, strict=True)]
    for loop in loops_:
        loop.request_quit("bench")
    for _, task in runs:
        await task
    shutil.rmtree(sock_dir, ignore_errors=True)
    out = {"bridges": [bridge_result(b) for b in bridges], "loops": loops, "cpu_s": cpu}
    print("RESULT " + json.dumps(out), flush=True)


async def template_status(workdir: Path) -> Status:
    """A real Status of a running simulated belt, to vary in simulated mode."""
    files = load_session(MACHINE, workdir / "profile.toml", PATIENT)
    sock_dir = Path(tempfile.mkdtemp(prefix="tqt-", dir="/tmp"))
    ctl = Controller(
        files,
        MonotonicClock(),
        EventLog(None),
        sock_dir / "t.sock",
        operator=ScriptedOperator(confirm_delay_s=0.1, turnaround_s=0.2),
    )
    task = asyncio.create_task(ctl.run())
    status = None
    while status is None or status.mode != "running":
        await asyncio.sleep(0.1)
        if ctl.api is not None:
            status = ctl.api.builder.build(ctl.api.loop.snapshot, [])
    assert ctl.api is not None
    ctl.api.loop.request_quit("bench")
    await task
    shutil.rmtree(sock_dir, ignore_errors=True)
    return status


async def worker_simulated(names: list[str], port: int, workdir: Path, rate: float) -> None:
    template = await template_status(workdir)
    files = load_session(MACHINE, workdir / "profile.toml", PATIENT)
    machine = files.machine
    apis, bridges = [], []
    for name in names:
        session = build_sim_session(files, MonotonicClock(), EventLog(None))
        cfg = InterlockConfig.from_config(
            machine.limits, machine.watchdog, files.patient, machine.operator
        )
        info = session_info(
            machine,
            files.plan,
            session.loop.p.patient_name,
            True,
            machine.operator.presence_timeout_s / 4,
            (cfg.max_forward_kmh, cfg.max_backward_kmh),
        )
        builder = StatusBuilder(machine, files.plan, files.profile.heart_rate.required)
        api = ApiServer(session.loop, builder, Welcome(session=info), session.belt)
        bridge = bridge_for(name, port, workdir, rate)
        bridge.start(api)
        apis.append(api)
        bridges.append(bridge)
    await wait_connected(bridges)
    print("READY", flush=True)
    go = asyncio.create_task(stdin_line())
    stop: asyncio.Task[str] | None = None
    cpu0 = time.process_time()
    t0 = time.monotonic()
    tick = 0
    while stop is None or not stop.done():  # the API server's 10 Hz tick, for every treadmill
        if stop is None and go.done():
            stop, cpu0 = asyncio.create_task(stdin_line()), time.process_time()
        tick += 1
        for i, api in enumerate(apis):
            kmh = 2.0 + 0.05 * math.sin(tick / 7 + i)
            status = template.model_copy(update={"actual_kmh": kmh, "t_s": template.t_s + tick})
            for listener in list(api.status_listeners):
                listener(status)
        await asyncio.sleep(max(0.0, t0 + tick * 0.1 - time.monotonic()))
    cpu = time.process_time() - cpu0
    for bridge in bridges:
        await bridge.stop()
    out = {"bridges": [bridge_result(b) for b in bridges], "loops": [], "cpu_s": cpu}
    print("RESULT " + json.dumps(out), flush=True)


def worker_main(args: argparse.Namespace) -> int:
    names = args.names.split(",")
    run = worker_controllers if args.mode == "controllers" else worker_simulated
    asyncio.run(run(names, args.port, Path(args.workdir), args.rate))
    return 0


# -- the bench ----------------------------------------------------------------------------


@dataclass
class Window:
    start: float = math.inf  # wall clock: sent_at within [start, end) is measured
    end: float = math.inf


@dataclass
class Seen:
    latency_ms: list[float]
    age_ms: list[float]
    seqs: dict[str, list[int]]


async def subscribe(port: int, password: str, window: Window, seen: Seen, ready: asyncio.Event):
    async with aiomqtt.Client("127.0.0.1", port, username="desk", password=password) as client:
        await client.subscribe(f"treadctl/{SITE}/+/telemetry", qos=0)
        ready.set()
        async for m in client.messages:
            now = time.time()
            payload = m.payload if isinstance(m.payload, bytes) else b""
            msg = json.loads(payload)
            sent = msg["sent_at"]
            if window.start <= sent < window.end:
                seen.latency_ms.append((now - sent) * 1e3)
                seen.age_ms.append((now - msg["sampled_at"]) * 1e3)
                seen.seqs.setdefault(msg["treadmill"], []).append(msg["seq"])


def pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    return s[min(len(s) - 1, math.ceil(q * len(s)) - 1)]


def proc_cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_mode(mode: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    names = [f"tm-{i:03d}" for i in range(1, args.treadmills + 1)]
    users = {n: secrets.token_hex(8) for n in names}
    users["desk"] = secrets.token_hex(8)
    broker = Broker(workdir / f"broker-{mode}", users=users)
    for n in names:
        (workdir / f"{n}.password").write_text(users[n] + "\n")
    (workdir / "profile.toml").write_text(PROFILE)
    broker.start()
    procs: list[subprocess.Popen[str]] = []
    window, seen, ready = Window(), Seen([], [], {}), asyncio.Event()
    sub = asyncio.create_task(subscribe(broker.port, users["desk"], window, seen, ready))
    hard_deadline = time.monotonic() + CONNECT_WAIT_S + args.duration + HARD_EXTRA_S
    try:
        await asyncio.wait_for(ready.wait(), 15)
        per = math.ceil(len(names) / args.processes)
        for k in range(args.processes):
            share = names[k * per : (k + 1) * per]
            if not share:
                continue
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        __file__,
                        "--worker",
                        "--mode",
                        mode,
                        "--names",
                        ",".join(share),
                        "--port",
                        str(broker.port),
                        "--workdir",
                        str(workdir),
                        "--rate",
                        str(args.rate),
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for p in procs:
            assert p.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(p.stdout.readline), CONNECT_WAIT_S)
            if line.strip() != "READY":
                raise SystemExit(f"worker failed to start: {line!r}")
        broker_pid = broker.pid()
        assert broker_pid is not None
        window.start = time.time() + 1.0  # a second to settle
        window.end = window.start + args.duration
        await asyncio.sleep(window.start - time.time())
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        b0, s0 = proc_cpu_s(broker_pid), time.process_time()
        await asyncio.sleep(window.end - time.time())
        broker_cpu, sub_cpu = proc_cpu_s(broker_pid) - b0, time.process_time() - s0
        await asyncio.sleep(1.0)  # the last messages of the window in flight
        results = []
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("stop\n")
            p.stdin.flush()
        for p in procs:
            assert p.stdout is not None
            left = max(1.0, hard_deadline - time.monotonic())
            out = await asyncio.wait_for(asyncio.to_thread(p.stdout.read), left)
            line = next((x for x in out.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                raise SystemExit(f"worker gave no result:\n{out}")
            results.append(json.loads(line[len("RESULT ") :]))
            p.wait(10)
    finally:
        sub.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await sub
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        broker.stop()
    return summarise(mode, args, seen, results, broker_cpu, sub_cpu)


def summarise(
    mode: str,
    args: argparse.Namespace,
    seen: Seen,
    results: list[dict[str, Any]],
    broker_cpu: float,
    sub_cpu: float,
) -> dict[str, Any]:
    expected = round(args.treadmills * min(args.rate, 10.0) * args.duration)
    received = len(seen.latency_ms)
    gaps = 0
    for seqs in seen.seqs.values():
        s = sorted(set(seqs))
        gaps += (s[-1] - s[0] + 1) - len(s)
    bridges = [b for r in results for b in r["bridges"]]
    loops = [x for r in results for x in r["loops"]]
    cycles = sum(x["cycles"] for x in loops)
    overruns = sum(x["overruns"] for x in loops)
    late_p99 = max((x["late_p99_ms"] for x in loops), default=math.nan)
    fit = (
        not loops
        or (overruns <= 0.01 * cycles and late_p99 < 10.0)  # 1 % overruns, p99 < half a period
    )
    return {
        "mode": mode,
        "treadmills": args.treadmills,
        "processes": args.processes,
        "rate_hz": args.rate,
        "duration_s": args.duration,
        "expected": expected,
        "received": received,
        "gaps": gaps,
        "treadmills_heard": len(seen.seqs),
        "bridge_drops": sum(b["dropped"] for b in bridges),
        "reconnects": sum(b["connections"] - 1 for b in bridges),
        "lat_p50": pct(seen.latency_ms, 0.5),
        "lat_p99": pct(seen.latency_ms, 0.99),
        "lat_max": max(seen.latency_ms, default=math.nan),
        "age_p50": pct(seen.age_ms, 0.5),
        "age_p99": pct(seen.age_ms, 0.99),
        "age_max": max(seen.age_ms, default=math.nan),
        "cycles": cycles,
        "overruns": overruns,
        "skipped": sum(x["skipped"] for x in loops),
        "late_p99": late_p99,
        "late_max": max((x["late_max_ms"] for x in loops), default=math.nan),
        "work_p99": max((x["work_p99_ms"] for x in loops), default=math.nan),
        "worker_cpu": sum(r["cpu_s"] for r in results) / args.duration * 100,
        "broker_cpu": broker_cpu / args.duration * 100,
        "sub_cpu": sub_cpu / args.duration * 100,
        "fit": fit,
    }


def table(r: dict[str, Any]) -> list[str]:
    what = (
        "real Controllers on the built-in simulator (50 Hz loop, API server, bridge)"
        if r["mode"] == "controllers"
        else "real bridges fed a simulated treadmill's Status (no control loops)"
    )
    per = math.ceil(r["treadmills"] / r["processes"])
    rows = [
        f"mode: {r['mode']}: {r['treadmills']} {what}",
        f"      {r['processes']} worker processes (up to {per} treadmills each), "
        f"telemetry {r['rate_hz']:g} Hz, measured {r['duration_s']:g} s, one mosquitto, loopback",
        f"  {'telemetry expected (nominal rate)':<34}{r['expected']:>10}",
        f"  {'telemetry received':<34}{r['received']:>10}   "
        f"from {r['treadmills_heard']} treadmills",
        f"  {'lost (seq gaps at the subscriber)':<34}{r['gaps']:>10}",
        f"  {'dropped by the bridges (queue)':<34}{r['bridge_drops']:>10}",
        f"  {'reconnects':<34}{r['reconnects']:>10}",
        f"  {'latency sent_at -> receipt':<34}p50 {r['lat_p50']:7.2f} ms   p99 "
        f"{r['lat_p99']:7.2f} ms   max {r['lat_max']:7.2f} ms",
        f"  {'age sampled_at -> receipt':<34}p50 {r['age_p50']:7.2f} ms   p99 "
        f"{r['age_p99']:7.2f} ms   max {r['age_max']:7.2f} ms",
    ]
    if r["cycles"]:
        rows.append(
            f"  {'control loops (in the window)':<34}{r['cycles']} cycles, "
            f"{r['overruns']} overruns "
            f"({r['overruns'] / r['cycles'] * 100:.2f} %), {r['skipped']} skipped; lateness p99 "
            f"worst {r['late_p99']:.2f} ms, max {r['late_max']:.2f} ms; work p99 worst "
            f"{r['work_p99']:.3f} ms"
        )
    rows.append(
        f"  {'CPU (% of one core)':<34}workers {r['worker_cpu']:.0f} %, broker "
        f"{r['broker_cpu']:.0f} %, subscriber {r['sub_cpu']:.0f} %  ({os.cpu_count()} cores)"
    )
    if r["mode"] == "controllers":
        verdict = "yes" if r["fit"] else "NO (overruns above 1 % or lateness p99 >= 10 ms)"
        rows.append(f"  {r['treadmills']} real controllers fit on this machine: {verdict}")
    return rows


async def bench(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="tq-load-", dir="/tmp"))
    try:
        first = "simulated" if args.mode == "simulated" else "controllers"
        results = [await run_mode(first, args, workdir)]
        if args.mode == "auto" and not results[0]["fit"]:
            results.append(await run_mode("simulated", args, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"MQTT load bench ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores)")
    for r in results:
        print("\n".join(table(r)))
    if args.mode == "auto":
        which = results[-1]["mode"]
        print(f"ran: {which}" + (" (the controllers did not fit)" if len(results) > 1 else ""))
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"  (all child processes: {children.ru_utime + children.ru_stime:.1f} s CPU)")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--treadmills", type=int, default=50)
    p.add_argument("--rate", type=float, default=10.0, help="telemetry Hz (1-10)")
    p.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    p.add_argument("--processes", type=int, default=2, help="worker processes")
    p.add_argument("--mode", choices=("auto", "controllers", "simulated"), default="auto")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--names", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker_main(args)
    if not 1 <= args.treadmills <= 500 or not 1 <= args.rate <= 10 or args.duration > 600:
        p.error("--treadmills 1-500, --rate 1-10, --duration up to 600 s")
    return asyncio.run(bench(args))


if __name__ == "__main__":
    raise SystemExit(main())
