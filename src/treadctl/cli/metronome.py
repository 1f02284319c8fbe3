"""The metronome beside a session run from the command line.

`serve` (and `run`, whose controller is a serve process) adds the MetronomeBridge to the
controller's bridges; `run --headless` has no socket server, so the same bridge follows a
status built here at the server's rate. `simulate` plays no sound: its clock is virtual
(minutes pass in seconds), the timeline names each segment's cue instead.

With the metronome enabled and no sound output, the bridge's warning goes to the event
log; it is also printed to stderr, from a thread of its own once the output has been
tried, so whoever started the controller sees it before the first click is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from typing import TextIO

from treadctl.api.messages import Welcome
from treadctl.api.server import STATUS_HZ, ApiServer
from treadctl.api.status import StatusBuilder, session_info
from treadctl.app import Session, SessionFiles
from treadctl.metronome.bridge import NO_SOUND, MetronomeBridge
from treadctl.safety.interlock import InterlockConfig

OPEN_WAIT_S = 30.0  # the sound output is tried by then, or the warning is not printed
HEADLESS_HEARTBEAT_S = 1.0  # no console attaches to a headless session: informational only


def metronome_for(files: SessionFiles, err: TextIO | None = None) -> MetronomeBridge:
    """The machine file's metronome (safe when disabled: it only follows the status)."""
    bridge = MetronomeBridge(files.machine.metronome)
    if files.machine.metronome.enabled:
        _announce_no_sound(bridge, sys.stderr if err is None else err)
    return bridge


def sound_known(bridge: MetronomeBridge) -> bool | None:
    """Whether the clicks are audible; None until the output has been tried (status)."""
    if not bridge.config.enabled:
        return False
    if not bridge.opened.is_set():
        return None
    output = bridge.output
    return output is not None and output.stream is not None


def _announce_no_sound(bridge: MetronomeBridge, err: TextIO) -> None:
    def wait() -> None:
        if not bridge.opened.wait(OPEN_WAIT_S):
            return
        output = bridge.output
        if output is not None and output.stream is None:
            with contextlib.suppress(OSError, ValueError):  # stderr closed: nothing to tell
                print(f"treadctl: {NO_SOUND}{output.reason}", file=err, flush=True)

    threading.Thread(target=wait, name="metronome-warning", daemon=True).start()


class HeadlessMetronome:
    """The bridge for `run --headless`: an API server that is never started (no socket)
    gives the bridge its status listeners and event log; a task here builds the status
    at the server's rate and hands it on, as the server's own ticker does."""

    def __init__(self, files: SessionFiles, session: Session) -> None:
        machine = files.machine
        loop = session.loop
        cfg = InterlockConfig.from_config(
            machine.limits,
            machine.watchdog,
            files.patient,
            machine.operator,
            walker_turns=machine.walker_turns,
        )
        info = session_info(
            machine,
            files.plan,
            loop.p.patient_name,
            session.belt is not None,
            HEADLESS_HEARTBEAT_S,
            (cfg.max_forward_kmh, cfg.max_backward_kmh),
        )
        self.builder = StatusBuilder(
            machine, files.plan, files.profile.heart_rate.required, loop=loop
        )
        self.api = ApiServer(loop, self.builder, Welcome(session=info), session.belt)
        self.bridge = metronome_for(files)
        self.builder.sound = lambda: sound_known(self.bridge)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.bridge.start(self.api)
        self._task = asyncio.create_task(self._tick(), name="metronome-status")

    async def _tick(self) -> None:
        period = 1.0 / STATUS_HZ
        api = self.api
        while True:
            await asyncio.sleep(period)
            try:
                status = self.builder.build(api.loop.snapshot, api.desk.listing())
                if status is None:
                    continue
                for listener in api.status_listeners:
                    listener(status)
            except Exception as exc:  # the cue is a cue: never the session's end
                api.loop.log_event("warning", text=f"metronome status failed: {exc!r}")
                return

    async def stop(self) -> None:
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.bridge.stop()
