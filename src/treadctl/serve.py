"""The controller process: the control loop, its socket for clients, and its bridges.

`treadctl serve` runs this; `treadctl run` starts it as a process of its own and then
the dashboard in the foreground, so a dashboard that crashes or freezes never takes
the loop with it. The loop sees the dashboard only through its heartbeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from treadctl.api.messages import Welcome
from treadctl.api.server import ApiServer
from treadctl.api.socket_lock import SocketLock
from treadctl.api.status import StatusBuilder, session_info
from treadctl.app import SessionFiles, build_session
from treadctl.clock import Clock
from treadctl.config.profile import Supervision
from treadctl.control.loop import CycleRecorder
from treadctl.control.summary import SessionSummary
from treadctl.safety.interlock import InterlockConfig
from treadctl.service.hook import ServiceHook
from treadctl.service.journal import goes_to_journal, journal_formatter
from treadctl.sim.operator import ScriptedOperator
from treadctl.sim.scenario import Scenario
from treadctl.store.eventlog import EventLog

HEARTBEATS_PER_TIMEOUT = 4  # a console sends this many heartbeats per presence timeout


class Bridge(Protocol):
    """A service beside the controller (the MQTT bridge): started with the socket server,
    stopped after the session's end has been told. Neither call may block the loop."""

    def start(self, api: ApiServer) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Controller:
    files: SessionFiles
    clock: Clock
    events: EventLog
    socket_path: Path
    recorder: CycleRecorder | None = None
    scenario: Scenario | None = None
    operator: ScriptedOperator | None = None
    bridges: list[Bridge] = field(default_factory=list)
    handle_signals: bool = False
    on_ready: Callable[[ApiServer], None] | None = None
    api: ApiServer | None = None
    # systemd's variables (NOTIFY_SOCKET, WATCHDOG_USEC, JOURNAL_STREAM): by default read
    # from the environment only by a controller that owns its process (handle_signals)
    service_env: Mapping[str, str] | None = None
    service: ServiceHook | None = None
    # the socket's lock, if the caller took it before anything else (`treadctl serve`)
    socket_lock: SocketLock | None = None

    async def run(self) -> SessionSummary:
        """The session. First the socket's lock (`socket_lock`), `socket_lock` if the caller
        took it already: a second controller on the socket is refused with
        ControllerRunningError before it builds or connects anything. Released at the end."""
        lock = self.socket_lock
        if lock is None or not lock.held:
            lock = SocketLock.acquire(self.socket_path)
        try:
            return await self._run(lock)
        finally:
            lock.release()

    async def _run(self, lock: SocketLock) -> SessionSummary:
        files = self.files
        machine = files.machine
        supervised = files.profile.supervision is Supervision.REQUIRED
        env = self.service_env
        if env is None:
            env = os.environ if self.handle_signals else {}
        _journal_events(self.events, env)
        service = self.service = ServiceHook.from_env(env)
        service.segments = max(len(files.plan.segments), 1)
        session = build_session(
            files,
            self.clock,
            self.events,
            self.operator,
            self.scenario,
            recorder=self.recorder,
            supervised=supervised,
            on_cycle=service.on_cycle if service.enabled else None,
        )
        loop = session.loop
        service.snapshot = lambda: loop.snapshot
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
            machine.operator.presence_timeout_s / HEARTBEATS_PER_TIMEOUT,
            (cfg.max_forward_kmh, cfg.max_backward_kmh),
        )
        builder = StatusBuilder(machine, files.plan, files.profile.heart_rate.required, loop=loop)
        api = self.api = ApiServer(loop, builder, Welcome(session=info), session.belt)
        await api.start(self.socket_path, lock)
        aio = asyncio.get_running_loop()
        if self.handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                aio.add_signal_handler(sig, loop.request_quit, "signal")
        for bridge in self.bridges:
            bridge.start(api)
        if self.on_ready is not None:
            self.on_ready(api)
        summary: SessionSummary | None = None
        try:
            summary = await loop.run()
            return summary
        finally:
            # told first and never waited for: systemd knows a stop is on purpose
            service.stopping(summary.outcome if summary is not None else "controller error")
            if summary is not None:
                api.finish(summary.outcome, summary.lines())
            else:
                api.finish("controller error", ["the controller stopped with an error"])
            for bridge in self.bridges:
                with contextlib.suppress(Exception):
                    await bridge.stop()
            await api.close()
            await loop.close()
            service.close()
            if self.handle_signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    aio.remove_signal_handler(sig)


def _journal_events(events: EventLog, env: Mapping[str, str]) -> None:
    """Under systemd with stdout on the journal, echo events with syslog priorities and
    without our own timestamps. EventLog has no public setter for its formatter yet (the
    clean place is where the CLI builds it); swapping one reference is atomic for its
    writer thread."""
    inner = events._formatter
    if inner is not None and goes_to_journal(env, 1):
        events._formatter = journal_formatter(inner)
