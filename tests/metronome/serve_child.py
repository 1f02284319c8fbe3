"""Child process: a controller session on the simulator with the metronome bridge and the
real sound output (whatever ALSA_CONFIG_PATH gives), reported as one JSON line.

argv: seconds to run the cued segment before quitting.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

from treadctl.app import load_session
from treadctl.clock import MonotonicClock
from treadctl.config.metronome import MetronomeConfig
from treadctl.metronome.bridge import MetronomeBridge
from treadctl.serve import Controller
from treadctl.sim.operator import ScriptedOperator
from treadctl.store.eventlog import EventLog

ROOT = Path(__file__).resolve().parents[2]
PROFILE = """
name = "metronome sound test"
supervision = "none"
[[blocks]]
  [[blocks.segments]]
  direction = "forward"
  duration_s = 600
  speed_kmh = 2.0
  cadence_spm = 120
"""
DEADLINE_S = 60.0


async def main(seconds: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="ms-", dir="/tmp") as tmp:
        d = Path(tmp)
        (d / "profile.toml").write_text(PROFILE)
        files = load_session(
            ROOT / "src/treadctl/samples/machines/sim.toml",
            d / "profile.toml",
            ROOT / "src/treadctl/samples/patients/demo.toml",
        )
        events = EventLog(d / "events.jsonl")
        bridge = MetronomeBridge(MetronomeConfig(enabled=True))
        ctl = Controller(
            files,
            MonotonicClock(),
            events,
            d / "ctl.sock",
            operator=ScriptedOperator(confirm_delay_s=0.2, turnaround_s=0.5),
            bridges=[bridge],
        )
        gc.freeze()
        task = asyncio.create_task(ctl.run())
        deadline = time.monotonic() + DEADLINE_S
        while bridge.cadence_spm is None and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.05)
        clicking_from = bridge.beats
        await asyncio.sleep(seconds)
        clicked = bridge.beats - clicking_from
        if ctl.api is not None:
            ctl.api.loop.request_quit("test")
        await asyncio.wait_for(task, DEADLINE_S)
        after_end = bridge.beats
        await asyncio.sleep(0.5)
        events.close()
        out = bridge.output
        return {
            "clicked": clicked,
            "clicks_after_end": bridge.beats - after_end,
            "changes": [c for _, c in bridge.changes],
            "callbacks": out.callbacks if out else 0,
            "errors": out.errors if out else -1,
            "reason": out.reason if out else "not opened",
            "stream_closed": out is not None and out.stream is None,
            "events": [r["kind"] for r in events.records],
        }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(float(sys.argv[1])))), flush=True)
