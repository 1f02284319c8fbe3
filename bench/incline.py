"""Incline positioning: error at the end of each step and time to reach it (issue 14).

    .venv/bin/python bench/incline.py [--travel 0.5,1.0,1.5] [--hil-steps 2.5,5,7.5,2.5]

Two parts. (1) The incline-backward and Bruce profiles on the virtual clock through the
real control loop with the simulator's own lift (sim-incline.toml), once per lift travel
rate: per step, the time from the belt running the segment to the lift within tolerance,
against |change| / travel rate, and the lift's true error at the step's end. (2) Over
real Modbus TCP on the real clock, the relay backend and the position-controller backend
against the HIL test's quick simulated lift (4 %/s): per step, time to reach and the
error after it settles. Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.hil.test_hil_incline import CFG, MiniLoop, make_rig  # noqa: E402
from tests.incline.session import (  # noqa: E402
    PROFILES_DIR,
    SAMPLES,
    run_incline_session,
    step_figures,
)

from treadctl.config.machine import SimInclineConfig  # noqa: E402

PROFILES = [("incline-backward", "demo"), ("bruce", None)]


async def virtual(travels: list[float]) -> None:
    print("virtual clock, real loop, simulated lift (machine rate 1 %/s, tolerance 0.2 %)")
    print(
        f"{'profile':<17} {'travel':>7} {'step':>5} {'target':>7} {'reach s':>8} "
        f"{'|d|/travel':>10} {'end err %':>10}"
    )
    for travel in travels:
        for profile, patient in PROFILES:
            with tempfile.TemporaryDirectory() as tmp:
                run = await run_incline_session(
                    Path(tmp),
                    PROFILES_DIR / f"{profile}.toml",
                    patient=SAMPLES / f"patients/{patient}.toml" if patient else None,
                    machine_update={
                        "actuator": SimInclineConfig(travel_pct_per_s=travel),
                    },
                )
            rng = run.loop.p.machine.incline
            assert rng is not None
            errors = []
            for f in step_figures(run, rng.tolerance_pct, travel):
                reach = "-" if f.reach_s is None else f"{f.reach_s:.2f}"
                print(
                    f"{profile:<17} {travel:>7.2f} {f.index + 1:>5} {f.target_pct:>7.2f} "
                    f"{reach:>8} {f.expected_s:>10.2f} {f.end_error_pct:>+10.3f}"
                )
                errors.append(abs(f.end_error_pct))
            faults = len(run.of_kind("incline_fault"))
            print(
                f"{profile:<17} {travel:>7.2f}   max |end error| {max(errors):.3f} %, "
                f"mean {statistics.fmean(errors):.3f} %, incline faults {faults}, "
                f"outcome {run.summary.outcome}"
            )


async def hil(steps: list[float]) -> None:
    print()
    print(
        f"Modbus TCP, real clock, 50 Hz, simulated lift at {CFG.rate_pct_per_s:g} %/s "
        f"(tolerance {CFG.tolerance_pct:g} %)"
    )
    print(f"{'backend':<9} {'from':>6} {'to':>6} {'reach s':>8} {'|d|/rate':>9} {'err %':>8}")
    for kind in ("relay", "position"):
        async with make_rig("tcp", kind, ("", "")) as rig:
            loop = MiniLoop(rig)
            for target in steps:
                start = rig.lift.position_pct
                expected = abs(target - start) / CFG.rate_pct_per_s
                t0 = time.monotonic()
                reach: float | None = None
                while time.monotonic() - t0 < expected + 3.0:
                    await loop.run(0.02, target)
                    if reach is None and abs(rig.lift.position_pct - target) <= CFG.tolerance_pct:
                        reach = time.monotonic() - t0
                await loop.run(0.5, target)  # settle
                err = rig.lift.position_pct - target
                shown = "-" if reach is None else f"{reach:.2f}"
                print(
                    f"{kind:<9} {start:>6.2f} {target:>6.2f} {shown:>8} {expected:>9.2f} "
                    f"{err:>+8.3f}"
                )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--travel", default="0.5,1.0,1.5", help="lift travel rates, %%/s (default 0.5,1.0,1.5)"
    )
    ap.add_argument(
        "--hil-steps", default="2.5,5,7.5,2.5,0", help="HIL targets in %% (default 2.5,5,7.5,2.5,0)"
    )
    args = ap.parse_args()
    travels = [float(x) for x in args.travel.split(",")]
    steps = [float(x) for x in args.hil_steps.split(",")]
    asyncio.run(virtual(travels))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(hil(steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
