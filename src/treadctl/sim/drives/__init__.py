"""Simulated drives behind the HIL simulator's Modbus server.

The four real drives each have a personality written from their manuals (the shared
spec), independently of the register maps the controller uses: the simulator is a
second opinion on every map. The generic map and user map files get the map-driven
model, which accepts whatever the map says.
"""

from __future__ import annotations

from treadctl.drives.regmap import RegisterMap
from treadctl.sim.drive_names import MAP_DRIVEN
from treadctl.sim.drives.abb import AbbAcs355
from treadctl.sim.drives.base import DriveSim
from treadctl.sim.drives.delta import DeltaMs300
from treadctl.sim.drives.map import DriveModel
from treadctl.sim.drives.siemens import SiemensV20
from treadctl.sim.drives.yaskawa import YaskawaA1000
from treadctl.sim.world import BeltSim

# In PERSONALITY_NAMES' order (the CLI's --drive choices; tests/cli/test_fast_start.py)
PERSONALITIES: dict[str, type[DriveSim]] = {
    cls.name: cls for cls in (DeltaMs300, YaskawaA1000, AbbAcs355, SiemensV20)
}


def make_drive_model(
    regmap: RegisterMap, belt: BeltSim, kmh_per_hz: float, personality: str | None = None
) -> DriveSim:
    """The simulated drive: `personality` names one of PERSONALITIES or "map" (the
    map-driven model); None picks the personality the map is named after, if any."""
    name = regmap.name if personality is None else personality
    if name == MAP_DRIVEN or (personality is None and name not in PERSONALITIES):
        return DriveModel(regmap, belt, kmh_per_hz)
    if name not in PERSONALITIES:
        known = ", ".join([*PERSONALITIES, MAP_DRIVEN])
        raise ValueError(f"unknown drive personality {name!r}: use one of {known}")
    return PERSONALITIES[name](belt, kmh_per_hz)


__all__ = ["MAP_DRIVEN", "PERSONALITIES", "DriveModel", "DriveSim", "make_drive_model"]
