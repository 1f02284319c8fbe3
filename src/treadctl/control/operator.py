"""The scripted operator moved to the simulator, `treadctl.sim.operator` (issue 23: a
scenario file builds one, and sim/ sits below control/). This name stays only until
control/loop.py and the control package's new modules import the new name."""

from treadctl.sim.operator import ScriptedOperator, TimedCommand

__all__ = ["ScriptedOperator", "TimedCommand"]
