"""Scenario files: timed faults injected into the simulated world, and timed operator commands."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from pydantic import Field, model_validator

from treadctl.config.loader import load_model
from treadctl.config.machine import Strict
from treadctl.safety.types import Command, CommandKind, Direction
from treadctl.sim.incline import InclineSim
from treadctl.sim.operator import ScriptedOperator, TimedCommand
from treadctl.sim.world import BeltSim


class Action(StrEnum):
    OPEN_ESTOP = "open_estop"
    CLOSE_ESTOP = "close_estop"
    PULL_KEY = "pull_key"
    INSERT_KEY = "insert_key"
    RELEASE_RAILS = "release_rails"
    HOLD_RAILS = "hold_rails"
    STICK_RAILS = "stick_rails"  # sensors read "held" whatever the hands do
    DRIVE_TRIP = "drive_trip"
    DRIVE_CLEAR_FAULT = "drive_clear_fault"
    DRIVE_SILENT = "drive_silent"
    DRIVE_ANSWER = "drive_answer"
    DRIVE_IGNORE_COMMANDS = "drive_ignore_commands"
    DRIVE_RUNAWAY = "drive_runaway"
    INPUTS_SILENT = "inputs_silent"
    INPUTS_ANSWER = "inputs_answer"
    HR_SET = "hr_set"
    HR_LOSE = "hr_lose"
    # The bus itself (treadctl sim only: the built-in simulated drive has no wire): every
    # answer garbled the `mode` way (sim.server.GARBAGE_MODES), "off" for good answers.
    GARBAGE = "garbage"
    # The incline lift (sim.incline), when the machine has the simulator's actuator.
    INCLINE_STALL = "incline_stall"  # relays on, nothing moves
    INCLINE_UNSTALL = "incline_unstall"
    INCLINE_SENSOR_STUCK = "incline_sensor_stuck"  # the reading freezes
    INCLINE_SENSOR_FREE = "incline_sensor_free"
    INCLINE_NOISE = "incline_noise"  # value: the reading's jitter in %
    INCLINE_RUNAWAY = "incline_runaway"  # value: travel by itself in %/s
    INCLINE_SILENT = "incline_silent"  # the sensor stops answering
    INCLINE_ANSWER = "incline_answer"


class FaultEvent(Strict):
    at_s: float = Field(ge=0)
    action: Action = Field(strict=False)
    code: int = Field(default=0, ge=0, le=0xFFFF)
    value: float = 0.0
    mode: str = Field(default="", max_length=32)

    @model_validator(mode="after")
    def _needs(self) -> FaultEvent:
        if self.action is Action.DRIVE_TRIP and self.code == 0:
            raise ValueError("drive_trip needs a non-zero code")
        if self.action is Action.GARBAGE and not self.mode:
            raise ValueError('garbage needs a mode ("off" to end it)')
        return self


class TimedOperatorCommand(Strict):
    at_s: float = Field(ge=0)
    command: CommandKind = Field(strict=False)
    speed_kmh: float | None = None
    direction: Direction | None = Field(default=None, strict=False)


class OperatorSettings(Strict):
    confirm_delay_s: float = Field(default=2.0, ge=0)
    turnaround_s: float = Field(default=5.0, ge=0)
    reset_after_fault: bool = False


class Scenario(Strict):
    name: str = "scenario"
    description: str = ""
    operator: OperatorSettings = OperatorSettings()
    event: list[FaultEvent] = Field(default_factory=list)
    command: list[TimedOperatorCommand] = Field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Scenario:
        return load_model(path, cls)

    def operator_for(self) -> ScriptedOperator:
        timed = [
            TimedCommand(
                c.at_s,
                Command(c.command, "scenario", speed_kmh=c.speed_kmh, direction=c.direction),
            )
            for c in sorted(self.command, key=lambda c: c.at_s)
        ]
        o = self.operator
        return ScriptedOperator(
            confirm_delay_s=o.confirm_delay_s,
            turnaround_s=o.turnaround_s,
            reset_after_fault=o.reset_after_fault,
            timed=timed,
        )


class Injector:
    """Applies scenario events to the simulated world when their time comes."""

    def __init__(
        self,
        scenario: Scenario,
        belt: BeltSim,
        log: Callable[[FaultEvent], None],
        lift: InclineSim | None = None,
    ):
        self.pending = sorted(scenario.event, key=lambda e: e.at_s)
        self.belt = belt
        self.lift = lift
        self.log = log
        self.t0: float | None = None
        self._stuck = False

    def poll(self, now: float) -> None:
        if self.t0 is None:
            self.t0 = now
        while self.pending and self.pending[0].at_s <= now - self.t0:
            event = self.pending.pop(0)
            self.apply(event)
            self.log(event)

    def apply(self, e: FaultEvent) -> None:
        b, panel = self.belt, self.belt.panel
        a = e.action
        if a is Action.OPEN_ESTOP:
            panel.estop_chain_ok = False
        elif a is Action.CLOSE_ESTOP:
            panel.estop_chain_ok = True
        elif a is Action.PULL_KEY:
            panel.key_present = False
        elif a is Action.INSERT_KEY:
            panel.key_present = True
        elif a is Action.RELEASE_RAILS:
            if not self._stuck:
                panel.rail_left = panel.rail_right = False
        elif a is Action.HOLD_RAILS:
            panel.rail_left = panel.rail_right = True
        elif a is Action.STICK_RAILS:
            self._stuck = True
            panel.rail_left = panel.rail_right = True
        elif a is Action.DRIVE_TRIP:
            b.trip(e.code)
        elif a is Action.DRIVE_CLEAR_FAULT:
            b.reset_fault()
        elif a is Action.DRIVE_SILENT:
            b.silent = True
        elif a is Action.DRIVE_ANSWER:
            b.silent = False
        elif a is Action.DRIVE_IGNORE_COMMANDS:
            b.ignore_commands = True
        elif a is Action.DRIVE_RUNAWAY:
            b.runaway_kmh_per_s = e.value
        elif a is Action.INPUTS_SILENT:
            panel.io_fails = True
        elif a is Action.INPUTS_ANSWER:
            panel.io_fails = False
        elif a is Action.HR_SET:
            panel.heart_rate_bpm = e.value
        elif a is Action.HR_LOSE:
            panel.heart_rate_bpm = None
        elif a.value.startswith("incline_") and self.lift is not None:
            self.lift.advance(max(self.lift.now_s, b.now_s))
            self.lift.apply(a.value, e.value)
        # Action.GARBAGE acts on the bus, which only the Modbus simulator has (SimServer).
