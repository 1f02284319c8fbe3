"""The benchmark suite: prints a table and writes docs/performance.md with the machine.

    .venv/bin/python bench/run_all.py            # everything (about 30 minutes)
    .venv/bin/python bench/run_all.py --quick    # shorter runs, fewer trials
    .venv/bin/python bench/run_all.py --speedup  # the virtual-clock row alone (printed)
    .venv/bin/python bench/run_all.py --stages   # where a virtual-clock cycle's time goes

Not part of the pass/fail test run: these are figures, measured on whatever machine
runs them, next to the targets of the issue. Nothing else should run meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

sys.path.insert(0, str(ROOT / "bench"))

import attached  # noqa: E402
import hostile_clients  # noqa: E402

from treadctl.app import build_sim_session, load_session  # noqa: E402
from treadctl.clock import FINE_SLEEP_S, MonotonicClock, VirtualClock  # noqa: E402
from treadctl.control.loop import ControlLoop  # noqa: E402
from treadctl.drives import wire  # noqa: E402
from treadctl.drives.modbus import cycle_transfers  # noqa: E402
from treadctl.drives.regmap import load_map  # noqa: E402
from treadctl.safety.interlock import Interlock  # noqa: E402
from treadctl.sim.operator import ScriptedOperator  # noqa: E402
from treadctl.store.eventlog import EventLog  # noqa: E402

MACHINE = ROOT / "src/treadctl/samples/machines/sim.toml"
PATIENT = ROOT / "src/treadctl/samples/patients/demo.toml"
LONG_PROFILE = """
name = "bench: steady walk"
[[blocks]]
  [[blocks.segments]]
  direction = "forward"
  duration_s = {seconds}
  speed_kmh = 2.0
