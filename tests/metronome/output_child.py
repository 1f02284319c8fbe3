"""Child process: open the real sound output (PortAudio reads ALSA's configuration once, at
start, so each ALSA set-up needs a process of its own) and report as one JSON line.

argv: device name or "-" (the default output). With a stream: click at 120 steps/min,
switch to 200, then silence, reporting the beat counter after each phase.
"""

from __future__ import annotations

import json
import sys
import time

from treadctl.config.metronome import MetronomeConfig
from treadctl.metronome.click import synthesize
from treadctl.metronome.player import open_output
from treadctl.metronome.schedule import ClickScheduler

PHASE_DEADLINE_S = 20.0


def wait_for(cond: object) -> bool:
    deadline = time.monotonic() + PHASE_DEADLINE_S
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def main() -> None:
    device = None if sys.argv[1] == "-" else sys.argv[1]
    config = MetronomeConfig(enabled=True, device=device, block_frames=256)
    sched = ClickScheduler(synthesize(config), config.sample_rate_hz)
    out = open_output(config, sched)
    report: dict[str, object] = {"reason": out.reason, "device": out.device}
    if out.stream is not None:
        sched.set_cadence(120.0)
        report["clicked_120"] = wait_for(lambda: sched.beats >= 3)
        at = sched.beats
        sched.set_cadence(200.0)
        report["clicked_200"] = wait_for(lambda: sched.beats >= at + 3)
        sched.set_cadence(None)
        pos = sched.position
        wait_for(lambda: sched.position > pos + 4 * config.block_frames)  # silence applied
        quiet_from = sched.beats
        pos = sched.position
        wait_for(lambda: sched.position > pos + 10 * config.sample_rate_hz)  # 10 s of audio
        report["silent_beats"] = sched.beats - quiet_from
        report["callbacks"] = out.callbacks
        report["errors"] = out.errors
        out.close()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
