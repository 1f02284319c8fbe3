"""Metronome timing, measured on the click track the player renders (its WAV file sink).

    .venv/bin/python bench/metronome.py            # 5-minute segments, 100 steps/min
    .venv/bin/python bench/metronome.py --seconds 60 --spm 137

The file sink calls the same `ClickScheduler.fill` as the sound output's audio callback,
block by block, so the onsets in the file are where the speaker's clicks fall (plus the
output's constant latency). Onsets are found with numpy (tests/metronome/onsets.py); the
tempo is the slope of a straight-line fit of onset time on beat number, the jitter each
onset's distance from that line. Runs:

  steady     one cadence for the whole segment
  change     the cadence changes half-way (100 -> 150 by default): each half measured on
             its own, and the beat across the change
  loaded     the steady run again while other processes and a thread keep every core
             busy: the same figures, and the file compared byte for byte with the first
  callback   the audio callback's own work (fill) per block, timed, idle and loaded,
             against the block's duration: what must fit before the sound system's deadline
  loop       the control loop (50 Hz, built-in simulator, a segment with a cue) for
             --loop-seconds, each in a process of its own: without the metronome; with it
             clicking through a thread that calls the callback's `fill` at a sound card's
             pace (one block per 10.67 ms, an emulated card clock: this machine has no
             sound card); and through the real PortAudio callback on an ALSA null device,
             which takes samples as fast as they come, so its audio thread runs flat out,
             a thousand times more often than a card's (a worst case, not a real one)

Figures are printed, never asserted (the tests assert the timing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests/metronome"))
from onsets import Timing, onsets, read_wav, timing  # noqa: E402

from treadctl.config.metronome import MetronomeConfig  # noqa: E402
from treadctl.metronome.click import BYTES_PER_FRAME, synthesize  # noqa: E402
from treadctl.metronome.player import Output, render_wav  # noqa: E402
from treadctl.metronome.schedule import ClickScheduler  # noqa: E402

CONFIG = MetronomeConfig(enabled=True)
NULL_PCM = "pcm.!default {\n  type null\n}\nctl.!default {\n  type hw\n  card 0\n}\n"
LOOP_PROFILE = """
name = "bench: a walk with a cue"
supervision = "none"
[[blocks]]
  [[blocks.segments]]
  direction = "forward"
  duration_s = 3600
  speed_kmh = 2.0
  cadence_spm = 120