"""


@dataclass
class Row:
    what: str
    figure: str
    target: str
    met: str


def machine_text(rate_hz: float) -> str:
    text = MACHINE.read_text()
    return text.replace("rate_hz = 50", f"rate_hz = {rate_hz:g}")


async def realtime_run(rate_hz: float, seconds: float, tmp: Path) -> tuple[dict[str, float], float]:
    """A real-time session on the built-in simulator; cycle figures and CPU share of a core."""
    machine = tmp / f"m{rate_hz:g}.toml"
    machine.write_text(machine_text(rate_hz))
    profile = tmp / "long.toml"
    profile.write_text(LONG_PROFILE.format(seconds=seconds))
    files = load_session(machine, profile, PATIENT)
    events = EventLog(None)
    session = build_sim_session(
        files,
        MonotonicClock(fine_s=FINE_SLEEP_S),  # as treadctl serve and run have it
        events,
        ScriptedOperator(confirm_delay_s=1.2, turnaround_s=0.5),
    )
    cpu0, wall0 = time.process_time(), time.monotonic()
    summary = await session.loop.run()
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    events.close()
    f = summary.cycles
    return (
        {
            "cycles": f.cycles,
            "overruns": f.overruns,
            "late_p50_ms": f.late_p50_ms,
            "late_p99_ms": f.late_p99_ms,
            "late_max_ms": f.late_max_ms,
            "work_p99_ms": f.work_p99_ms,
        },
        cpu / wall,
    )


@dataclass
class Speedup:
    """One virtual-clock session: simulated time over wall time and over CPU time."""

    cycles: int
    wall_ratio: float  # simulated seconds per wall second (what `simulate` prints)
    cpu_ratio: float  # simulated seconds per CPU second of this process (load-proof)
    us_per_cycle: float  # CPU microseconds per control cycle


def speedup(profile: str) -> Speedup:
    """`treadctl simulate PROFILE --patient demo` as its verb runs it, without the event
    log's file: the session's own ratio, and the CPU time it took (time.process_time),
    which other work on the machine inflates far less than the wall time."""
    files = load_session(MACHINE, ROOT / profile, PATIENT)
    events = EventLog(None)
    session = build_sim_session(
        files, VirtualClock(), events, ScriptedOperator(), end_on_fault=True
    )
    cpu = time.process_time()
    summary = asyncio.run(session.loop.run())
    cpu = time.process_time() - cpu
    events.close()
    cycles = summary.cycles.cycles
    return Speedup(cycles, summary.speedup, summary.duration_s / cpu, cpu / cycles * 1e6)


def speedup_row(profile: str, runs: int = 3) -> Row:
    """The virtual-clock row: `runs` sessions, each figure as its range."""
    got = [speedup(profile) for _ in range(runs)]
    wall = sorted(s.wall_ratio for s in got)
    cpu = sorted(s.cpu_ratio for s in got)
    us = sorted(s.us_per_cycle for s in got)
    return Row(
        f"virtual clock, 30-minute stroke profile ({got[0].cycles} cycles, {runs} runs)",
        f"{wall[0]:.0f}-{wall[-1]:.0f}x real time; by CPU time {cpu[0]:.0f}-{cpu[-1]:.0f}x, "
        f"{us[0]:.1f}-{us[-1]:.1f} us CPU per cycle",
        ">= 1000x",
        "yes" if wall[len(wall) // 2] >= 1000 else "NO",  # the median run
    )


STAGES = ("sleep", "read", "commands", "safety", "control", "write", "record", "end, keep time")


async def _timed_cycles(loop: ControlLoop) -> tuple[list[int], int]:
    """ControlLoop.run's cycle, stage by stage, with this thread's CPU clock read between
    the stages (the same calls in the same order as `run`; keep it so)."""
    clock, ns = loop.p.clock, time.thread_time_ns
    c = await loop._begin()
    spent, cycles, over = [0] * len(STAGES), 0, False
    while not over:
        t0 = ns()
        await clock.sleep_until(c.deadline)
        c.now = now = clock.now()
        started, lateness = time.perf_counter(), now - c.deadline
        t1 = ns()
        for component in loop.components:
            await component.read(now)
        t2 = ns()
        commands = await loop._commands(c)
        t3 = ns()
        loop._step_safety(c, commands)
        t4 = ns()
        loop._step_control(c)
        t5 = ns()
        for component in loop.components:
            await component.write(now)
        t6 = ns()
        loop._record_cycle(c)
        t7 = ns()
        over = loop._session_over(c)
        if not over:
            loop._keep_time(c, started, lateness)
        t8 = ns()
        for i, (a, b) in enumerate(
            ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5), (t5, t6), (t6, t7), (t7, t8))
        ):
            spent[i] += b - a
        cycles += 1
    return spent, cycles


def stages(profile: str) -> None:
    """CPU microseconds per cycle in each stage of the virtual-clock session, the timer's
    own cost taken off; then Interlock.step alone, replaying every (state, inputs, now)
    of the same session. The stage timer adds work, so the stages sum to more than an
    untimed run's figure (`--speedup`)."""
    files = load_session(MACHINE, ROOT / profile, PATIENT)

    def session() -> tuple[ControlLoop, EventLog]:
        events = EventLog(None)
        built = build_sim_session(
            files, VirtualClock(), events, ScriptedOperator(), end_on_fault=True
        )
        return built.loop, events

    loop, events = session()
    spent, cycles = asyncio.run(_timed_cycles(loop))
    events.close()
    # a session of its own records the interlock's calls: keeping them all alive makes
    # the collector's work grow, which would land in the timed stages
    loop, events = session()
    calls: list[tuple[Any, Any, float]] = []
    step = loop.interlock.step

    def recorded(state: Any, inputs: Any, now: float) -> Any:
        calls.append((state, inputs, now))
        return step(state, inputs, now)

    loop.interlock.step = recorded  # type: ignore[method-assign]
    asyncio.run(loop.run())
    events.close()
    n = 100_000
    t = time.thread_time_ns()
    for _ in range(n):
        time.thread_time_ns()
    timer = (time.thread_time_ns() - t) / n
    total = 0.0
    for name, ns_spent in zip(STAGES, spent, strict=True):
        us = (ns_spent / cycles - timer) / 1e3
        total += us
        print(f"  {name:15s} {us:6.2f} us")
    print(f"  {'sum':15s} {total:6.2f} us CPU per cycle ({cycles} cycles)")
    replay = Interlock(loop.interlock.config).step
    best = math.inf
    for _ in range(5):
        cpu = time.process_time()
        for state, inputs, now in calls:
            replay(state, inputs, now)
        best = min(best, time.process_time() - cpu)
    print(f"  Interlock.step alone: {best / len(calls) * 1e6:.2f} us CPU (best of 5 replays)")


