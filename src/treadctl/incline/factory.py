"""The machine file's Modbus incline actuator, built for a session (None: set by hand, or
the simulator's own actuator, which treadctl.sim.backends.sim_incline builds)."""

from __future__ import annotations

from treadctl.config.machine import (
    MachineConfig,
    PositionInclineConfig,
    RelayInclineConfig,
)
from treadctl.drives.link import ModbusLink
from treadctl.incline.base import InclineActuator
from treadctl.incline.modbus import PositionIncline, RelayIncline


def build_incline(
    machine: MachineConfig, drive_link: ModbusLink | None = None
) -> InclineActuator | None:
    """The Modbus actuator the machine file names; `drive_link`: the drive's bus (link
    "drive"). None without one, and for the simulator's actuator (built by the caller)."""
    rng = machine.incline
    act = rng.actuator if rng is not None else None
    if rng is None or not isinstance(act, RelayInclineConfig | PositionInclineConfig):
        return None
    if act.link == "drive":
        if drive_link is None:
            raise ValueError('incline.actuator.link "drive" needs the drive\'s Modbus link')
        link = drive_link
    else:
        link = ModbusLink(act.link, 0)
    link.users += 1
    if isinstance(act, RelayInclineConfig):
        return RelayIncline(link, act, rng.min_pct, rng.max_pct)
    return PositionIncline(link, act)
