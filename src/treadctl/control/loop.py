"""The cycle loop: read inputs, step the interlock, step the setpoint, write outputs.

One task, one fixed order, absolute deadlines (`next += period`) as in
ros2_control. A failed read is passed on as "no reading" (the interlock holds
speed and trips when the watchdog age passes); it is never replaced by the
last good value. Writes always happen, faulted or not, so the drive keeps
receiving a fresh stop command and its own comm-loss watchdog stays fed only
while this loop is alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from treadctl.config.machine import MachineConfig
from treadctl.config.profile import HARNESS_INCLINE_PCT, SegmentKind
from treadctl.control.clock import Clock
from treadctl.control.hr_target import (
    HR_TARGET_SOURCE,
    HrTargetState,
    HrTargetStep,
    step_hr_target,
)
from treadctl.control.operator import ScriptedOperator
from treadctl.control.setpoint import Ramp, Setpoint, step_setpoint
from treadctl.control.stats import CycleStats
from treadctl.control.summary import SessionSummary, SessionTotals
from treadctl.drives.base import Drive, DriveCommand, DriveError
from treadctl.heartrate.base import BackgroundHeartRate
from treadctl.incline.base import InclineActuator, InclineCommand, InclineError
from treadctl.inputs.base import HeartRateSource, InputError, SafetyInputSource
from treadctl.protocol.plan import Plan, PlannedSegment
from treadctl.protocol.sequencer import Sequencer, SequencerState
from treadctl.safety.incline import (
    InclineConfig,
    InclineInputs,
    InclineOutputs,
    InclineRules,
    InclineState,
)
from treadctl.safety.interlock import Interlock, InterlockConfig
from treadctl.safety.types import (
    Command,
    CommandKind,
    Decel,
    Direction,
    DriveStatus,
    InterlockState,
    Mode,
    Reason,
    SafetyInputs,
    SafetyIO,
    SafetyOutputs,
    SegmentPolicy,
)
from treadctl.store.eventlog import EventLog

NO_WATCHDOG_WARNING = (
    "the machine file declares a drive with no comm-loss watchdog: "
    "if this controller dies the belt keeps running until the e-stop is pressed"
)


NO_INCLINE_ACTUATOR_WARNING = (
    "the machine file declares an incline actuator but this session drives none: "
    "set the incline by hand"
)


def segment_fields(seg: PlannedSegment, incline_driven: bool = False) -> dict[str, Any]:
    """A segment as the event log records it (incline and cue only when it has them;
    `incline_driven`: the machine's actuator drives the incline, nobody sets it by hand)."""
    fields: dict[str, Any] = {
        "index": seg.index,
        "label": seg.label,
        "segment_kind": seg.kind.value,
        "target_kmh": seg.target_kmh,
        "duration_s": seg.duration_s,
    }
    if seg.incline_pct:
        fields["incline_pct"] = seg.incline_pct
        if incline_driven:
            fields["incline_driven"] = True
    if seg.cadence_spm:
        fields["cadence_spm"] = seg.cadence_spm
    return fields


class ReadHealth:
    """Logs a source's first failed read and its recovery, once each, not every cycle."""

    __slots__ = ("failing", "log", "source")

    def __init__(self, log: Callable[..., None], source: str) -> None:
        self.log = log
        self.source = source
        self.failing = False

    def ok(self, now: float) -> None:
        if self.failing:
            self.failing = False
            self.log(now, "read_recovered", source=self.source)

    def failed(self, now: float, exc: BaseException) -> None:
        if not self.failing:
            self.failing = True
            reason = str(exc) or f"{self.source}: no answer within the cycle's time budget"
            self.log(now, "read_failed", source=self.source, reason=reason)


class ConnectError(Exception):
    """The drive could not be connected or its watchdog could not be armed: nothing moved."""


class CycleRecorder(Protocol):
    """Keeps a record of the session (treadctl.store.recorder.SessionRecorder).

    Every method is called from the loop and must return at once: hand the data to
    another thread, never wait for I/O, never raise.
    """

    def start(self, t0: float, wall_s: float) -> None: ...

    def cycle(
        self,
        now: float,
        out: SafetyOutputs,
        setpoint_kmh: float,
        drive: DriveStatus | None,
        io: SafetyIO | None,
        heart_rate_bpm: float | None,
        segment_index: int,
    ) -> None: ...

    def warnings(self) -> tuple[str, ...]: ...

    def end(self, summary: SessionSummary) -> None: ...


class InclineRecorder(Protocol):
    """A recorder that also keeps the incline (optional: the loop looks for the method).

    `incline.target_pct`, `.goal_pct`, `.actual_pct`, `.mode` and `.faults` each cycle;
    must return at once, as `CycleRecorder.cycle`."""

    def incline_cycle(self, now: float, incline: InclineOutputs) -> None: ...


INCLINE_FAULT_SOURCE = "incline fault"
# A background heart-rate source (radio, broker) is given this long to stop at close();
# each of its own steps is bounded already, this bounds the sum.
HR_STOP_TIMEOUT_S = 10.0


@dataclass
class LoopParts:
    machine: MachineConfig
    plan: Plan
    interlock_config: InterlockConfig
    drive: Drive
    inputs: SafetyInputSource
    clock: Clock
    events: EventLog
    heart_rate: HeartRateSource | None = None
    operator: ScriptedOperator | None = None
    patient_name: str = "-"
    end_on_fault: bool = False  # end the session at standstill after a latched fault
    max_session_s: float | None = None
    on_cycle: Callable[[float], None] | None = None  # called after each cycle (fault injection)
    recorder: CycleRecorder | None = None  # the session record (database), fed every cycle
    # A remote operator console (the dashboard) supervises: its heartbeats are a safety input.
    supervised: bool = False
    # The powered incline (machine file [incline] actuator); None: set by hand, if at all.
    incline: InclineActuator | None = None


@dataclass(slots=True)  # not frozen: a frozen dataclass costs 1.4 us more, every cycle
class LoopSnapshot:
    """The latest cycle, for clients that watch (dashboard, status, MQTT bridge).

    A new one each cycle, replaced as one reference and never changed after: a reader
    in another thread sees one whole cycle, never half of two.
    """

    now: float = 0.0
    outputs: SafetyOutputs | None = None
    setpoint_kmh: float = 0.0
    drive: DriveStatus | None = None
    segment_index: int = 0
    segment_elapsed_s: float = 0.0
    io: SafetyIO | None = None
    io_age_s: float = 0.0
    drive_age_s: float = 0.0
    heart_rate_bpm: float | None = None
    heart_rate_age_s: float | None = None
    operator_age_s: float | None = None
    sequencer: SequencerState = field(default_factory=SequencerState)
    interlock: InterlockState = field(default_factory=InterlockState)
    # The powered incline this cycle (target, goal, actual %, mode, faults); None: no actuator
    incline: InclineOutputs | None = None


class ControlLoop:
    def __init__(self, parts: LoopParts) -> None:
        self.p = parts
        m = parts.machine
        self.period_s = m.loop.period_s
        self.interlock = Interlock(parts.interlock_config)
        self.sequencer = Sequencer(parts.plan)
        self.ramps = {
            Direction.FORWARD: Ramp.from_config(m.limits.forward),
            Direction.BACKWARD: Ramp.from_config(m.limits.backward),
        }
        self.quick_decel = m.limits.quick_stop_decel_kmh_per_s
        # Each segment's own ramp (validated within the machine's limits for its direction),
        # used only while the belt runs that direction: (direction, ramp) or None.
        self.segment_ramps: list[tuple[Direction, Ramp] | None] = [
            (
                Direction.BACKWARD if seg.kind is SegmentKind.BACKWARD else Direction.FORWARD,
                Ramp.from_config(seg.ramp),
            )
            if seg.ramp is not None and seg.kind is not SegmentKind.REST
            else None
            for seg in parts.plan.segments
        ]
        self.commands: deque[Command] = deque()  # thread-safe appends from any client
        self.hr_zones = tuple(seg.hr_zone for seg in parts.plan.segments)
        self.hr_target = HrTargetState()
        self.any_hr_zone = any(z is not None for z in self.hr_zones)  # else no per-cycle cost
        self.stats = CycleStats()
        self.totals = SessionTotals(m.limits.standstill_kmh)
        self.snapshot = LoopSnapshot()
        self._quit = False
        self._quit_requested = False
        self.t0 = 0.0
        self._watchdog_present = True
        self._held_reset: Command | None = None
        self._drive_codes = (0, 0)  # (fault, warning) last named in the event log
        self._held_until = 0.0
        self.operator_seen_at: float | None = None
        self.incline_rules: InclineRules | None = None
        if parts.incline is not None and m.incline is not None:
            self.incline_rules = InclineRules(InclineConfig.from_config(m.incline))
        self.belt_stop_on_incline_fault = m.incline is None or m.incline.belt_stop_on_fault
        # The harness is confirmed for this session: by an accepted start of a segment whose
        # pre-start checklist lists it (the start confirms the checklist), or explicitly.
        self.harness_confirmed = False
        self._incline_home = False
        # Called with each cycle's snapshot; each must return at once and never block.
        self.listeners: list[Callable[[LoopSnapshot], None]] = []

    def operator_heartbeat(self) -> None:
        """The supervising console is alive (called by the socket server on a Heartbeat)."""
        self.operator_seen_at = self.p.clock.now()

    def operator_age_s(self, now: float) -> float | None:
        """Age of the supervising console's last sign of life; None when unsupervised."""
        if not self.p.supervised:
            return None
        seen = self.operator_seen_at
        return math.inf if seen is None else max(0.0, now - seen)

    def _ramp(self, index: int, belt: Direction) -> Ramp:
        """The segment's ramp while the belt runs its direction; else the machine's."""
        own = self.segment_ramps[index] if index < len(self.segment_ramps) else None
        if own is not None and own[0] is belt:
            return own[1]
        return self.ramps[belt]

    async def close(self) -> None:
        """Close the drive's and the inputs' links (after the final safe write), and stop
        a background heart-rate source (bounded: a stuck radio never holds the close)."""
        hr = self.p.heart_rate
        if isinstance(hr, BackgroundHeartRate):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(HR_STOP_TIMEOUT_S):
                    await hr.stop()
        with contextlib.suppress(DriveError, InputError, OSError):
            await self.p.drive.close()
        with contextlib.suppress(InputError, OSError):
            await self.p.inputs.close()
        if self.p.incline is not None:
            with contextlib.suppress(InclineError, OSError):
                await self.p.incline.close()

    def confirm_harness(self) -> None:
        """The operator confirmed the chest harness for this session: the incline may pass
        the harness grade. Only a new session forgets it."""
        self.harness_confirmed = True

    def incline_home(self) -> None:
        """Return the incline to 0 % (only where the machine file allows it, only with the
        belt stopped and the incline healthy); handled at the next cycle."""
        self._incline_home = True

    def _harness_listed(self, index: int) -> bool:
        segs = self.p.plan.segments
        seg = segs[index] if 0 <= index < len(segs) else None
        return self.p.plan.requires_harness or (
            seg is not None and seg.incline_pct >= HARNESS_INCLINE_PCT
        )

    def submit(self, command: Command) -> None:
        """Queue an operator command; it is handled at the next cycle, in order."""
        self.commands.append(command)

    def request_quit(self, source: str = "quit") -> None:
        """Leave once the belt is stopped; a running belt is stopped first.

        May be called between the awaits of a cycle: the quit takes effect when its stop
        command is drained, so the interlock and the sequencer see the stop first.
        """
        self.commands.append(Command(CommandKind.STOP, source))
        self._quit_requested = True

    def log_event(self, kind: str, **fields: Any) -> None:
        """Write an event stamped now (for the socket server and other watchers)."""
        self._log(self.p.clock.now(), kind, **fields)

    def _log(self, now: float, kind: str, **fields: Any) -> None:
        self.p.events.write(now - self.t0, self.p.clock.wall_time(), kind, **fields)

    def _drive_codes_changed(self, now: float, status: DriveStatus) -> None:
        """Name a new drive fault or warning in the manual's words, once per change."""
        fault, warning = self._drive_codes
        self._drive_codes = (status.fault_code, status.warning_code)
        d = self.p.drive
        if status.fault_code != fault and status.fault_code:
            self._log(
                now, "drive_fault", code=status.fault_code, text=d.describe_fault(status.fault_code)
            )
        if status.warning_code != warning:
            text = d.describe_warning(status.warning_code) if status.warning_code else ""
            self._log(now, "drive_warning", code=status.warning_code, text=text)

    async def connect(self) -> None:
        p = self.p
        wd = p.machine.watchdog.drive_comm_loss_s
        try:
            await p.inputs.open()
        except InputError as exc:
            raise ConnectError(f"{exc.source}: cannot open: {exc.reason}") from exc
        try:
            setting = await p.drive.connect(wd)
        except DriveError as exc:
            raise ConnectError(f"{exc.source}: cannot connect: {exc.reason}") from exc
        self._watchdog_present = setting.present
        if p.incline is not None:
            try:
                await p.incline.open()
                await p.incline.write(InclineCommand.halt())
            except InclineError as exc:
                raise ConnectError(f"{exc.source}: cannot open: {exc.reason}") from exc
        if not setting.present:
            self._log(p.clock.now(), "warning", text=NO_WATCHDOG_WARNING)
        elif setting.timeout_s <= 0 or setting.timeout_s > wd + 1e-9:
            raise ConnectError(
                f"{p.drive.name}: comm-loss watchdog read back as {setting.timeout_s} s, "
                f"wanted {wd} s: refusing to run"
            )
        self._log(
            p.clock.now(),
            "connect",
            drive=p.drive.name,
            inputs=p.inputs.name,
            watchdog_s=setting.timeout_s,
            watchdog_action=setting.action,
        )

    async def run(self) -> SessionSummary:
        p = self.p
        clock = p.clock
        wall_start = time.perf_counter()
        self.t0 = clock.now()
        self.totals.t0 = self.t0
        record = p.recorder
        if record is not None:
            record.start(self.t0, clock.wall_time())
        await self.connect()
        if isinstance(p.heart_rate, BackgroundHeartRate):
            p.heart_rate.start()  # its own task: returns at once (a no-op if already started)
        self._log(
            self.t0,
            "session_start",
            profile=p.plan.profile.name,
            patient=p.patient_name,
            segments=len(p.plan.segments),
            planned_s=p.plan.total_s,
            loop_hz=p.machine.loop.rate_hz,
        )
        rng = p.machine.incline
        if rng is not None and rng.actuator is not None and self.incline_rules is None:
            self._log(self.t0, "warning", text=NO_INCLINE_ACTUATOR_WARNING)
        first = self.sequencer.segment(SequencerState())
        if first is not None:
            self._log(
                self.t0,
                "segment",
                of=len(p.plan.segments),
                **segment_fields(first, self.incline_rules is not None),
            )
        il_state = self.interlock.initial_state()
        seq_state = SequencerState()
        sp = Setpoint()
        pending: tuple[Command, ...] = ()
        # Time starts after connecting: a slow connect is neither an overrun nor a stale read.
        first_cycle = clock.now()
        io_ok_at = drive_ok_at = first_cycle
        hr_ok_at: float | None = None
        hr_bpm: float | None = None
        hr_age_s: float | None = None
        # A background source knows its sample's own age (time.monotonic); "now minus the
        # cycle that last saw a value" would hide up to its staleness limit. Real clock only.
        hr_aged = p.heart_rate if isinstance(p.heart_rate, BackgroundHeartRate) else None
        if clock.is_virtual:
            hr_aged = None
        write_ok = True
        io_health = ReadHealth(self._log, p.inputs.name)
        drive_health = ReadHealth(self._log, p.drive.name)
        warnings: tuple[str, ...] = ()
        outcome = ""
        deadline = first_cycle
        period = self.period_s
        stats = self.stats
        perf = time.perf_counter
        guard = None if clock.is_virtual else period * 0.8
        wd = p.machine.watchdog
        unreachable_exit_s = wd.drive_comm_loss_s + wd.unreachable_exit_s
        unverified = False
        supervised = p.supervised
        out: SafetyOutputs | None = None
        incline = p.incline
        rules = self.incline_rules
        inc_state = InclineState()
        inc_out: InclineOutputs | None = None
        inc_ok_at = first_cycle
        inc_write_ok = True
        inc_health = ReadHealth(self._log, incline.name if incline is not None else "incline")
        inc_record = getattr(record, "incline_cycle", None) if rules is not None else None
        try:
            while True:
                await clock.sleep_until(deadline)
                now = clock.now()
                started = perf()
                lateness = now - deadline

                # 1. read inputs
                io: SafetyIO | None = None
                drive: DriveStatus | None = None
                try:
                    io = await self._bounded(p.inputs.read(), guard)
                    io_ok_at = now
                    io_health.ok(now)
                except (InputError, TimeoutError) as exc:
                    io_health.failed(now, exc)
                try:
                    status = await self._bounded(p.drive.read_status(), guard)
                    speed = status.actual_speed_kmh
                    if not (speed >= 0.0 and speed != math.inf):  # NaN, negative or infinite
                        raise DriveError(p.drive.name, f"implausible speed reading {speed!r}")
                    drive = status
                    if (status.fault_code, status.warning_code) != self._drive_codes:
                        self._drive_codes_changed(now, status)
                    if write_ok:
                        drive_ok_at = now
                    drive_health.ok(now)
                except (DriveError, TimeoutError) as exc:
                    drive_health.failed(now, exc)
                if p.heart_rate is not None:
                    hr_bpm = await p.heart_rate.read_bpm()
                    if hr_bpm is not None:
                        hr_ok_at = now
                    if hr_aged is not None:
                        hr_age_s = hr_aged.age_s() if hr_bpm is not None else None
                    else:
                        hr_age_s = None if hr_ok_at is None else now - hr_ok_at
                inc_pct: float | None = None
                if incline is not None:
                    try:
                        pct = await self._bounded(incline.read_position_pct(), guard)
                        if not math.isfinite(pct):
                            raise InclineError(incline.name, f"implausible reading {pct!r}")
                        inc_pct, inc_ok_at = pct, now
                        inc_health.ok(now)
                    except (InclineError, TimeoutError) as exc:
                        inc_health.failed(now, exc)

                # 2. commands: queued operator commands first, then the profile's own
                commands: list[Command] = []
                quit_seen = self._quit_requested
                while self.commands:
                    commands.append(self.commands.popleft())
                if quit_seen:
                    self._quit = True
                commands.extend(pending)
                policy = self.sequencer.policy(seq_state)
                if p.operator is not None and out is not None:
                    commands.extend(p.operator.poll(out, policy, seq_state.ended, now))
                if out is not None and (commands or self._held_reset is not None):
                    commands = await self._drive_fault_reset(commands, out, drive, now, guard)
                if self.any_hr_zone:
                    self._hr_zone_step(commands, out, seq_state, policy, hr_bpm, now)
                inc_reset = any(c.kind is CommandKind.RESET for c in commands)
                if inc_out is not None and inc_out.faulted and self.belt_stop_on_incline_fault:
                    commands = self._incline_fault_stop(commands, out, now)

                # 3. interlock
                operator_age = self.operator_age_s(now) if supervised else None
                il_state, out = self.interlock.step(
                    il_state,
                    SafetyInputs(
                        io=io,
                        io_age_s=now - io_ok_at,
                        drive=drive,
                        drive_age_s=now - drive_ok_at,
                        commanded_kmh=sp.speed_kmh,
                        segment=policy,
                        heart_rate_bpm=hr_bpm,
                        heart_rate_age_s=hr_age_s,
                        commands=tuple(commands),
                        operator_age_s=operator_age,
                    ),
                    now,
                )
                # 4. sequence
                started_index = seq_state.index
                seq_state, pending, change = self.sequencer.step(seq_state, out, now)

                # 4b. incline: follows the segment only while the belt runs it
                if rules is not None:
                    for d in out.decisions:
                        if (
                            d.accepted
                            and d.command.kind is CommandKind.START
                            and self._harness_listed(started_index)
                        ):
                            self.harness_confirmed = True
                    home, self._incline_home = self._incline_home, False
                    inc_state, inc_out = rules.step(
                        inc_state,
                        InclineInputs(
                            position_pct=inc_pct,
                            position_age_s=now - inc_ok_at,
                            target_pct=self.sequencer.cues(seq_state).incline_pct,
                            belt_running=out.mode is Mode.RUNNING,
                            belt_stopped=out.mode is Mode.STOPPED,
                            harness_confirmed=self.harness_confirmed,
                            reset=inc_reset,
                            home=home,
                        ),
                        now,
                    )

                # 5. setpoint. With the drive disabled nothing follows the setpoint: it takes
                # the quick path to zero, so standstill (belt and command at zero) is
                # verified as soon as the belt is at rest, and no later start can jump.
                quick = out.decel is Decel.QUICK
                sp = step_setpoint(
                    sp,
                    out.target_kmh,
                    self._ramp(seq_state.index, out.direction),
                    period,
                    self.quick_decel if quick or not out.drive_enable else None,
                )

                # a lost link may reconnect only while the belt is not commanded to move
                p.drive.allow_reconnect(out.mode in (Mode.FAULTED, Mode.STOPPED))

                # 6. write outputs
                try:
                    await self._bounded(
                        p.drive.write_command(
                            DriveCommand(out.drive_enable, out.belt_direction, sp.speed_kmh, quick)
                        ),
                        guard,
                    )
                    write_ok = True
                except (DriveError, TimeoutError) as exc:
                    if write_ok:
                        why = (
                            str(exc) or f"{p.drive.name}: no answer within the cycle's time budget"
                        )
                        self._log(now, "write_failed", source=p.drive.name, reason=why)
                    write_ok = False
                if incline is not None and inc_out is not None:
                    try:
                        await self._bounded(
                            incline.write(
                                InclineCommand(inc_out.up, inc_out.down, inc_out.setpoint_pct)
                            ),
                            guard,
                        )
                        inc_write_ok = True
                    except (InclineError, TimeoutError) as exc:
                        if inc_write_ok:
                            why = str(exc) or f"{incline.name}: no answer within the cycle's budget"
                            self._log(now, "write_failed", source=incline.name, reason=why)
                        inc_write_ok = False

                # 7. record
                self.totals.cycle(now, drive, sp.speed_kmh, out.direction)
                if record is not None:
                    record.cycle(now, out, sp.speed_kmh, drive, io, hr_bpm, seq_state.index)
                if out.transitions or out.decisions or change is not None:
                    self._record(now, out, change)
                cycle_warnings = out.warnings
                if inc_out is not None:
                    self._record_incline(now, inc_out)
                    if inc_record is not None:
                        inc_record(now, inc_out)
                    if inc_out.warnings:
                        cycle_warnings = cycle_warnings + inc_out.warnings
                if cycle_warnings != warnings:
                    warnings = cycle_warnings
                    self._log(now, "warnings", warnings=list(warnings))
                snap = self.snapshot = LoopSnapshot(  # positional: kwargs cost per cycle
                    now,
                    out,
                    sp.speed_kmh,
                    drive,
                    seq_state.index,
                    seq_state.elapsed_s,
                    io,
                    now - io_ok_at,
                    now - drive_ok_at,
                    hr_bpm,
                    hr_age_s,
                    operator_age,
                    seq_state,
                    il_state,
                    inc_out,
                )
                for listener in tuple(self.listeners) if self.listeners else ():
                    try:
                        listener(snap)
                    except Exception as exc:  # a watcher's bug never stops the belt's loop
                        self.listeners.remove(listener)
                        self._log(now, "warning", text=f"status listener removed: {exc!r}")
                if p.on_cycle is not None:
                    p.on_cycle(now)

                # end of session? Only at verified standstill, or faulted with the drive
                # unreachable for longer than its own watchdog needs to stop the belt.
                unverified = out.mode is Mode.FAULTED and now - drive_ok_at > unreachable_exit_s
                stopped = out.mode is not Mode.RUNNING and (out.at_standstill or unverified)
                if stopped and (seq_state.ended or self._quit):
                    outcome = seq_state.outcome or "quit by operator"
                    break
                if (
                    stopped
                    and p.end_on_fault
                    and out.mode is Mode.FAULTED
                    and out.reasons != (Reason.POWER_ON,)
                ):
                    outcome = "interrupted by latched fault"
                    break
                if p.max_session_s is not None and now - self.t0 > p.max_session_s and stopped:
                    outcome = "ended: time limit"
                    break
                if p.max_session_s is not None and now - self.t0 > p.max_session_s + 120:
                    outcome = "ended: time limit (belt never reached standstill)"
                    break

                # 8. timing
                stats.work.add(perf() - started)
                stats.lateness.add(lateness)
                deadline += period
                now_after = clock.now()
                if now_after > deadline:
                    stats.overruns += 1
                    if now_after > deadline + period:
                        missed = int((now_after - deadline) / period)
                        stats.skipped_deadlines += missed
                        deadline += missed * period
        except BaseException as exc:
            # A bug or a cancellation: leave the drive commanded off (bounded), log, re-raise.
            # The drive's own comm-loss watchdog stops the belt even if this write fails.
            self._log(clock.now(), "controller_error", error=repr(exc))
            await self._safe_final_write(
                out.belt_direction if out is not None else Direction.FORWARD
            )
            raise

        assert out is not None
        if unverified and not out.at_standstill:
            outcome += (
                "; standstill NOT verified: the drive stopped answering (its own "
                "comm-loss watchdog stops the belt)"
            )
            self._log(clock.now(), "warning", text=outcome)
        await self._safe_final_write(out.belt_direction)
        end = clock.now()
        summary = SessionSummary(
            profile=p.plan.profile.name,
            patient=p.patient_name,
            outcome=outcome,
            duration_s=end - self.t0,
            totals=self.totals.totals,
            stops=self.totals.stops,
            cycles=stats.figures(),
            final_mode=out.mode,
            final_reasons=out.reasons,
            wall_seconds=time.perf_counter() - wall_start,
            virtual=clock.is_virtual,
            warnings=record.warnings() if record is not None else (),
        )
        self._log(end, "session_end", outcome=outcome, summary=summary.lines())
        if record is not None:
            record.end(summary)
        return summary

    async def _drive_fault_reset(
        self,
        commands: list[Command],
        out: SafetyOutputs,
        drive: DriveStatus | None,
        now: float,
        guard: float | None,
    ) -> list[Command]:
        """One reset press clears a tripped drive, then the latch.

        The first reset while the interlock is faulted at standstill and the drive
        reports a fault code pulses the drive's fault reset (once, never retried on
        the stop path) and is held until the drive reads clear or the wait ends; then
        the interlock judges it with fresh readings, as always.
        """
        held = self._held_reset
        if held is not None and (
            (drive is not None and drive.fault_code == 0) or now >= self._held_until
        ):
            self._held_reset = None
            commands = [held, *commands]
        for i, cmd in enumerate(commands):
            if (
                cmd.kind is CommandKind.RESET
                and self._held_reset is None
                and cmd is not held
                and out.mode is Mode.FAULTED
                and out.at_standstill
                and drive is not None
                and drive.fault_code != 0
            ):
                try:
                    await self._bounded(self.p.drive.reset_fault(), guard)
                    self._log(now, "drive_fault_reset", source=cmd.source, code=drive.fault_code)
                except (DriveError, TimeoutError) as exc:
                    self._log(
                        now, "write_failed", source=self.p.drive.name, reason=f"fault reset: {exc}"
                    )
                    break  # the interlock refuses the reset with its reasons
                self._held_reset = cmd
                self._held_until = now + self.p.machine.watchdog.fault_reset_wait_s
                return commands[:i] + commands[i + 1 :]
        return commands

    def _hr_zone_step(
        self,
        commands: list[Command],
        out: SafetyOutputs | None,
        seq: SequencerState,
        policy: SegmentPolicy | None,
        hr_bpm: float | None,
        now: float,
    ) -> None:
        """The heart-rate zone's speed step for this cycle, appended after everyone else's
        commands. A speed someone else asks for this cycle wins: no step this cycle, and
        the controller goes on from that speed once the interlock has accepted it."""
        if any(c.kind is CommandKind.SET_SPEED and c.source != HR_TARGET_SOURCE for c in commands):
            return
        zones = self.hr_zones
        zone = zones[seq.index] if not seq.ended and seq.index < len(zones) else None
        adopted: float | None = None
        if out is not None:
            for d in out.decisions:
                c = d.command
                if d.accepted and c.kind is CommandKind.SET_SPEED and c.source != HR_TARGET_SOURCE:
                    adopted = c.speed_kmh
        running = (
            out is not None
            and policy is not None
            and out.mode is Mode.RUNNING
            and out.direction is policy.direction
        )
        cap = out.speed_cap_kmh if out is not None else 0.0
        step: HrTargetStep = step_hr_target(
            self.hr_target, zone, seq.index, running, hr_bpm, cap, adopted, now
        )
        self.hr_target = step.state
        cmd = step.command
        if cmd is None or zone is None:
            return
        commands.append(cmd)
        if cmd.kind is CommandKind.STOP:
            self._log(
                now,
                "hr_zone_stop",
                bpm=hr_bpm,
                zone_bpm=[zone.low_bpm, zone.high_bpm],
                above_s=zone.above_zone_stop_s,
            )
        else:
            self._log(now, "hr_step", bpm=hr_bpm, from_kmh=step.from_kmh, to_kmh=cmd.speed_kmh)

    def _bounded(self, coro: Any, guard: float | None) -> Any:
        """The backend's own awaitable when no guard applies (the virtual clock), else one
        bounded by the guard: no extra coroutine frame on the fast path."""
        if guard is None:
            return coro
        return self._guarded(coro, guard)

    async def _guarded(self, coro: Any, guard: float) -> Any:
        async with asyncio.timeout(guard):
            return await coro

    async def _safe_final_write(self, direction: Direction) -> None:
        """Leave the drive with run off and a zero reference, and the incline halted."""
        guard = None if self.p.clock.is_virtual else self.period_s
        with contextlib.suppress(DriveError, TimeoutError):
            await self._bounded(
                self.p.drive.write_command(DriveCommand(False, direction, 0.0, False)), guard
            )
        if self.p.incline is not None:
            with contextlib.suppress(InclineError, TimeoutError):
                await self._bounded(self.p.incline.write(InclineCommand.halt()), guard)

    def _incline_fault_stop(
        self, commands: list[Command], out: SafetyOutputs | None, now: float
    ) -> list[Command]:
        """A latched incline fault stops the belt (controlled: a pause the operator resumes
        after resetting it) and refuses starts until the reset."""
        kept: list[Command] = []
        for c in commands:
            if c.kind is CommandKind.START:
                self._log(
                    now,
                    "command",
                    command=c.kind.value,
                    source=c.source,
                    accepted=False,
                    detail="incline fault latched: reset first",
                )
            else:
                kept.append(c)
        if out is not None and out.mode is Mode.RUNNING:
            kept.append(Command(CommandKind.PAUSE, INCLINE_FAULT_SOURCE))
        return kept

    def _record_incline(self, now: float, inc: InclineOutputs) -> None:
        for fault in inc.new_faults:
            self._log(
                now,
                "incline_fault",
                reason=fault.value,
                detail=inc.detail,
                actual_pct=inc.actual_pct,
                belt_stops=self.belt_stop_on_incline_fault,
            )
        for what, accepted, detail in inc.decisions:
            self._log(
                now, "command", command=what, source="operator", accepted=accepted, detail=detail
            )

    def _record(self, now: float, out: SafetyOutputs, change: Any) -> None:
        for d in out.decisions:
            c = d.command
            if c.kind is CommandKind.START and d.accepted and not self._watchdog_present:
                self._log(now, "warning", text=NO_WATCHDOG_WARNING)
            fields: dict[str, Any] = {
                "command": c.kind.value,
                "source": c.source,
                "accepted": d.accepted,
                "detail": d.detail,
            }
            if c.speed_kmh is not None:
                fields["speed_kmh"] = c.speed_kmh
            if c.direction is not None:
                fields["direction"] = c.direction.value
            self._log(now, "command", **fields)
        for tr in out.transitions:
            self.totals.transition(tr)
            self._log(
                now,
                "transition",
                old=tr.old.value,
                new=tr.new.value,
                reasons=[r.value for r in tr.reasons],
                detail=tr.detail,
            )
        if change is not None:
            seg = change.segment
            if seg is None:
                self._log(now, "segment", index=None, label="end of profile")
            else:
                self._log(
                    now,
                    "segment",
                    of=len(self.p.plan.segments),
                    **segment_fields(seg, self.incline_rules is not None),
                )