def scale(max_pairs: int, seconds: float, tmp: Path) -> list[tuple[int, float]]:
    """k controllers (each with its simulated drive) as processes at once: the worst p99."""
    profile = tmp / "scale.toml"
    profile.write_text(LONG_PROFILE.format(seconds=seconds))
    results = []
    k = 1
    while k <= max_pairs:
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "treadctl.cli",
                    "run",
                    "--headless",
                    "--operator",
                    "auto",
                    "--machine",
                    str(MACHINE),
                    "--profile",
                    str(profile),
                    "--patient",
                    str(PATIENT),
                    "--events",
                    str(tmp / f"s{k}-{i}.jsonl"),
                    "--db",
                    str(tmp / f"s{k}-{i}.sqlite"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=tmp,
            )
            for i in range(k)
        ]
        worst = 0.0
        for p in procs:
            out, _ = p.communicate(timeout=seconds * 4 + 120)
            m = re.search(r"wake-up lateness .* p99 ([0-9.]+) ms", out)
            worst = max(worst, float(m.group(1)) if m else float("inf"))
        results.append((k, worst))
        if worst > 2.0:
            break
        k *= 2
    return results


def wire_table() -> list[str]:
    regmap = load_map("delta-ms300")
    reads, writes = cycle_transfers(regmap)
    lines = [
        "| baud | one cycle: Delta map + 4 safety inputs, 3 transactions | highest rate at 75 % |",
        "|---|---|---|",
    ]
    for baud in (9600, 19200, 38400, 57600, 115200):
        cycle = wire.rtu_cycle(baud, 0.002, reads, writes, [4])
        lines.append(
            f"| {baud} | {cycle.seconds * 1e3:.1f} ms | "
            f"{math.floor(cycle.max_rate_hz(0.75))} Hz |"  # rounded down, as the check says
        )
    return lines