"""


class PacedStream:
    """A thread calling the scheduler's fill once per block, on time, like a card's clock."""

    def __init__(self, scheduler: ClickScheduler, out: Output) -> None:
        self._scheduler = scheduler
        self._out = out
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="paced-audio", daemon=True)

    def _run(self) -> None:
        frames = CONFIG.block_frames
        period_s = frames / CONFIG.sample_rate_hz
        view = memoryview(bytearray(frames * BYTES_PER_FRAME))
        deadline = time.monotonic()
        while not self._stop.is_set():
            self._scheduler.fill(view, frames)
            self._out.callbacks += 1
            deadline += period_s
            delay = deadline - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                self._out.underflows += 1

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def close(self) -> None:
        self._stop.set()


def paced_output(config: MetronomeConfig, scheduler: ClickScheduler) -> Output:
    assert config.block_frames == CONFIG.block_frames
    out = Output(device="paced thread")
    out.stream = PacedStream(scheduler, out)
    out.stream.start()
    return out


async def loop_child(seconds: float, mode: str) -> dict[str, object]:
    """One controller session on the simulator, with or without the metronome bridge."""
    import gc  # noqa: PLC0415

    from treadctl.app import load_session  # noqa: PLC0415
    from treadctl.clock import MonotonicClock  # noqa: PLC0415
    from treadctl.metronome.bridge import MetronomeBridge  # noqa: PLC0415
    from treadctl.serve import Controller  # noqa: PLC0415
    from treadctl.sim.operator import ScriptedOperator  # noqa: PLC0415
    from treadctl.store.eventlog import EventLog  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="mb-", dir="/tmp") as tmp:
        d = Path(tmp)
        (d / "profile.toml").write_text(LOOP_PROFILE)
        files = load_session(
            ROOT / "src/treadctl/samples/machines/sim.toml",
            d / "profile.toml",
            ROOT / "src/treadctl/samples/patients/demo.toml",
        )
        events = EventLog(d / "events.jsonl")
        bridge = None
        if mode == "null":
            bridge = MetronomeBridge(CONFIG)
        elif mode == "paced":
            bridge = MetronomeBridge(CONFIG, opener=paced_output)
        ctl = Controller(
            files,
            MonotonicClock(),
            events,
            d / "ctl.sock",
            operator=ScriptedOperator(confirm_delay_s=0.2, turnaround_s=0.5),
            bridges=[bridge] if bridge is not None else [],
        )
        gc.freeze()  # as `treadctl serve` does once the session is built
        task = asyncio.create_task(ctl.run())
        await asyncio.sleep(seconds)
        assert ctl.api is not None
        ctl.api.loop.request_quit("bench")
        summary = await task
        events.close()
        f = summary.cycles
        out: dict[str, object] = {
            "cycles": f.cycles,
            "overruns": f.overruns,
            "p50": f.late_p50_ms,
            "p99": f.late_p99_ms,
            "max": f.late_max_ms,
            "outcome": summary.outcome,
        }
        if bridge is not None:
            o = bridge.output
            out.update(
                beats=bridge.beats,
                callbacks=o.callbacks if o else 0,
                reason=o.reason if o else "not opened",
            )
        return out


def loop_runs(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "asound.conf"
        conf.write_text(NULL_PCM)
        env = dict(os.environ, ALSA_CONFIG_PATH=str(conf))
        for mode in ("off", "paced", "null"):
            run = subprocess.run(
                [sys.executable, __file__, "--loop-child", mode, "--loop-seconds", str(seconds)],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            lines = [x for x in run.stdout.splitlines() if x.startswith("{")]
            if run.returncode or not lines:
                print(f"loop, metronome {mode}: failed\n{run.stdout}\n{run.stderr[-2000:]}")
                continue
            r = json.loads(lines[-1])
            extra = ""
            if mode != "off":
                extra = f"; {r['beats']} clicks, {r['callbacks']} audio callbacks" + (
                    f" (no sound: {r['reason']})" if r["reason"] else ""
                )
            print(
                f"loop 50 Hz, metronome {mode:<5}  {r['cycles']} cycles, lateness p50"
                f" {r['p50']:.3f} ms, p99 {r['p99']:.3f} ms, max {r['max']:.3f} ms,"
                f" overruns {r['overruns']}{extra}"
            )


def burn(stop: threading.Event | None = None) -> None:
    x = 0
    while stop is None or not stop.is_set():
        for i in range(10000):
            x = (x * 31 + i) % 1000003


@contextmanager
def cpu_load() -> Iterator[int]:
    """Every core busy: one process per core, and a busy thread in this process too."""
    n = os.cpu_count() or 1
    procs = [multiprocessing.Process(target=burn, daemon=True) for _ in range(n)]
    for p in procs:
        p.start()
    stop = threading.Event()
    thread = threading.Thread(target=burn, args=(stop,), daemon=True)
    thread.start()
    try:
        yield n
    finally:
        stop.set()
        thread.join()
        for p in procs:
            p.terminate()
            p.join()


def scheduler() -> ClickScheduler:
    return ClickScheduler(synthesize(CONFIG), CONFIG.sample_rate_hz)


def render(path: Path, seconds: float, changes: list[tuple[float, float | None]]) -> float:
    t0 = time.perf_counter()
    render_wav(path, scheduler(), seconds, CONFIG.block_frames, changes)
    return time.perf_counter() - t0


def line(name: str, t: Timing, spm: float) -> str:
    return (
        f"{name:<22} {spm:6.1f} spm  {t.beats:5d} beats  tempo {t.tempo_spm:9.4f} spm"
        f"  error {t.tempo_error_pct:.5f} %  jitter p99 {t.jitter_p99_ms:.4f} ms"
        f"  max {t.jitter_max_ms:.4f} ms"
    )


def callback_work(seconds: float) -> list[float]:
    """Microseconds fill() takes per block, for seconds of audio at a steady cadence."""
    s = scheduler()
    s.set_cadence(200.0)
    frames = CONFIG.block_frames
    view = memoryview(bytearray(frames * BYTES_PER_FRAME))
    out = []
    for _ in range(round(seconds * CONFIG.sample_rate_hz / frames)):
        t0 = time.perf_counter()
        s.fill(view, frames)
        out.append((time.perf_counter() - t0) * 1e6)
    return out


def p99(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=100)[98]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--spm", type=float, default=100.0)
    ap.add_argument("--change-to", type=float, default=150.0)
    # A beat that is no whole number of samples (100 steps/min is 28800 at 48 kHz): shows
    # the rounding of each click to its nearest sample, and that it does not accumulate.
    ap.add_argument("--odd-spm", type=float, default=113.7)
    ap.add_argument("--loop-seconds", type=float, default=30.0)
    ap.add_argument("--loop-child", choices=("off", "paced", "null"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.loop_child:
        result = asyncio.run(loop_child(args.loop_seconds, args.loop_child))
        print(json.dumps(result), flush=True)
        return
    rate = CONFIG.sample_rate_hz
    print(
        f"click track: {CONFIG.sample_rate_hz} Hz mono int16, blocks of {CONFIG.block_frames}"
        f" frames ({CONFIG.block_frames / rate * 1000:.2f} ms), {args.seconds:g} s per run"
    )
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        took = render(d / "steady.wav", args.seconds, [(0.0, args.spm)])
        data, _ = read_wav(d / "steady.wav")
        print(line("steady", timing(onsets(data, rate), rate, args.spm), args.spm)
              + f"  (rendered in {took:.2f} s)")  # fmt: skip

        render(d / "odd.wav", args.seconds, [(0.0, args.odd_spm)])
        data, _ = read_wav(d / "odd.wav")
        print(line("steady, odd cadence", timing(onsets(data, rate), rate, args.odd_spm),
                   args.odd_spm))  # fmt: skip

        # Half-way, a quarter second off the beat; it takes effect at the next block's start.
        at_s = args.seconds / 2 + 0.25
        render(d / "change.wav", args.seconds, [(0.0, args.spm), (at_s, args.change_to)])
        data, _ = read_wav(d / "change.wav")
        on = onsets(data, rate)
        block = CONFIG.block_frames
        cut = -(-round(at_s * rate) // block) * block
        print(line("change: first half", timing(on[on < cut], rate, args.spm), args.spm))
        print(line("change: second half", timing(on[on >= cut], rate, args.change_to),
                   args.change_to))  # fmt: skip
        gap_ms = (on[on >= cut][0] - on[on < cut][-1]) / rate * 1000
        old_ms, new_ms = 60000 / args.spm, 60000 / args.change_to
        ok = min(old_ms, new_ms) - 0.1 <= gap_ms <= max(old_ms, new_ms) + 0.1
        print(
            f"{'change: the beat across':<22} {gap_ms:.2f} ms (old beat {old_ms:.2f} ms, new"
            f" {new_ms:.2f} ms): {'between the two' if ok else 'OUTSIDE BOTH'}"
        )

        with cpu_load() as n:
            took = render(d / "loaded.wav", args.seconds, [(0.0, args.spm)])
        data, _ = read_wav(d / "loaded.wav")
        same = (d / "loaded.wav").read_bytes() == (d / "steady.wav").read_bytes()
        print(line(f"loaded ({n} procs+thread)", timing(onsets(data, rate), rate, args.spm),
                   args.spm) + f"  (rendered in {took:.2f} s)")  # fmt: skip
        print(f"{'loaded == steady':<22} {'byte for byte' if same else 'DIFFERENT'}")

    budget_us = CONFIG.block_frames / rate * 1e6
    idle = callback_work(args.seconds)
    with cpu_load():
        loaded = callback_work(args.seconds)
    for name, xs in (("callback work, idle", idle), ("callback work, loaded", loaded)):
        print(
            f"{name:<22} fill() per block: median {statistics.median(xs):.1f} us,"
            f" p99 {p99(xs):.1f} us, max {max(xs):.1f} us of a {budget_us:.0f} us block"
        )
    if args.loop_seconds > 0:
        loop_runs(args.loop_seconds)


if __name__ == "__main__":
    main()
