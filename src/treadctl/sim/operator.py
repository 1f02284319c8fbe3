"""A scripted operator for the simulator and the demo: explicit, logged commands.

It is the same command path a person uses; it only saves typing. It resets the
power-on latch once, starts each moving segment after a turnaround pause (on a
turn-round machine, confirming the walker's turn half-way through it), and
never resets after a real fault unless told to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from treadctl.safety.types import (
    Command,
    CommandKind,
    Mode,
    Reason,
    SafetyOutputs,
    SegmentPolicy,
)


@dataclass(frozen=True, slots=True)
class TimedCommand:
    at_s: float
    command: Command


@dataclass
class ScriptedOperator:
    confirm_delay_s: float = 2.0
    turnaround_s: float = 5.0
    retry_s: float = 1.0
    reset_after_fault: bool = False
    timed: list[TimedCommand] = field(default_factory=list)
    source: str = "auto-operator"
    _t0: float | None = None
    _waiting_since: float | None = None
    _last_try: float = -1e9
    _paused: bool = False

    def poll(
        self, out: SafetyOutputs, policy: SegmentPolicy | None, session_ended: bool, now: float
    ) -> list[Command]:
        if self._t0 is None:
            self._t0 = now
        t = now - self._t0
        commands = []
        while self.timed and self.timed[0].at_s <= t:
            commands.append(self.timed.pop(0).command)
        for c in commands:
            if c.kind is CommandKind.PAUSE:
                self._paused = True
            elif c.kind is CommandKind.START:
                self._paused = False
        if session_ended:
            return commands
        if out.mode is Mode.FAULTED:
            self._waiting_since = None
            first = out.reasons == (Reason.POWER_ON,)
            if (
                (first or self.reset_after_fault)
                and t >= self.confirm_delay_s
                and now - self._last_try >= self.retry_s
            ):
                self._last_try = now
                commands.append(Command(CommandKind.RESET, self.source))
        elif out.mode is Mode.STOPPED and policy is not None and policy.moving:
            if self._paused or policy.direction is not out.direction:
                self._waiting_since = None
            else:
                if self._waiting_since is None:
                    self._waiting_since = now
                waited = now - self._waiting_since
                if out.turn_pending:
                    # a turn-round machine: the walker turns in the first half of the pause,
                    # and the (scripted) operator confirms it before any start
                    if waited >= self.turnaround_s / 2 and now - self._last_try >= self.retry_s:
                        self._last_try = now
                        commands.append(
                            Command(CommandKind.CONFIRM_TURN, self.source, direction=out.direction)
                        )
                elif waited >= self.turnaround_s and now - self._last_try >= self.retry_s:
                    self._last_try = now
                    commands.append(Command(CommandKind.START, self.source))
        else:
            self._waiting_since = None
        return commands
