"""E-stop reaction over real Modbus: from opening the e-stop chain in the simulator to the
stop command arriving at the simulated drive, next to one raw pymodbus write on the same
transport and the loop period.

    .venv/bin/python bench/estop_reaction.py --transport tcp --trials 200
    .venv/bin/python bench/estop_reaction.py --transport rtu --trials 200

The simulator and the controller are separate processes (hil/runner.py). The simulator
stamps the moment the chain opens (on its control channel) and the arrival of the first
control word without the run bit after it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hil"))
from runner import Hil

PROFILE = """
name = "e-stop reaction bench"
[[blocks]]
  [[blocks.segments]]
  direction = "forward"
  duration_s = 3600
  speed_kmh = 0.6
"""
PERIOD_S = 0.02  # the runner's machine file runs at 50 Hz
DELTA_CONTROL_WORD = 0x2000


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def raw_writes(h: Hil, n: int) -> list[float]:
    """One register write at a time, like the controller's, on the same transport."""
    client: AsyncModbusTcpClient | AsyncModbusSerialClient
    if h.transport == "tcp":
        host, port = h.endpoint.split(":")
        client = AsyncModbusTcpClient(host, port=int(port), timeout=1, retries=0)
    else:
        client = AsyncModbusSerialClient(
            h.endpoint, framer=FramerType.RTU, baudrate=115200, timeout=1, retries=0
        )
    await client.connect()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = await client.write_register(DELTA_CONTROL_WORD, 0x0001, device_id=1)
        times.append(time.perf_counter() - t0)
        assert not r.isError()
    client.close()
    return times


def trials(h: Hil, n: int) -> list[float]:
    assert h.ctl is not None
    h.ctl.wait_for("session   e-stop reaction bench")
    for i in range(n):
        h.wait_status(lambda st: not st["run"] and st["speed_kmh"] == 0.0, what="rest")
        time.sleep(0.6)  # the standstill dwell (0.5 s)
        h.type("reset")
        h.ctl.wait_for("interlock faulted -> stopped")
        h.type("start")
        h.ctl.wait_for("interlock stopped -> running")
        h.wait_status(lambda st: st["run"] and st["speed_kmh"] > 0.2, what="running")
        time.sleep(random.uniform(0, PERIOD_S))  # any phase of the controller's cycle
        h.sim_cmd("open_estop")
        end = time.monotonic() + 2
        while len(json.loads(h.sim_cmd("latency"))["latencies_s"]) < i + 1:
            assert time.monotonic() < end, "no stop command arrived"
            time.sleep(0.005)
        h.sim_cmd("close_estop")
        if (i + 1) % 50 == 0:
            print(f"  {i + 1} trials", file=sys.stderr, flush=True)
    latencies: list[float] = json.loads(h.sim_cmd("latency"))["latencies_s"]
    return latencies


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--transport", choices=("tcp", "rtu"), default="tcp")
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        h = Hil(args.transport, Path(tmp))
        try:
            link = h.start_sim()
            writes = asyncio.run(raw_writes(h, 500))
            h.start_controller(PROFILE, auto=False, link=link)
            try:
                reaction = trials(h, args.trials)
            except AssertionError:
                assert h.ctl is not None
                print("controller's last lines:", *h.ctl.drain()[-30:], sep="\n  ", file=sys.stderr)
                raise
        finally:
            h.close()
    write_p50, write_p99 = pct(writes, 0.5), pct(writes, 0.99)
    p50, p99, worst = pct(reaction, 0.5), pct(reaction, 0.99), max(reaction)
    ratio = p99 / (PERIOD_S + write_p50)
    figures = {
        "transport": args.transport,
        "trials": len(reaction),
        "loop_period_ms": PERIOD_S * 1e3,
        "reaction_p50_ms": p50 * 1e3,
        "reaction_p99_ms": p99 * 1e3,
        "reaction_max_ms": worst * 1e3,
        "reaction_mean_ms": statistics.fmean(reaction) * 1e3,
        "raw_write_p50_ms": write_p50 * 1e3,
        "raw_write_p99_ms": write_p99 * 1e3,
        "ratio_p99_to_period_plus_write": ratio,
    }
    print(
        f"e-stop reaction over Modbus {args.transport.upper()} ({len(reaction)} trials): "
        f"p50 {p50 * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms, max {worst * 1e3:.2f} ms | "
        f"raw write p50 {write_p50 * 1e3:.3f} ms, p99 {write_p99 * 1e3:.3f} ms | "
        f"loop period {PERIOD_S * 1e3:.0f} ms | p99 / (period + write) = {ratio:.2f}"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
