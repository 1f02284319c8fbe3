"""The machine file's incline actuator, built for a session (None: set by hand)."""

from __future__ import annotations

from treadctl.clock import Clock
from treadctl.config.machine import (
    MachineConfig,
    PositionInclineConfig,
    RelayInclineConfig,
    SimInclineConfig,
)
from treadctl.drives.link import ModbusLink
from treadctl.incline.base import InclineActuator
from treadctl.incline.modbus import PositionIncline, RelayIncline
from treadctl.incline.sim import SimIncline
from treadctl.sim.incline import InclineSim


def sim_lift(machine: MachineConfig) -> InclineSim | None:
    """The in-process simulated lift of a machine whose actuator is the simulator's."""
    rng = machine.incline
    if rng is None or not isinstance(rng.actuator, SimInclineConfig):
        return None
    return InclineSim(rng.min_pct, rng.max_pct, rng.actuator.travel_pct_per_s)


def build_incline(
    machine: MachineConfig,
    clock: Clock,
    drive_link: ModbusLink | None = None,
    lift: InclineSim | None = None,
) -> InclineActuator | None:
    """The actuator the machine file names; `drive_link`: the drive's bus (link "drive");
    `lift`: the simulated lift for a "sim" actuator (made here when not given)."""
    rng = machine.incline
    act = rng.actuator if rng is not None else None
    if rng is None or act is None:
        return None
    if isinstance(act, SimInclineConfig):
        return SimIncline(lift or InclineSim(rng.min_pct, rng.max_pct, act.travel_pct_per_s), clock)
    if act.link == "drive":
        if drive_link is None:
            raise ValueError('incline.actuator.link "drive" needs the drive\'s Modbus link')
        link = drive_link
    else:
        link = ModbusLink(act.link, 0)
    link.users += 1
    if isinstance(act, RelayInclineConfig):
        return RelayIncline(link, act, rng.min_pct, rng.max_pct)
    assert isinstance(act, PositionInclineConfig)
    return PositionIncline(link, act)
