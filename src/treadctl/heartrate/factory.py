"""The heart-rate source a machine file's `[heart_rate.source]` names: a strap over
Bluetooth LE or an MQTT gateway. The simulated panel's (kind "sim") is the session's
assembly's to pick (treadctl.sim.backends.SimHeartRate): no hardware package imports
the simulator."""

from __future__ import annotations

from treadctl.config.heartrate import BleSourceConfig, MqttSourceConfig
from treadctl.drives.ble_link import TransportLink
from treadctl.heartrate.ble import BleHeartRate
from treadctl.heartrate.mqtt import MqttHeartRate
from treadctl.inputs.base import HeartRateSource


def build_source(config: BleSourceConfig | MqttSourceConfig) -> HeartRateSource:
    """Not started: call start() on a BackgroundHeartRate when the session starts."""
    if isinstance(config, BleSourceConfig):
        link = TransportLink(config.transport, config.own_address, config.connect_timeout_s)
        return BleHeartRate(config, link)
    if isinstance(config, MqttSourceConfig):
        return MqttHeartRate(config)
    raise TypeError(f"unknown heart-rate source {config!r}")
