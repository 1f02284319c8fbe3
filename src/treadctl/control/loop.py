"""The cycle loop: read every component, step safety, step control, write every component.

One task, one fixed order, absolute deadlines (`next += period`) as in ros2_control. Each
peripheral is a component (treadctl.control.components): the loop reads them all, steps
the interlock, the sequencer and each peripheral's own rule (treadctl.control.cycle's
extensions), then writes them all, and records. A failed read is passed on as "no
reading" (the interlock holds speed and trips when the watchdog age passes); it is never
replaced by the last good value. Writes always happen, faulted or not, so the drive keeps
receiving a fresh stop command and its own comm-loss watchdog stays fed only while this
loop is alive.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from typing import Any

from treadctl.config.profile import HARNESS_INCLINE_PCT
from treadctl.control.components import (
    Component,
    ComponentError,
    DriveComponent,
    HeartRateComponent,
    InclineComponent,
    InputsComponent,
    bounded,
)
from treadctl.control.cycle import Cycle, CycleExtension
from treadctl.control.hr_zone import HrZoneControl
from treadctl.control.incline_control import (
    INCLINE_FAULT_SOURCE,
    InclineControl,
    incline_recorder,
)
from treadctl.control.intake import CommandIntake
from treadctl.control.parts import (
    NO_INCLINE_ACTUATOR_WARNING,
    NO_WATCHDOG_WARNING,
    ConnectError,
    CycleRecorder,
    LoopParts,
    LoopSnapshot,
    log_cycle_events,
    segment_fields,
)
from treadctl.control.setpoint import Ramp, segment_ramps, step_setpoint
from treadctl.control.stats import CycleStats
from treadctl.control.summary import SessionSummary, SessionTotals
from treadctl.drives.base import DriveCommand, DriveError
from treadctl.incline.base import InclineCommand, InclineError
from treadctl.protocol.sequencer import Sequencer, SequencerState
from treadctl.safety.incline import InclineConfig, InclineRules
from treadctl.safety.interlock import Interlock
from treadctl.safety.types import (
    Command,
    CommandKind,
    Decel,
    Direction,
    DriveStatus,
    Mode,
    Reason,
    SafetyInputs,
    SafetyOutputs,
)

# Enum members as module constants: on Python 3.11 each `Mode.RUNNING` in a function is a
# slow lookup (EnumType's __getattr__ hook), and the cycle runs tens of thousands of times
# a second in virtual time (as treadctl.safety.interlock does).
FAULTED, STOPPED, RUNNING = Mode.FAULTED, Mode.STOPPED, Mode.RUNNING
QUICK = Decel.QUICK
RECONNECT_MODES = (FAULTED, STOPPED)  # a lost drive link may reconnect in these modes
POWER_ON_ONLY = (Reason.POWER_ON,)

__all__ = [
    "INCLINE_FAULT_SOURCE",
    "NO_INCLINE_ACTUATOR_WARNING",
    "NO_WATCHDOG_WARNING",
    "ConnectError",
    "ControlLoop",
    "CycleRecorder",
    "LoopParts",
    "LoopSnapshot",
]


class ControlLoop:
    """One session's cycles on the parts treadctl.app builds."""

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
        self.segment_ramps = segment_ramps(parts.plan.segments)
        # the clients' commands (from any thread), taken at a bounded number per cycle
        self.intake = CommandIntake(m.loop.max_commands_per_cycle, m.loop.max_queued_commands)
        self.stats = CycleStats()
        self.totals = SessionTotals(m.limits.standstill_kmh)
        # the latest cycle's snapshot fields, and the snapshot last built (the `snapshot`)
        self._snapshot_fields: tuple[Any, ...] = ()
        self._snapshot: tuple[tuple[Any, ...], LoopSnapshot] = ((), LoopSnapshot())
        self._quit = False
        self._quit_requested = False
        self.t0 = 0.0
        self._watchdog_present = True
        self._held_reset: Command | None = None
        self._held_until = 0.0
        self._harness_confirmed = False
        self._unreachable_exit_s = math.inf
        self.operator_seen_at: float | None = None
        # Called with each cycle's snapshot; each must return at once and never block.
        self.listeners: list[Callable[[LoopSnapshot], None]] = []
        self._build_components(parts)

    def _bind(self) -> None:
        """Components for the parts as they are now (a caller may replace a part between
        building the loop and running it)."""
        p = self.p
        hr, lift = self.heart_rate, self.lift
        if (
            self.drive.drive is not p.drive
            or self.inputs.source is not p.inputs
            or (hr.source if hr is not None else None) is not p.heart_rate
            or (lift.actuator if lift is not None else None) is not p.incline
        ):
            self._build_components(p)

    def _build_components(self, parts: LoopParts) -> None:
        """Every peripheral as a component, in reading (and writing) order, and each
        peripheral's own rule as an extension of the cycle."""
        log = self._log
        self.inputs = InputsComponent(parts.inputs, log)
        self.drive = DriveComponent(parts.drive, log)
        self.heart_rate: HeartRateComponent | None = None
        if parts.heart_rate is not None:
            virtual = parts.clock.is_virtual
            self.heart_rate = HeartRateComponent(parts.heart_rate, log, virtual=virtual)
        self.lift = InclineComponent(parts.incline, log) if parts.incline is not None else None
        self.components: list[Component[Any, Any]] = [
            c for c in (self.inputs, self.drive, self.heart_rate, self.lift) if c is not None
        ]
        self.extensions: list[CycleExtension] = []
        zones = tuple(seg.hr_zone for seg in parts.plan.segments)
        if any(z is not None for z in zones):  # else no per-cycle cost
            self.extensions.append(HrZoneControl(zones, self.heart_rate, log))
        self.incline_control: InclineControl | None = None
        rng = parts.machine.incline
        if self.lift is not None and rng is not None:
            self.incline_control = InclineControl(
                InclineRules(InclineConfig.from_config(rng)),
                self.lift,
                self.sequencer,
                log,
                belt_stop_on_fault=rng.belt_stop_on_fault,
                harness_listed=self._harness_listed,
                recorder=incline_recorder(parts.recorder),
            )
            self.incline_control.harness_confirmed = self._harness_confirmed
            self.extensions.append(self.incline_control)

    @property
    def incline_rules(self) -> InclineRules | None:
        ctl = self.incline_control
        return ctl.rules if ctl is not None else None

    @property
    def harness_confirmed(self) -> bool:
        ctl = self.incline_control
        return ctl.harness_confirmed if ctl is not None else self._harness_confirmed

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
        """Close every component's link (after the final safe write); a background heart-rate
        source first (bounded: a stuck radio never holds the close)."""
        self._bind()
        first = [c for c in (self.heart_rate, self.drive, self.inputs) if c is not None]
        for component in [*first, *(c for c in self.components if c not in first)]:
            await component.close()

    def confirm_harness(self) -> None:
        """The operator confirmed the chest harness for this session: the incline may pass
        the harness grade. Only a new session forgets it."""
        self._harness_confirmed = True
        if self.incline_control is not None:
            self.incline_control.harness_confirmed = True

    def incline_home(self) -> None:
        """Return the incline to 0 % (only where the machine file allows it, only with the
        belt stopped and the incline healthy); handled at the next cycle."""
        if self.incline_control is not None:
            self.incline_control.home_requested = True

    def _harness_listed(self, index: int) -> bool:
        segs = self.p.plan.segments
        seg = segs[index] if 0 <= index < len(segs) else None
        return self.p.plan.requires_harness or (
            seg is not None and seg.incline_pct >= HARNESS_INCLINE_PCT
        )

    def submit(self, command: Command) -> bool:
        """Queue an operator command for the next cycles, in order (a stop in a lane of its
        own, never behind others). False: refused at once, too many are waiting; for a
        stop that means a stop is already waiting."""
        return self.intake.submit(command)

    def request_quit(self, source: str = "quit") -> None:
        """Leave once the belt is stopped; a running belt is stopped first.

        May be called between the awaits of a cycle: the quit takes effect when its stop
        command is drained, so the interlock and the sequencer see the stop first.
        """
        self.intake.submit(Command(CommandKind.STOP, source))  # refused: a stop is waiting
        self._quit_requested = True

    def log_event(self, kind: str, **fields: Any) -> None:
        """Write an event stamped now (for the socket server and other watchers)."""
        self._log(self.p.clock.now(), kind, **fields)

    def _log(self, now: float, kind: str, **fields: Any) -> None:
        self.p.events.write(now - self.t0, self.p.clock.wall_time(), kind, **fields)

    async def connect(self) -> None:
        """Open every component; the drive's comm-loss watchdog is armed and read back."""
        self._bind()
        p = self.p
        wd = p.machine.watchdog.drive_comm_loss_s
        try:
            await self.inputs.open()
            setting = await self.drive.connect(wd)
            if self.lift is not None:
                await self.lift.open()
        except ComponentError as exc:
            raise ConnectError(str(exc)) from exc
        self._watchdog_present = setting.present
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
        """The session: one cycle per period until it ends at standstill."""
        clock = self.p.clock
        wall_start = time.perf_counter()
        c = await self._begin()
        perf = time.perf_counter
        components = self.components
        try:
            while True:
                await clock.sleep_until(c.deadline)
                c.now = now = clock.now()
                started = perf()
                lateness = now - c.deadline
                for component in components:  # 1. read every component
                    await component.read(now)
                commands = await self._commands(c)  # 2. the cycle's commands
                self._step_safety(c, commands)  # 3. the interlock
                self._step_control(c)  # 4. sequencer, each rule, setpoint
                for component in components:  # 5. write every component
                    await component.write(now)
                self._record_cycle(c)  # 6. record and publish
                if self._session_over(c):
                    break
                self._keep_time(c, started, lateness)  # 7. the next deadline
        except BaseException as exc:
            # A bug or a cancellation: leave the drive commanded off (bounded), log, re-raise.
            # The drive's own comm-loss watchdog stops the belt even if this write fails.
            self._log(clock.now(), "controller_error", error=repr(exc))
            out = c.out
            await self._safe_final_write(
                out.belt_direction if out is not None else Direction.FORWARD
            )
            raise
        return await self._finish(c, wall_start)

    async def _begin(self) -> Cycle:
        """Connect, log the session's start; the first cycle's state."""
        p = self.p
        clock = p.clock
        self.t0 = clock.now()
        self.totals.t0 = self.t0
        if p.recorder is not None:
            p.recorder.start(self.t0, clock.wall_time())
        await self.connect()
        if self.heart_rate is not None:
            await self.heart_rate.open()  # a background source starts its own task
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
        if rng is not None and rng.actuator is not None and self.incline_control is None:
            self._log(self.t0, "warning", text=NO_INCLINE_ACTUATOR_WARNING)
        first = self.sequencer.segment(SequencerState())
        if first is not None:
            self._log(
                self.t0,
                "segment",
                of=len(p.plan.segments),
                **segment_fields(first, self.incline_control is not None),
            )
        wd = p.machine.watchdog
        self._unreachable_exit_s = wd.drive_comm_loss_s + wd.unreachable_exit_s
        # Time starts after connecting: a slow connect is neither an overrun nor a stale read.
        first_cycle = clock.now()
        guard = None if clock.is_virtual else self.period_s * 0.8
        for component in self.components:
            component.ok_at = first_cycle
            component.guard = guard
        return Cycle(deadline=first_cycle)

    async def _commands(self, c: Cycle) -> list[Command]:
        """Queued operator commands first, then the profile's own, the scripted operator's,
        and each rule's."""
        p = self.p
        out = c.out
        quit_seen = self._quit_requested
        commands, stops = self.intake.take()
        if quit_seen:
            self._quit = True
        commands.extend(c.pending)
        c.policy = policy = self.sequencer.policy(c.seq)
        if p.operator is not None and out is not None:
            commands.extend(p.operator.poll(out, policy, c.seq.ended, c.now))
        commands.extend(stops)  # judged after the others: nothing in this cycle overrides
        if out is not None and (commands or self._held_reset is not None):
            commands = await self._drive_fault_reset(commands, out, self.drive.value, c.now)
        for extension in self.extensions:
            commands = extension.before_safety(c, commands)
        return commands

    def _step_safety(self, c: Cycle, commands: list[Command]) -> None:
        now = c.now
        c.operator_age_s = self.operator_age_s(now) if self.p.supervised else None
        hr, inputs, drive = self.heart_rate, self.inputs, self.drive
        c.interlock, c.out = self.interlock.step(
            c.interlock,
            SafetyInputs(  # positional: keywords cost a dict per cycle; in field order
                inputs.value,  # io
                now - inputs.ok_at,  # io_age_s
                drive.value,  # drive
                now - drive.ok_at,  # drive_age_s
                c.sp.speed_kmh,  # commanded_kmh
                c.policy,  # segment
                hr.value if hr is not None else None,  # heart_rate_bpm
                hr.sample_age_s if hr is not None else None,  # heart_rate_age_s
                tuple(commands),  # commands
                c.operator_age_s,  # operator_age_s
            ),
            now,
        )
        if self.intake.merged:
            c.out = self.intake.answer(c.out)

    def _step_control(self, c: Cycle) -> None:
        """The sequencer, each rule, then the setpoint. With the drive disabled nothing
        follows the setpoint: it takes the quick path to zero, so standstill (belt and
        command at zero) is verified as soon as the belt is at rest, and no later start
        can jump."""
        out = c.out
        assert out is not None
        c.started_index = c.seq.index
        c.seq, c.pending, c.change = self.sequencer.step(c.seq, out, c.now)
        for extension in self.extensions:
            extension.after_safety(c)
        quick = out.decel is QUICK
        c.sp = step_setpoint(
            c.sp,
            out.target_kmh,
            self._ramp(c.seq.index, out.direction),
            self.period_s,
            self.quick_decel if quick or not out.drive_enable else None,
        )
        # a lost link may reconnect only while the belt is not commanded to move
        self.p.drive.allow_reconnect(out.mode in RECONNECT_MODES)
        drive = self.drive
        last, speed = drive.command, c.sp.speed_kmh
        if (  # an equal command is the same command (immutable): kept, not built again
            last is None
            or last.run is not out.drive_enable
            or last.direction is not out.belt_direction
            or last.speed_kmh != speed
            or last.quick_stop is not quick
        ):
            drive.command = DriveCommand(out.drive_enable, out.belt_direction, speed, quick)

    def _record_cycle(self, c: Cycle) -> None:
        """Totals, the session record, events, the snapshot for watchers."""
        now, out = c.now, c.out
        assert out is not None
        drive = self.drive.value
        hr = self.heart_rate
        hr_bpm = hr.value if hr is not None else None
        self.totals.cycle(now, drive, c.sp.speed_kmh, out.direction)
        record = self.p.recorder
        if record is not None:
            record.cycle(now, out, c.sp.speed_kmh, drive, self.inputs.value, hr_bpm, c.seq.index)
        if out.transitions or out.decisions or c.change is not None:
            for tr in out.transitions:
                self.totals.transition(tr)
            log_cycle_events(
                self._log,
                now,
                out,
                c.change,
                warn_no_watchdog=not self._watchdog_present,
                segments=len(self.p.plan.segments),
                incline_driven=self.incline_control is not None,
            )
        warnings = out.warnings
        for extension in self.extensions:
            more = extension.record(c)
            if more:
                warnings = warnings + more
        if warnings != c.warnings:
            c.warnings = warnings
            self._log(now, "warnings", warnings=list(warnings))
        ctl = self.incline_control
        fields = (  # the snapshot's, in its field order
            now,
            out,
            c.sp.speed_kmh,
            drive,
            c.seq.index,
            c.seq.elapsed_s,
            self.inputs.value,
            now - self.inputs.ok_at,
            now - self.drive.ok_at,
            hr_bpm,
            hr.sample_age_s if hr is not None else None,
            c.operator_age_s,
            c.seq,
            c.interlock,
            ctl.out if ctl is not None else None,
        )
        if self.listeners:
            self._publish(now, fields)
        else:  # the snapshot is built when read: nobody watches a simulation
            self._snapshot_fields = fields
        if self.p.on_cycle is not None:
            self.p.on_cycle(now)

    def _publish(self, now: float, fields: tuple[Any, ...]) -> None:
        """The cycle's snapshot to each listener."""
        snap = LoopSnapshot(*fields)  # positional: kwargs cost per cycle
        self._snapshot = (fields, snap)
        self._snapshot_fields = fields
        for listener in tuple(self.listeners):
            try:
                listener(snap)
            except Exception as exc:  # a watcher's bug never stops the belt's loop
                self.listeners.remove(listener)
                self._log(now, "warning", text=f"status listener removed: {exc!r}")

    @property
    def snapshot(self) -> LoopSnapshot:
        """The latest cycle, for clients that watch (dashboard, status, MQTT bridge).

        Built from the cycle's values at the first read after the cycle (each cycle keeps
        them as one tuple, replaced as one reference), so a reader in another thread sees
        one whole cycle, never half of two; a session nobody watches builds none.
        """
        fields = self._snapshot_fields
        built = self._snapshot  # (the fields it was built from, the snapshot)
        if built[0] is not fields:
            built = (fields, LoopSnapshot(*fields))
            self._snapshot = built
        return built[1]

    def _session_over(self, c: Cycle) -> bool:
        """Only at verified standstill, or faulted with the drive unreachable for longer
        than its own watchdog needs to stop the belt."""
        out, now, p = c.out, c.now, self.p
        assert out is not None
        c.unverified = unverified = (
            out.mode is FAULTED and now - self.drive.ok_at > self._unreachable_exit_s
        )
        stopped = out.mode is not RUNNING and (out.at_standstill or unverified)
        limit = p.max_session_s
        if stopped and (c.seq.ended or self._quit):
            c.outcome = c.seq.outcome or "quit by operator"
        elif stopped and p.end_on_fault and out.mode is FAULTED and out.reasons != POWER_ON_ONLY:
            c.outcome = "interrupted by latched fault"
        elif limit is not None and now - self.t0 > limit and stopped:
            c.outcome = "ended: time limit"
        elif limit is not None and now - self.t0 > limit + 120:
            c.outcome = "ended: time limit (belt never reached standstill)"
        else:
            return False
        return True

    def _keep_time(self, c: Cycle, started: float, lateness: float) -> None:
        """Absolute deadlines (`next += period`); overruns and skipped deadlines counted."""
        stats = self.stats
        stats.work.add(time.perf_counter() - started)
        stats.lateness.add(lateness)
        period = self.period_s
        c.deadline += period
        now_after = self.p.clock.now()
        if now_after > c.deadline:
            stats.overruns += 1
            if now_after > c.deadline + period:
                missed = int((now_after - c.deadline) / period)
                stats.skipped_deadlines += missed
                c.deadline += missed * period

    async def _finish(self, c: Cycle, wall_start: float) -> SessionSummary:
        """The final safe write, the summary, the record's end."""
        p = self.p
        clock = p.clock
        out = c.out
        assert out is not None
        outcome = c.outcome
        if c.unverified and not out.at_standstill:
            outcome += (
                "; standstill NOT verified: the drive stopped answering (its own "
                "comm-loss watchdog stops the belt)"
            )
            self._log(clock.now(), "warning", text=outcome)
        await self._safe_final_write(out.belt_direction)
        end = clock.now()
        record = p.recorder
        summary = SessionSummary(
            profile=p.plan.profile.name,
            patient=p.patient_name,
            outcome=outcome,
            duration_s=end - self.t0,
            totals=self.totals.totals,
            stops=self.totals.stops,
            cycles=self.stats.figures(),
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
                    await self.drive.reset_fault()
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

    async def _safe_final_write(self, direction: Direction) -> None:
        """Leave the drive with run off and a zero reference, and the incline halted."""
        guard = None if self.p.clock.is_virtual else self.period_s
        with contextlib.suppress(DriveError, TimeoutError):
            await bounded(
                self.p.drive.write_command(DriveCommand(False, direction, 0.0, False)), guard
            )
        if self.p.incline is not None:
            with contextlib.suppress(InclineError, TimeoutError):
                await bounded(self.p.incline.write(InclineCommand.halt()), guard)
