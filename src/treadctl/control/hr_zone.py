"""The heart-rate zone's rule in the cycle: a speed step, appended after everyone else's
commands (treadctl.control.hr_target has the bounded controller)."""

from __future__ import annotations

from treadctl.control.components import HeartRateComponent, Log
from treadctl.control.cycle import Cycle
from treadctl.control.hr_target import HR_TARGET_SOURCE, HrTargetState, step_hr_target
from treadctl.protocol.plan import HrZone
from treadctl.safety.types import Command, CommandKind, Mode


class HrZoneControl:
    """A CycleExtension for profiles with heart-rate zone segments."""

    def __init__(
        self, zones: tuple[HrZone | None, ...], heart_rate: HeartRateComponent | None, log: Log
    ) -> None:
        self.zones = zones
        self.heart_rate = heart_rate
        self.log = log
        self.state = HrTargetState()

    def before_safety(self, cycle: Cycle, commands: list[Command]) -> list[Command]:
        """A speed someone else asks for this cycle wins: no step this cycle, and the
        controller goes on from that speed once the interlock has accepted it."""
        if any(c.kind is CommandKind.SET_SPEED and c.source != HR_TARGET_SOURCE for c in commands):
            return commands
        seq, out, now = cycle.seq, cycle.out, cycle.now
        zones = self.zones
        zone = zones[seq.index] if not seq.ended and seq.index < len(zones) else None
        adopted: float | None = None
        if out is not None:
            for d in out.decisions:
                c = d.command
                if d.accepted and c.kind is CommandKind.SET_SPEED and c.source != HR_TARGET_SOURCE:
                    adopted = c.speed_kmh
        policy = cycle.policy
        running = (
            out is not None
            and policy is not None
            and out.mode is Mode.RUNNING
            and out.direction is policy.direction
        )
        cap = out.speed_cap_kmh if out is not None else 0.0
        bpm = self.heart_rate.value if self.heart_rate is not None else None
        step = step_hr_target(self.state, zone, seq.index, running, bpm, cap, adopted, now)
        self.state = step.state
        cmd = step.command
        if cmd is None or zone is None:
            return commands
        commands.append(cmd)
        if cmd.kind is CommandKind.STOP:
            self.log(
                now,
                "hr_zone_stop",
                bpm=bpm,
                zone_bpm=[zone.low_bpm, zone.high_bpm],
                above_s=zone.above_zone_stop_s,
            )
        else:
            self.log(now, "hr_step", bpm=bpm, from_kmh=step.from_kmh, to_kmh=cmd.speed_kmh)
        return commands

    def after_safety(self, cycle: Cycle) -> None:
        del cycle  # the step is taken before the interlock judges it

    def record(self, cycle: Cycle) -> tuple[str, ...]:
        del cycle  # logged as it steps
        return ()
