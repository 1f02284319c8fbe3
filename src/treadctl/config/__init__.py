"""Configuration: machine, patient and profile files, validated before anything moves."""

from treadctl.config.errors import ConfigError, ConfigProblem
from treadctl.config.loader import load_model
from treadctl.config.machine import Limits, MachineConfig, RampLimits
from treadctl.config.patient import PatientConfig
from treadctl.config.profile import ProfileConfig, RailPolicy, SegmentKind

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "Limits",
    "MachineConfig",
    "PatientConfig",
    "ProfileConfig",
    "RailPolicy",
    "RampLimits",
    "SegmentKind",
    "load_model",
]