def estop(transport: str, trials: int) -> dict[str, float]:
    out = Path(tempfile.mkstemp(suffix=".json")[1])
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench/estop_reaction.py"),
            "--transport",
            transport,
            "--trials",
            str(trials),
            "--json",
            str(out),
        ],
        check=True,
        cwd=ROOT,
    )
    figures: dict[str, float] = json.loads(out.read_text())
    out.unlink()
    return figures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "docs/performance.md")
    ap.add_argument(
        "--speedup", action="store_true", help="only the virtual-clock row, printed (no file)"
    )
    ap.add_argument(
        "--stages", action="store_true", help="a virtual-clock cycle's CPU time by stage"
    )
    args = ap.parse_args()
    if args.stages:
        stages("profiles/stroke-30min.toml")
        return 0
    if args.speedup:
        r = speedup_row("profiles/stroke-30min.toml")
        print(f"| {r.what} | {r.figure} | {r.target} | {r.met} |")
        return 0
    run_s = 20.0 if args.quick else 60.0
    trials = 50 if args.quick else 200
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for transport in ("tcp", "rtu"):
            e = estop(transport, trials)
            rows.append(
                Row(
                    f"e-stop reaction, Modbus {transport.upper()} ({int(e['trials'])} trials)",
                    f"p50 {e['reaction_p50_ms']:.1f} ms, p99 {e['reaction_p99_ms']:.1f} ms, "
                    f"max {e['reaction_max_ms']:.1f} ms; one raw write p50 "
                    f"{e['raw_write_p50_ms']:.2f} ms; period {e['loop_period_ms']:.0f} ms; "
                    f"ratio {e['ratio_p99_to_period_plus_write']:.2f}",
                    "ratio <= 1.2",
                    "yes" if e["ratio_p99_to_period_plus_write"] <= 1.2 else "NO",
                )
            )
        for rate in (50.0, 100.0):
            figures, cpu = asyncio.run(realtime_run(rate, run_s, tmp))
            rows.append(
                Row(
                    f"loop at {rate:g} Hz, nothing attached ({figures['cycles']:.0f} cycles)",
                    f"lateness p50 {figures['late_p50_ms']:.2f} ms, "
                    f"p99 {figures['late_p99_ms']:.2f} ms, max {figures['late_max_ms']:.2f} ms; "
                    f"overruns {figures['overruns']:.0f}; "
                    f"cycle work p99 {figures['work_p99_ms']:.2f} ms",
                    "p99 <= 2 ms at 50 Hz" if rate == 50 else "(reported)",
                    ("yes" if figures["late_p99_ms"] <= 2.0 else "NO") if rate == 50 else "-",
                )
            )
            if rate == 50:
                rows.append(
                    Row(
                        "CPU share of one core, controller at 50 Hz on the simulator",
                        f"{cpu * 100:.1f} %",
                        "<= 5 %",
                        "yes" if cpu <= 0.05 else "NO",
                    )
                )
        # The controller as its own process (`treadctl serve`), as `treadctl run` starts
        # it: alone, with the real dashboard attached (tmux), publishing over MQTT.
        with attached.mosquitto(tmp) as port:
            for rate in (50.0, 100.0):
                for case, what in (
                    ("nothing", "controller process, nothing attached"),
                    ("dashboard", "dashboard attached"),
                    ("mqtt", "MQTT publishing at 10 Hz"),
                ):
                    f = attached.served_run(case, run_s, rate, tmp, port)
                    extra = (
                        f"; the dashboard used {f['dashboard_cpu_share'] * 100:.0f} % of a core"
                        if "dashboard_cpu_share" in f
                        else ""
                    )
                    rows.append(
                        Row(
                            f"loop at {rate:g} Hz, {what} ({f['cycles']:.0f} cycles)",
                            f"lateness p50 {f['late_p50_ms']:.2f} ms, "
                            f"p99 {f['late_p99_ms']:.2f} ms, max {f['late_max_ms']:.2f} ms; "
                            f"overruns {f['overruns']:.0f}{extra}",
                            "p99 <= 2 ms at 50 Hz" if rate == 50 else "(reported)",
                            ("yes" if f["late_p99_ms"] <= 2.0 else "NO") if rate == 50 else "-",
                        )
                    )
        # Hostile socket clients (issue 17): the same session quiet, then under six kinds
        # of flood at once, one after the other in this run.
        quiet = hostile_clients.served_run(run_s, 50.0, tmp, [])
        flood = hostile_clients.served_run(run_s, 50.0, tmp, list(hostile_clients.ATTACKS))
        ratio = flood["p99"] / quiet["p99"] if quiet["p99"] > 0 else float("inf")
        rows.append(
            Row(
                "loop at 50 Hz, controller process: quiet, then six kinds of socket flood "
                "at once (`bench/hostile_clients.py`)",
                f"quiet p99 {quiet['p99']:.2f} ms, max {quiet['max']:.2f} ms; flooded p99 "
                f"{flood['p99']:.2f} ms, max {flood['max']:.2f} ms, overruns "
                f"{flood['overruns']:.0f}, skipped {flood['skipped']:.0f}, peak RSS "
                f"{flood['peak_rss_mb']:.0f} MB (quiet {quiet['peak_rss_mb']:.0f} MB)",
                "flooded p99 <= 1.5x quiet, no deadline skipped",
                "yes" if ratio <= 1.5 and flood["skipped"] == 0 else "NO",
            )
        )
        rows.append(speedup_row("profiles/stroke-30min.toml"))
        max_pairs = 16
        pairs = scale(max_pairs, run_s / 2, tmp)
        fitting = [k for k, p99 in pairs if p99 <= 2.0]
        rows.append(
            Row(
                "scale: controller + simulated drive pairs before p99 > 2 ms",
                ", ".join(f"{k}: p99 {p:.2f} ms" for k, p in pairs),
                "(reported)",
                (
                    f"at least {max_pairs} pairs (the run stops at {max_pairs})"
                    if len(fitting) == len(pairs) and pairs[-1][0] >= max_pairs
                    else f"{max(fitting) if fitting else 0} pairs within 2 ms"
                ),
            )
        )
    cpu_model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    head = [
        "# Performance",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with "
        f"`.venv/bin/python bench/run_all.py{' --quick' if args.quick else ''}` on "
        f"{os.cpu_count()} cores ({cpu_model}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}. Figures, not pass/fail tests.",
        "",
        "| what | figure | target | met |",
        "|---|---|---|---|",
    ]
    table = [f"| {r.what} | {r.figure} | {r.target} | {r.met} |" for r in rows]
    load = subprocess.run(
        [sys.executable, str(ROOT / "bench/mqtt_load.py"), "--duration", str(run_s / 2)],
        capture_output=True,
        text=True,
        check=False,
        timeout=run_s * 10 + 300,
        cwd=ROOT,
    )
    mqtt_lines = (load.stdout or load.stderr).rstrip().splitlines()
    text = "\n".join(
        [
            *head,
            *table,
            "",
            "## Modbus RTU wire budget",
            "",
            *wire_table(),
            "",
            "## MQTT load: 50 treadmills through one broker",
            "",
            f"`.venv/bin/python bench/mqtt_load.py --duration {run_s / 2:g}`:",
            "",
            "```",
            *mqtt_lines,
            "```",
            "",
        ]
    )
    print(text)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
