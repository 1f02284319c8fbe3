"""The verbs that run a session: simulate (virtual clock), run and serve (real time), with
the session's event log and database record kept whatever happens."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from treadctl.api.server import ApiServer
from treadctl.api.socket_lock import SocketLock
from treadctl.app import (
    SessionFiles,
    apply_prescription,
    build_session,
    build_sim_session,
    load_session,
    session_progress,
)
from treadctl.cli.common import EXIT_NOT_COMPLETED, EXIT_OK, UsageError
from treadctl.cli.headless import run_console
from treadctl.cli.metronome import HeadlessMetronome, metronome_for, sound_known
from treadctl.clock import FINE_SLEEP_S, Clock, MonotonicClock, VirtualClock
from treadctl.config.mqtt import load_mqtt_config
from treadctl.control.loop import INCLINE_FAULT_SOURCE, ConnectError, ControlLoop
from treadctl.control.priority import raise_priority
from treadctl.control.summary import SessionSummary
from treadctl.launch import run_with_dashboard
from treadctl.mqtt.bridge import MqttBridge
from treadctl.safety.types import Mode
from treadctl.serve import Bridge, Controller
from treadctl.sim.operator import ScriptedOperator
from treadctl.sim.scenario import Scenario
from treadctl.store.eventlog import EventLog
from treadctl.store.recorder import SessionInfo, SessionRecorder
from treadctl.store.timeline import format_event

SessionRun = Coroutine[Any, Any, SessionSummary]
Runner = Callable[[Clock, EventLog, ScriptedOperator | None, SessionRecorder | None], SessionRun]


def _default_events_path(kind: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path("runs") / f"{kind}-{stamp}.jsonl"


def _scenario(path: Path | None) -> Scenario | None:
    return Scenario.load(path) if path is not None else None


def _recorder(
    db: Path | None,
    kind: str,
    files: SessionFiles,
    profile_path: Path,
    events: EventLog,
    clock: Clock,
) -> SessionRecorder | None:
    """The session's database recorder; it opens the database in its own thread."""
    if db is None:
        return None
    try:
        text: str | None = profile_path.read_text(encoding="utf-8")
    except OSError:
        text = None
    info = SessionInfo(
        kind,
        files.profile.name,
        files.machine.name,
        files.plan.segments,
        files.patient,
        text,
        files.plan.prescription,
    )
    return SessionRecorder(db, info, events, clock, files.machine.limits.standstill_kmh)


def _close_recorder(recorder: SessionRecorder | None, exc: BaseException | None) -> None:
    if recorder is None:
        return
    if isinstance(exc, ConnectError):
        recorder.close("faulted", f"cannot start: {exc}")
    elif exc is not None:
        recorder.close("interrupted", f"controller error: {exc!r}")
    else:
        recorder.close()


def _record_lines(recorder: SessionRecorder | None, summary: SessionSummary) -> list[str]:
    """The session record's final word, printed under the summary."""
    if recorder is None:
        return []
    late = [] if summary.warnings else [f"  WARNING: {w}" for w in recorder.warnings()]
    lost = recorder.lost()
    if recorder.session_id is None:
        return [*late, f"  session record: NOT written to {recorder.path}"]
    where = f"  session record: session {recorder.session_id} in {recorder.path}"
    if recorder.problem is None and lost == (0, 0):
        return [*late, where]
    return [*late, f"{where}, INCOMPLETE: {lost[0]} samples and {lost[1]} events not recorded"]


def _with_progress(
    args: argparse.Namespace, files: SessionFiles, kind: str, db: Path | None
) -> SessionFiles:
    """With --progress: the plan with the prescription from the recorded sessions, and the
    reason printed before anything starts. Refused (exit 2) rather than run without it."""
    if not args.progress:
        return files
    if db is None:
        raise UsageError("--progress needs --db: the database with the patient's sessions")
    if files.patient is None:
        raise UsageError("--progress needs --patient: a prescription is for one patient")
    progress = session_progress(files, args.profile, db, kind, create=True)
    files = apply_prescription(files, args.profile, progress.prescription)
    counted = len(progress.results)
    which = "simulated " if kind == "simulate" else ""
    print(
        f"progression: {progress.prescription} "
        f"(from {counted} counted {which}session{'s' if counted != 1 else ''} in {db})"
    )
    for note in progress.notes:
        print(f"  note: {note}")
    sys.stdout.flush()
    return files


