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

Figures are printed, never asserted (the tests assert the timing).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
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

from treadctl.metronome.click import BYTES_PER_FRAME, synthesize  # noqa: E402
from treadctl.metronome.config import MetronomeConfig  # noqa: E402
from treadctl.metronome.player import render_wav  # noqa: E402
from treadctl.metronome.schedule import ClickScheduler  # noqa: E402

CONFIG = MetronomeConfig(enabled=True)


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
    args = ap.parse_args()
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


if __name__ == "__main__":
    main()
