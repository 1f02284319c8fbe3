"""Heart-rate sample age at the interlock over the virtual BLE link (issue 15).

    .venv/bin/python bench/hr_age.py --seconds 60 [--rate-hz 1]

An emulated strap (bumble peripheral) notifies a new rate every 1/rate s, stamped with
time.monotonic() as it is sent; the BLE source (bumble central, a second host stack on
the same virtual link) feeds the real control loop (50 Hz, simulated drive, real clock).
Two figures, p50/p99/max:
- latency: strap notification sent -> the first loop cycle whose interlock input holds
  that sample (radio, host stacks, GATT, Latest, and the wait for the next cycle);
- age: the heart_rate_age_s the interlock gets on every cycle (strap notification to
  that cycle), which also carries the wait for the strap's next beat.
Prints figures, asserts nothing (the machine's load is part of what is measured).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from treadctl.app import build_sim_session, load_session  # noqa: E402
from treadctl.clock import MonotonicClock  # noqa: E402
from treadctl.config.heartrate import BackoffConfig, BleSourceConfig  # noqa: E402
from treadctl.control.loop import LoopSnapshot  # noqa: E402
from treadctl.heartrate.ble import BleHeartRate  # noqa: E402
from treadctl.heartrate.emulator import EmulatedStrap, VirtualRadio  # noqa: E402
from treadctl.store.eventlog import EventLog  # noqa: E402

SIM_HR = ROOT / "src/treadctl/samples/machines/sim-hr.toml"
PROFILE = """
name = "bench: heart-rate walk"
supervision = "none"
[heart_rate]
required = true
[[blocks]]
  [[blocks.segments]]
  direction = "forward"
  duration_s = 3600
  speed_kmh = 2.0
"""
BPM_LOW, BPM_SPAN = 60, 120  # each beat a new rate, so each sample is recognisable


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(what: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"{what}: n={len(ms)} p50 {statistics.median(ms):.1f} ms, p99 {pct(ms, 0.99):.1f} ms, "
        f"max {max(ms):.1f} ms"
    )


async def measure(seconds: float, rate_hz: float) -> tuple[list[float], list[float]]:
    tmp = Path(tempfile.mkdtemp(prefix="hr-age-"))
    profile = tmp / "p.toml"
    profile.write_text(PROFILE, encoding="utf-8")
    files = load_session(SIM_HR, profile, None)
    events = EventLog(tmp / "events.jsonl")
    loop = build_sim_session(files, MonotonicClock(), events).loop
    radio = VirtualRadio()
    strap = EmulatedStrap(radio, "C1:00:00:00:00:0C", "Bench strap")
    await strap.start()
    cfg = BleSourceConfig(
        kind="ble", name="Bench strap", stale_after_s=3.0,
        reconnect=BackoffConfig(initial_s=0.05, max_s=0.5),
    )  # fmt: skip
    source = BleHeartRate(cfg, radio.central("C0:7E:AD:C7:00:0C"))
    loop.p.heart_rate = source
    sent_at: dict[float, float] = {}
    latency: list[float] = []
    ages: list[float] = []
    seen: set[float] = set()

    def on_snapshot(snap: LoopSnapshot) -> None:
        bpm, age = snap.heart_rate_bpm, snap.heart_rate_age_s
        if bpm is None or age is None:
            return
        ages.append(age)
        if bpm not in seen and bpm in sent_at:
            seen.add(bpm)
            latency.append(snap.now - sent_at[bpm])

    loop.listeners.append(on_snapshot)
    run = asyncio.create_task(loop.run())
    try:
        await asyncio.wait_for(strap.subscribed.wait(), 30)
        await asyncio.sleep(1.0)
        ages.clear()
        end = time.monotonic() + seconds
        beat = 0
        while time.monotonic() < end:
            bpm = float(BPM_LOW + beat % BPM_SPAN)
            seen.discard(bpm)
            sent_at[bpm] = time.monotonic()
            await strap.send(int(bpm))
            beat += 1
            await asyncio.sleep(1.0 / rate_hz)
    finally:
        loop.request_quit("bench")
        await asyncio.wait_for(run, 30)
        await loop.close()
        await strap.stop()
        events.close()
    return latency, ages


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate-hz", type=float, default=1.0, help="strap notifications a second")
    args = ap.parse_args()
    latency, ages = asyncio.run(measure(args.seconds, args.rate_hz))
    print(f"heart-rate sample at the interlock, virtual BLE link, strap at {args.rate_hz:g} Hz,")
    print("control loop 50 Hz (sim-hr.toml), real clock:")
    print("  " + line("strap notification -> first interlock input", latency))
    print("  " + line("sample age at the interlock input, every cycle", ages))


if __name__ == "__main__":
    main()
