"""`treadctl run --headless`: stdin is the operator's console, with the pre-start checklist
and the next word to type printed at each stop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading

from treadctl.cli.console import HELP, incline_home, parse_line
from treadctl.config.machine import MachineConfig
from treadctl.config.profile import SegmentKind
from treadctl.control.loop import ControlLoop, LoopSnapshot
from treadctl.control.summary import SessionSummary
from treadctl.protocol.checklist import checklist, segment_words
from treadctl.protocol.plan import Plan
from treadctl.safety.interlock import facing_words
from treadctl.safety.types import Direction, Mode

PROMPT_PERIOD_S = 0.1


def checklist_lines(machine: MachineConfig, plan: Plan, index: int) -> list[str]:
    """The checklist of segment `index` as the headless console prints it."""
    words = segment_words(plan.segments[index], len(plan.segments))
    return [
        f"pre-start checklist for {words} (confirm each before `start`):",
        *(f"  [ ] {item}" for item in checklist(machine, plan, index)),
    ]


class ConsolePrompts:
    """What the headless console tells its operator at each stop before a start: the
    checklist of the segment about to start and the word that comes next (`turned` on a
    turn-round machine's turnaround, then `start`). Pure: fed one snapshot at a time."""

    def __init__(self, machine: MachineConfig, plan: Plan) -> None:
        self.machine = machine
        self.plan = plan
        self.checked: int | None = 0  # the first checklist is printed at the session's start
        self.turn_said: int | None = None
        self.ready_said: int | None = None

    def lines(self, snap: LoopSnapshot) -> list[str]:
        out = snap.outputs
        segs = self.plan.segments
        if out is None or snap.sequencer.ended or snap.segment_index >= len(segs):
            return []
        if out.mode is Mode.RUNNING:  # the next stop prompts afresh
            self.checked = self.turn_said = self.ready_said = None
            return []
        i = snap.segment_index
        seg = segs[i]
        walking = Direction.BACKWARD if seg.kind is SegmentKind.BACKWARD else Direction.FORWARD
        if (
            seg.kind is SegmentKind.REST
            or out.mode is not Mode.STOPPED
            or not out.at_standstill
            or out.direction is not walking
        ):
            return []
        words = segment_words(seg, len(segs))
        lines: list[str] = []
        if out.turn_pending:
            if self.turn_said != i:
                self.turn_said = i
                lines.append(
                    f"turnaround: the walker turns round to face {facing_words(walking)} "
                    f"(belt at standstill); type `turned` once they have, then `start` {words}"
                )
        elif self.ready_said != i:
            self.ready_said = i
            lines.append(f"ready: type `start` for {words}")
        if lines and self.checked != i:
            self.checked = i
            lines += checklist_lines(self.machine, self.plan, i)
        return lines


async def run_console(loop: ControlLoop) -> SessionSummary:
    """Run the loop with stdin as the operator's console and SIGINT/SIGTERM as stop."""
    aio = asyncio.get_running_loop()
    step = loop.p.machine.speed_step_kmh
    if loop.p.plan.segments:
        print("\n".join(checklist_lines(loop.p.machine, loop.p.plan, 0)), flush=True)
    prompts = ConsolePrompts(loop.p.machine, loop.p.plan)

    async def prompt() -> None:
        while True:
            lines = prompts.lines(loop.snapshot)
            if lines:
                print("\n".join(lines), flush=True)
            await asyncio.sleep(PROMPT_PERIOD_S)

    def handle_line(line: str) -> None:
        out = loop.snapshot.outputs
        target = out.target_kmh if out is not None else 0.0
        action = parse_line(line, target, step)
        if action.command is not None and not loop.submit(action.command):
            print(f"refused: too many commands waiting ({action.command.kind.value})", flush=True)
        if action.incline_home:
            print(incline_home(loop), flush=True)
        if action.quit:
            loop.request_quit()
        if action.status and out is not None:
            reasons = ", ".join(r.value for r in out.reasons) or "-"
            print(
                f"status: {out.mode.value}, {out.direction.value}, target "
                f"{out.target_kmh:.2f} km/h, command {loop.snapshot.setpoint_kmh:.2f} km/h, "
                f"reasons: {reasons}",
                flush=True,
            )
        if action.message:
            print(action.message, flush=True)

    def reader() -> None:
        for line in sys.stdin:
            aio.call_soon_threadsafe(handle_line, line)

    if sys.stdin is not None and not sys.stdin.closed:
        threading.Thread(target=reader, name="console", daemon=True).start()
        if sys.stdin.isatty():
            print(HELP, flush=True)

    def on_signal() -> None:
        loop.request_quit("signal")

    for sig in (signal.SIGINT, signal.SIGTERM):
        aio.add_signal_handler(sig, on_signal)
    prompter = asyncio.create_task(prompt(), name="console-prompts")
    try:
        return await loop.run()
    finally:
        prompter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await prompter
