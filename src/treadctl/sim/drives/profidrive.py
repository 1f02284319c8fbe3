"""The PROFIdrive state machine of the ABB drives profile and the SINAMICS V20.

Control word: bit 0 ON/OFF1, bit 1 OFF2 (0: coast), bit 2 OFF3 (0: emergency ramp),
bit 3 enable operation, bit 7 fault reset on the rising edge, bit 10 control by the
fieldbus (a word without it is ignored). Status word bits 0-6: ready to switch on,
ready to run, operation enabled, fault, OFF2 inactive, OFF3 inactive, switch-on
inhibited; bit 7 warning, bit 8 at setpoint, bit 9 remote.
"""

from __future__ import annotations

from abc import abstractmethod
from enum import StrEnum

from treadctl.sim.drives.base import DriveSim
from treadctl.sim.world import BeltSim

ON, NO_OFF2, NO_OFF3, ENABLE, RESET, REMOTE = 1, 1 << 1, 1 << 2, 1 << 3, 1 << 7, 1 << 10


class State(StrEnum):
    INHIBITED = "switch-on inhibited"
    READY = "ready to switch on"
    SWITCHED_ON = "ready to operate"
    OPERATION = "operation"
    FAULT = "fault"


class Profidrive(DriveSim):
    """A drive run by a PROFIdrive control word; subclasses give the setpoint."""

    def __init__(self, belt: BeltSim, kmh_per_hz: float) -> None:
        super().__init__(belt, kmh_per_hz)
        self.state = State.INHIBITED  # power-on
        self.word = 0
        self.off2 = self.off3 = False  # as the last control word asked

    @abstractmethod
    def setpoint(self) -> tuple[float, bool]:
        """(frequency in Hz, reverse) as the drive's reference asks now."""

    def drive_state(self) -> str:
        self._sync()
        return self.state.value if self.belt.powered else f"{self.state.value} (no power)"

    def tick(self) -> None:
        self._sync()

    def _sync(self) -> None:
        """Trips and power cuts move the state machine without a telegram."""
        tripped, cut = self._events()
        b = self.belt
        if b.fault_code:
            if self.state is not State.FAULT:
                self._enter(State.FAULT)
            return
        # a fault cleared (by a reset, or tripped and cleared between two looks), no power
        if self.state is State.FAULT or tripped or cut or not b.powered:
            self._enter(State.INHIBITED)

    def _enter(self, state: State) -> None:
        self.state = state
        b = self.belt
        if state is not State.OPERATION:
            b.drive(False, b.commanded_direction, 0.0, False)

    def control(self, word: int, now: float) -> None:
        """A control word telegram."""
        self._sync()
        if not word & REMOTE:
            return  # not for the fieldbus to say
        rising = word & ~self.word
        self.word = word
        self.off2, self.off3 = not word & NO_OFF2, not word & NO_OFF3
        b = self.belt
        if self.state is State.FAULT:
            if rising & RESET and b.powered:
                b.reset_fault()
                self._sync()
            return
        if not b.powered:
            self._enter(State.INHIBITED)
            return
        if self.off2 or self.off3:
            if self.off2:
                b.coast = True  # pulses off: whatever still turns coasts
            quick = self.off3 and not self.off2  # the emergency ramp, while OFF3 lasts
            self.state = State.INHIBITED
            self._command(False, False, 0.0, quick, now)
            return
        if self.state is State.INHIBITED:
            if not word & ON:
                self.state = State.READY
            self._command(False, False, 0.0, False, now)
            return
        if not word & ON:  # OFF1: ramp down, ready to switch on at once
            self.state = State.READY
            self._command(False, False, 0.0, False, now)
            return
        if not word & ENABLE:
            if self.state is State.OPERATION:
                b.coast = True  # pulses off: the motor coasts
            self.state = State.SWITCHED_ON
            self._command(False, False, 0.0, False, now)
            return
        self.state = State.OPERATION
        b.coast = False
        self.reference_changed(now)

    def reference_changed(self, now: float) -> None:
        """The setpoint was written: in operation the drive follows it."""
        if self.state is not State.OPERATION:
            self._command(False, False, 0.0, False, now)
            return
        hz, reverse = self.setpoint()
        self._command(True, reverse, hz, False, now)

    def status_bits(self) -> int:
        """Status bits 0-9 as the state shows them."""
        self._sync()
        b = self.belt
        s = self.state
        word = 1 << 9  # remote / control requested
        if b.powered and s in (State.READY, State.SWITCHED_ON, State.OPERATION):
            word |= 1  # ready to switch on
            if s in (State.SWITCHED_ON, State.OPERATION):
                word |= 1 << 1  # ready to run
            if s is State.OPERATION:
                word |= 1 << 2  # operation enabled
        if s is State.FAULT:
            word |= 1 << 3
        if not self.off2:
            word |= 1 << 4
        if not self.off3:
            word |= 1 << 5
        if not b.powered or s is State.INHIBITED:
            word |= 1 << 6
        if b.warning_code:
            word |= 1 << 7
        if s is State.OPERATION and abs(b.output_kmh - b.reference_kmh) < 0.01 and b.run:
            word |= 1 << 8  # at setpoint
        return word