def simulate_verb(args: argparse.Namespace) -> int:
    files = load_session(args.machine, args.profile, args.patient)
    files = _with_progress(args, files, "simulate", args.db)
    scenario = _scenario(args.scenario)
    operator = scenario.operator_for() if scenario else ScriptedOperator()
    clock = VirtualClock()
    events_path = args.events or _default_events_path("simulate")
    events = EventLog(events_path)
    recorder = _recorder(args.db, "simulate", files, args.profile, events, clock)
    session = build_sim_session(
        files, clock, events, operator, scenario, end_on_fault=True, recorder=recorder
    )
    events.add_sink(_end_on_incline_fault(session.loop))

    interrupted: list[int] = []  # the signals received, in order

    async def run_and_close() -> SessionSummary:
        aio = asyncio.get_running_loop()
        main = asyncio.current_task()
        assert main is not None

        def on_signal(signum: int) -> None:
            # The first Ctrl-C (or SIGTERM) stops the simulated belt as the operator's stop
            # would and leaves at standstill, with the summary and the record; a second
            # one gives up on the ramp-down (the loop's final write still stops the drive).
            interrupted.append(signum)
            if len(interrupted) == 1:
                session.loop.request_quit("signal")
            else:
                main.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            aio.add_signal_handler(sig, on_signal, sig)
        try:
            return await session.loop.run()
        finally:  # stops a background heart-rate source and closes the drive's links
            await session.loop.close()

    error: BaseException | None = None
    summary: SessionSummary | None = None
    try:
        summary = asyncio.run(run_and_close())
    except asyncio.CancelledError as exc:
        if not interrupted:
            raise
        error = exc  # a second Ctrl-C during the ramp-down: no summary
    except BaseException as exc:
        error = exc
        raise
    finally:
        _close_recorder(recorder, error)
        events.close()
    if interrupted:
        said = _interrupted_line(interrupted[0], summary, recorder, events_path)
        print(said, file=sys.stderr)
        return 128 + interrupted[0]  # the shell's convention: 130 for Ctrl-C
    assert summary is not None
    if not args.quiet:
        print("Timeline:")
        for record in events.records:
            line = format_event(record, len(files.plan.segments))
            if line is not None:
                print("  " + line)
    for line in [*summary.lines(), *_record_lines(recorder, summary)]:
        print(line)
    print(f"  event log: {events_path}")
    return EXIT_OK if summary.outcome == "completed" else EXIT_NOT_COMPLETED


def _interrupted_line(
    signum: int,
    summary: SessionSummary | None,
    recorder: SessionRecorder | None,
    events_path: Path,
) -> str:
    """The one line a simulation stopped by Ctrl-C (or SIGTERM) ends with."""
    what = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    if summary is None:
        rest = "the ramp-down given up (second signal), the belt commanded off"
    else:
        rest = f"belt brought to rest at {_clock_text(summary.duration_s)} simulated"
    record = ""
    if recorder is not None:
        if recorder.session_id is None:
            record = f"; session record NOT written to {recorder.path}"
        else:
            record = f"; session record: session {recorder.session_id} in {recorder.path}"
    return f"simulate: interrupted by {what}: {rest}{record}; event log: {events_path}"


def _clock_text(seconds: float) -> str:
    minutes, rest = divmod(max(seconds, 0.0), 60.0)
    return f"{int(minutes):02d}:{rest:04.1f}"


def _end_on_incline_fault(loop: ControlLoop) -> Callable[[dict[str, Any]], None]:
    """A simulated session ends on a latched incline fault as on any latched fault, once
    the fault's own pause has stopped the belt (without this the scripted operator's
    starts are refused until the time limit)."""
    faulted = False

    def sink(record: dict[str, Any]) -> None:
        nonlocal faulted
        kind = record.get("kind")
        if kind == "incline_fault":
            faulted = True
        elif faulted and kind == "transition" and record.get("new") == Mode.STOPPED.value:
            loop.request_quit(INCLINE_FAULT_SOURCE)

    return sink


