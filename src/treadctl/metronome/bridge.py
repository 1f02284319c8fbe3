"""The metronome beside the controller: follows the session's status, sets the cadence.

A `Bridge` for `Controller(bridges=[...])`. The API server's 10 Hz status listener (the
loop's thread) reads the running segment's cue and stores it in the scheduler: one
reference store, nothing else, so the loop never waits on the sound. The clicks stop
whenever the belt is not running: stopped, stopping, a latched fault, the session's end
(Status.cue_spm is the cue of a running segment only, so a pause is silence too).

The sound output is opened in a thread of its own (PortAudio may take its time finding
devices); with none, the event log gets a warning naming the reason, once, at start. The
visible beat does not depend on it: the dashboard has `beat.beat_showing`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from treadctl.api.messages import Status
from treadctl.config.metronome import MetronomeConfig
from treadctl.metronome.beat import wanted_cadence
from treadctl.metronome.click import synthesize
from treadctl.metronome.player import Output, open_output
from treadctl.metronome.schedule import ClickScheduler

if TYPE_CHECKING:
    from treadctl.api.server import ApiServer

CLOSE_TIMEOUT_S = 2.0  # stop() waits this long for the sound output to close
HISTORY = 256  # cadence changes kept (session time s, cadence or None)
NO_SOUND = "metronome: no sound, the visible beat only: "


class MetronomeBridge:
    def __init__(
        self,
        config: MetronomeConfig,
        opener: Callable[[MetronomeConfig, ClickScheduler], Output] = open_output,
    ) -> None:
        self.config = config
        self.scheduler = ClickScheduler(synthesize(config), config.sample_rate_hz)
        self.changes: deque[tuple[float, float | None]] = deque(maxlen=HISTORY)
        self.output: Output | None = None
        self._opener = opener
        self._api: ApiServer | None = None
        self._ctl: asyncio.AbstractEventLoop | None = None
        self._opening: threading.Thread | None = None
        self._closed = threading.Event()
        self.opened = threading.Event()  # the output has been tried (see output.reason)

    @property
    def cadence_spm(self) -> float | None:
        return self.scheduler.cadence_spm

    @property
    def beats(self) -> int:
        """Clicks played so far (the sound's beat counter)."""
        return self.scheduler.beats

    # -- the controller's thread: return at once, never raise ---------------------------

    def start(self, api: ApiServer) -> None:
        try:
            self._api = api
            self._ctl = asyncio.get_running_loop()
            api.status_listeners.append(self._on_status)
            if not self.config.enabled:
                self.opened.set()
                return
            self._opening = threading.Thread(target=self._open, name="metronome", daemon=True)
            self._opening.start()
        except Exception as exc:
            with contextlib.suppress(Exception):
                api.loop.log_event("warning", text=f"metronome not started: {exc!r}")

    def _on_status(self, status: Status) -> None:
        """The API server's status listener (the loop's thread): one reference store."""
        try:
            cadence = wanted_cadence(status)
            if cadence != self.scheduler.cadence_spm:
                self.scheduler.set_cadence(cadence)
                self.changes.append((float(status.t_s), cadence))
        except Exception:
            self.scheduler.set_cadence(None)

    async def stop(self) -> None:
        """Silence, then close the sound output off the loop (waits CLOSE_TIMEOUT_S at most)."""
        api = self._api
        self.scheduler.set_cadence(None)
        self._closed.set()
        if api is not None:
            with contextlib.suppress(ValueError):
                api.status_listeners.remove(self._on_status)
        opening = self._opening
        if opening is None:
            return
        # A daemon thread, not the default executor: a sound system that hangs in close
        # must not hold up the process's exit (asyncio.run waits for executor threads).
        aio = asyncio.get_running_loop()
        done = asyncio.Event()

        def close() -> None:
            try:
                with contextlib.suppress(Exception):  # a failed close at the end: nothing to do
                    self._close(opening)
            finally:
                with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
                    aio.call_soon_threadsafe(done.set)

        threading.Thread(target=close, name="metronome-close", daemon=True).start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), CLOSE_TIMEOUT_S)

    # -- the opening thread --------------------------------------------------------------

    def _open(self) -> None:
        output = self._opener(self.config, self.scheduler)
        self.output = output
        self.opened.set()
        if self._closed.is_set():  # stop() came first: it may have missed this output
            with contextlib.suppress(Exception):
                output.close()
        if output.stream is None:
            self._log("warning", text=NO_SOUND + output.reason)
        else:
            self._log("metronome_ready", device=output.device)

    def _close(self, opening: threading.Thread) -> None:
        opening.join(CLOSE_TIMEOUT_S)
        output = self.output
        if output is not None:
            output.close()

    def _log(self, kind: str, **fields: Any) -> None:
        """An event in the controller's log, written in the controller's thread."""
        ctl, api = self._ctl, self._api
        if ctl is None or api is None:
            return

        def write() -> None:
            with contextlib.suppress(Exception):
                api.loop.log_event(kind, **fields)

        with contextlib.suppress(RuntimeError):  # the controller's loop has closed
            ctl.call_soon_threadsafe(write)
