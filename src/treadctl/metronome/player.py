"""The click track's two sinks: the sound output and a WAV file, fed by one scheduler.

Sound: a PortAudio output stream (python-sounddevice) whose callback, on PortAudio's own
audio thread, only calls `ClickScheduler.fill`: no lock, no allocation in the steady
state, no wait on the controller. With no PortAudio library or no output device,
`open_output` says why (a sentence for the operator) instead of raising, and the
metronome stays visible only.

File: `render_wav` calls the same `fill` block by block and writes the samples, which is
how the benchmark and the tests measure the timing the speaker gets.
"""

from __future__ import annotations

import threading
import wave
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from treadctl.config.metronome import MetronomeConfig
from treadctl.metronome.click import BYTES_PER_FRAME
from treadctl.metronome.schedule import ClickScheduler

MAX_RENDER_S = 3600.0  # a WAV file of at most an hour (about 350 MB at 48 kHz)


class Stream(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


@dataclass
class Output:
    """An open sound output, or the reason there is none."""

    stream: Stream | None = None
    reason: str = ""
    device: str = ""
    callbacks: int = 0  # audio callbacks served
    underflows: int = 0  # blocks the sound system says came late (PortAudio's flag)
    errors: int = 0  # blocks the scheduler failed on (written as silence)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def close(self) -> None:
        """Stop and close the stream (blocks until PortAudio's thread is done: not the loop)."""
        with self._lock:
            stream, self.stream = self.stream, None
        if stream is not None:
            try:
                stream.stop()
            finally:
                stream.close()


def open_output(config: MetronomeConfig, scheduler: ClickScheduler) -> Output:
    """Open and start the configured output; never raises (the reason says what failed)."""
    try:
        import sounddevice as sd  # noqa: PLC0415
    except (ImportError, OSError) as exc:
        return Output(reason=f"no sound library ({exc}; install libportaudio2)")
    out = Output()

    def callback(outdata: Any, frames: int, _time: Any, status: Any) -> None:
        out.callbacks += 1
        if status.output_underflow:
            out.underflows += 1
        try:
            scheduler.fill(outdata, frames)
        except Exception:
            out.errors += 1
            outdata[:] = bytes(len(outdata))

    try:
        outputs = [d for d in sd.query_devices() if d["max_output_channels"] > 0]
        if not outputs:
            return Output(reason="no sound output device (PortAudio finds none)")
        info = sd.query_devices(config.device, kind="output")
        stream = sd.RawOutputStream(
            samplerate=config.sample_rate_hz,
            blocksize=config.block_frames,
            device=config.device,
            channels=1,
            dtype="int16",
            latency=config.latency_s,
            callback=callback,
        )
        stream.start()
    except Exception as exc:
        where = f"device {config.device!r}" if config.device else "the default output"
        return Output(reason=f"no sound output on {where} ({exc})")
    out.stream = stream
    out.device = str(info["name"])
    return out


def render_wav(
    path: Path,
    scheduler: ClickScheduler,
    duration_s: float,
    block_frames: int,
    changes: Sequence[tuple[float, float | None]] = (),
) -> int:
    """Render duration_s of the click track to a mono int16 WAV file; returns the frames.

    changes: (time s, cadence) pairs, applied like the bridge applies them, by
    `set_cadence` between two blocks: at the first block that starts at or after the time.
    """
    if not 0 < duration_s <= MAX_RENDER_S:
        raise ValueError(f"duration_s must be above 0 and at most {MAX_RENDER_S:g} s")
    rate = scheduler.sample_rate_hz
    total = round(duration_s * rate)
    pending = sorted(changes, key=lambda c: c[0])
    buf = bytearray(block_frames * BYTES_PER_FRAME)
    view = memoryview(buf)
    done = 0
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(BYTES_PER_FRAME)
        wav.setframerate(rate)
        while done < total:
            while pending and pending[0][0] * rate <= done:
                scheduler.set_cadence(pending.pop(0)[1])
            n = min(block_frames, total - done)
            scheduler.fill(view, n)
            wav.writeframesraw(view[: n * BYTES_PER_FRAME])
            done += n
    return done
