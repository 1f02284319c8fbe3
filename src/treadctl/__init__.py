"""treadctl: a treadmill controller for backward (retro) walking."""

__version__ = "0.1.0"
