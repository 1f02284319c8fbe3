"""The heart-rate source a machine file's `[heart_rate.source]` names."""

from __future__ import annotations

from treadctl.config.heartrate import (
    BleSourceConfig,
    HeartRateSourceConfig,
    MqttSourceConfig,
    SimSourceConfig,
)
from treadctl.heartrate.ble import BleHeartRate
from treadctl.heartrate.link import TransportLink
from treadctl.heartrate.mqtt import MqttHeartRate
from treadctl.inputs.base import HeartRateSource
from treadctl.inputs.sim import SimHeartRate
from treadctl.sim.world import Panel


def build_source(config: HeartRateSourceConfig, panel: Panel) -> HeartRateSource:
    """Not started: call start() on a BackgroundHeartRate when the session starts."""
    if isinstance(config, SimSourceConfig):
        return SimHeartRate(panel)
    if isinstance(config, BleSourceConfig):
        link = TransportLink(config.transport, config.own_address, config.connect_timeout_s)
        return BleHeartRate(config, link)
    if isinstance(config, MqttSourceConfig):
        return MqttHeartRate(config)
    raise TypeError(f"unknown heart-rate source {config!r}")
