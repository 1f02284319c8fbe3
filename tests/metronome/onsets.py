"""Onsets in a rendered click track (numpy): the measurement the tests and the bench share.

A click's first sample is its loudest (click.py), so an onset is the first sample of a
run above half of the track's peak; samples closer than MIN_GAP_S to the previous one
above it belong to the same click.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

MIN_GAP_S = 0.15  # half a beat at 200 steps/min: longer than any click
THRESHOLD = 0.5  # of the track's peak


def read_wav(path: Path) -> tuple[npt.NDArray[np.int16], int]:
    with wave.open(str(path), "rb") as wav:
        assert wav.getnchannels() == 1
        assert wav.getsampwidth() == 2
        rate = wav.getframerate()
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return data, rate


def onsets(samples: npt.NDArray[np.int16], rate: int) -> npt.NDArray[np.int64]:
    """Sample index of each click's onset."""
    mag = np.abs(samples.astype(np.int32))
    peak = int(mag.max()) if mag.size else 0
    if peak == 0:
        return np.zeros(0, dtype=np.int64)
    idx = np.flatnonzero(mag >= THRESHOLD * peak)
    first = np.concatenate(([True], np.diff(idx) > MIN_GAP_S * rate))
    return idx[first].astype(np.int64)


@dataclass
class Timing:
    beats: int
    tempo_spm: float
    tempo_error_pct: float
    jitter_p99_ms: float  # |onset - its place on the fitted beat grid|, 99th percentile
    jitter_max_ms: float


def timing(on: npt.NDArray[np.int64], rate: int, cadence_spm: float) -> Timing:
    """Tempo from a straight-line fit of onset time on beat number; jitter from its residuals."""
    t_s = on / rate
    k = np.arange(len(on), dtype=np.float64)
    slope, intercept = np.polyfit(k, t_s, 1)
    resid_ms = np.abs(t_s - (intercept + slope * k)) * 1000.0
    tempo = 60.0 / slope
    return Timing(
        beats=len(on),
        tempo_spm=float(tempo),
        tempo_error_pct=float(abs(tempo - cadence_spm) / cadence_spm * 100.0),
        jitter_p99_ms=float(np.percentile(resid_ms, 99)),
        jitter_max_ms=float(resid_ms.max()),
    )
