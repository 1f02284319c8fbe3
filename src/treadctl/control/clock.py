"""The clocks moved to the ground floor, `treadctl.clock` (issue 23: hardware backends
and the store take a clock without importing the control package). This name stays only
until control/loop.py and the control package's new modules import `treadctl.clock`."""

from treadctl.clock import FINE_SLEEP_S, Clock, MonotonicClock, VirtualClock

__all__ = ["FINE_SLEEP_S", "Clock", "MonotonicClock", "VirtualClock"]
