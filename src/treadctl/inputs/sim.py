"""Simulated safety inputs and heart rate, read from the simulated panel."""

from __future__ import annotations

from treadctl.inputs.base import HeartRateSource, InputError, SafetyInputSource
from treadctl.safety.types import SafetyIO
from treadctl.sim.world import Panel


class SimSafetyInputs(SafetyInputSource):
    name = "sim-inputs"

    def __init__(self, panel: Panel) -> None:
        self.panel = panel

    async def read(self) -> SafetyIO:
        p = self.panel
        if p.io_fails:
            raise InputError(self.name, "no answer (simulated input module silence)")
        return SafetyIO(p.estop_chain_ok, p.key_present, p.rail_left, p.rail_right)


class SimHeartRate(HeartRateSource):
    def __init__(self, panel: Panel) -> None:
        self.panel = panel

    async def read_bpm(self) -> float | None:
        return self.panel.heart_rate_bpm
