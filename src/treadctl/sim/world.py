"""The simulated world outside the controller: the hardware safety chain, the person, the belt.

The e-stop chain and the safety key cut drive power here as they do in
hardware (STO): the simulated belt coasts to rest whatever the software says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from treadctl.config.machine import SimBelt
from treadctl.safety.types import Direction

COMM_LOSS_FAULT_CODE = 54  # the simulated drive's "communication time-out" trip
SUBSTEP_S = 0.02


@dataclass
class Panel:
    """Hardware inputs: what the safety I/O module sees."""

    estop_chain_ok: bool = True
    key_present: bool = True
    rail_left: bool = True
    rail_right: bool = True
    io_fails: bool = False  # the input module stops answering
    heart_rate_bpm: float | None = None


@dataclass
class BeltSim:
    """A drive with its own ramp and comm-loss watchdog, and a belt with inertia and a walker."""

    belt: SimBelt
    panel: Panel = field(default_factory=Panel)
    now_s: float = 0.0
    speed_kmh: float = 0.0  # belt, magnitude
    direction: Direction = Direction.FORWARD
    output_kmh: float = 0.0  # drive's ramped output, magnitude
    run: bool = False
    quick_stop: bool = False
    reference_kmh: float = 0.0
    commanded_direction: Direction = Direction.FORWARD
    fault_code: int = 0
    watchdog_s: float = 0.0  # 0: off
    last_command_s: float | None = None
    silent: bool = False  # stops answering on the bus
    ignore_commands: bool = False  # accepts writes but does not act on them
    runaway_kmh_per_s: float = 0.0  # belt driven faster than asked (a broken encoder, a slope)
    runaway_extra_kmh: float = 0.0
    commands_seen: int = 0

    @property
    def powered(self) -> bool:
        return self.panel.estop_chain_ok and self.panel.key_present

    @property
    def ready(self) -> bool:
        return self.powered and self.fault_code == 0

    def command(self, run: bool, direction: Direction, speed_kmh: float, quick: bool) -> None:
        self.commands_seen += 1
        self.last_command_s = self.now_s
        if self.ignore_commands:
            return
        self.run, self.commanded_direction = run, direction
        self.reference_kmh, self.quick_stop = max(0.0, speed_kmh), quick

    def trip(self, code: int) -> None:
        self.fault_code = code

    def reset_fault(self) -> None:
        self.fault_code = 0

    def advance(self, now_s: float) -> None:
        while self.now_s < now_s:
            dt = min(SUBSTEP_S, now_s - self.now_s)
            self._substep(dt)
            self.now_s += dt

    def _substep(self, dt: float) -> None:
        cfg = self.belt
        if (
            self.watchdog_s > 0
            and self.last_command_s is not None
            and self.now_s - self.last_command_s > self.watchdog_s
            and self.fault_code == 0
        ):
            self.fault_code = COMM_LOSS_FAULT_CODE
        if not self.powered:
            self.output_kmh = 0.0
            self.speed_kmh = max(0.0, self.speed_kmh - cfg.coast_decel_kmh_per_s * dt)
            return
        ramp = cfg.drive_ramp_kmh_per_s * dt
        if self.fault_code or not self.run:
            goal = 0.0
            if self.quick_stop:
                ramp *= 2
        elif self.commanded_direction is not self.direction:
            goal = 0.0  # a real VFD ramps through zero to reverse
        else:
            goal = self.reference_kmh
        if self.output_kmh < goal:
            self.output_kmh = min(goal, self.output_kmh + ramp)
        else:
            self.output_kmh = max(goal, self.output_kmh - ramp)
        if self.output_kmh == 0.0 and self.speed_kmh < 0.01 and self.run:
            self.direction = self.commanded_direction
        if self.output_kmh > 0:
            self.runaway_extra_kmh += self.runaway_kmh_per_s * dt
        load = 0.0
        if self.output_kmh > 0.05:
            step_hz = cfg.cadence_steps_per_min / 60.0
            load = cfg.person_load_kmh * math.sin(2 * math.pi * step_hz * self.now_s)
        lag = min(1.0, dt / cfg.belt_time_constant_s)
        self.speed_kmh += (self.output_kmh + self.runaway_extra_kmh + load - self.speed_kmh) * lag
        if self.output_kmh == 0.0 and self.speed_kmh < 0.005:
            self.speed_kmh = 0.0
        self.speed_kmh = max(0.0, self.speed_kmh)