def run_verb(args: argparse.Namespace) -> int:
    files = load_session(args.machine, args.profile, args.patient)
    files = _with_progress(args, files, "run", args.db)
    scenario = _scenario(args.scenario)
    if not args.headless:
        return run_with_dashboard(args)
    if args.mqtt is not None:
        raise UsageError("--mqtt needs the controller process: leave out --headless")

    def console(
        clock: Clock,
        events: EventLog,
        operator: ScriptedOperator | None,
        recorder: SessionRecorder | None,
    ) -> SessionRun:
        async def main() -> SessionSummary:
            # built inside the event loop: pymodbus clients need a running loop
            session = build_session(files, clock, events, operator, scenario, recorder=recorder)
            metronome = (
                HeadlessMetronome(files, session) if files.machine.metronome.enabled else None
            )
            if metronome is not None:
                metronome.start()
            try:
                return await run_console(session.loop)
            finally:
                if metronome is not None:
                    with contextlib.suppress(Exception):  # the cue never holds up the end
                        await metronome.stop()
                await session.loop.close()

        return main()

    return _realtime(args, files, scenario, console)


def serve_verb(args: argparse.Namespace) -> int:
    """The controller process: no terminal of its own; events go to stdout (a log file).
    One per socket: the socket's lock is taken before anything is opened or written, and a
    second controller is refused (exit 3) naming the first one's pid."""
    files = load_session(args.machine, args.profile, args.patient)
    lock = SocketLock.acquire(args.socket)
    try:
        return _serve(args, files, lock)
    finally:
        lock.release()


def _serve(args: argparse.Namespace, files: SessionFiles, lock: SocketLock) -> int:
    bridges: list[Bridge] = []
    if args.mqtt is not None:
        bridges.append(MqttBridge(load_mqtt_config(args.mqtt)))
    files = _with_progress(args, files, "run", args.db)
    scenario = _scenario(args.scenario)
    metronome = metronome_for(files)
    bridges.append(metronome)

    def ready(api: ApiServer) -> None:
        api.builder.sound = lambda: sound_known(metronome)
        print(f"controller: listening on {args.socket}", flush=True)

    def controller(
        clock: Clock,
        events: EventLog,
        operator: ScriptedOperator | None,
        recorder: SessionRecorder | None,
    ) -> SessionRun:
        return Controller(
            files,
            clock,
            events,
            args.socket,
            recorder=recorder,
            scenario=scenario,
            operator=operator,
            handle_signals=True,
            on_ready=ready,
            bridges=bridges,
            socket_lock=lock,
        ).run()

    return _realtime(args, files, scenario, controller)


def _realtime(
    args: argparse.Namespace, files: SessionFiles, scenario: Scenario | None, runner: Runner
) -> int:
    """A real-time session: event log echoed to stdout, the record kept whatever happens,
    the summary printed; exit 0 only for a completed session."""
    operator = None
    if args.operator == "auto":
        operator = scenario.operator_for() if scenario else ScriptedOperator()
    clock: Clock = MonotonicClock(fine_s=FINE_SLEEP_S)  # this process runs one loop
    events_path = args.events or _default_events_path("run")
    total = len(files.plan.segments)
    events = EventLog(events_path, echo=sys.stdout, formatter=lambda r: format_event(r, total))
    recorder = _recorder(args.db, "run", files, args.profile, events, clock)
    # after the event-log and database threads exist: they run below the loop
    warning = raise_priority(files.machine.loop.realtime_priority)
    if warning is not None:
        events.write(0.0, clock.wall_time(), "warning", text=warning)
    # Everything imported and built so far lives as long as the process: out of the
    # collector's sight, a full collection no longer stops the loop for ~90 ms to scan it.
    gc.freeze()
    error: BaseException | None = None
    try:
        summary = asyncio.run(runner(clock, events, operator, recorder))
    except BaseException as exc:
        error = exc
        raise
    finally:
        _close_recorder(recorder, error)
        events.close()
    for line in [*summary.lines(), *_record_lines(recorder, summary)]:
        print(line)
    print(f"  event log: {events_path}")
    sys.stdout.flush()
    return EXIT_OK if summary.outcome == "completed" else EXIT_NOT_COMPLETED
