"""The machine file's [heart_rate.source] section: strict, one strap, bounded values."""

from __future__ import annotations

import tomllib

import pytest
from pydantic import TypeAdapter, ValidationError

from treadctl.config.heartrate import (
    BleSourceConfig,
    HeartRateSourceConfig,
    MqttSourceConfig,
    SimSourceConfig,
)
from treadctl.heartrate.ble import BleHeartRate
from treadctl.heartrate.factory import build_source
from treadctl.heartrate.mqtt import MqttHeartRate

ADAPTER: TypeAdapter[HeartRateSourceConfig] = TypeAdapter(HeartRateSourceConfig)


def load(text: str) -> HeartRateSourceConfig:
    return ADAPTER.validate_python(tomllib.loads(text))


def test_ble_by_address_with_defaults() -> None:
    cfg = load('kind = "ble"\naddress = "E1:CA:72:48:C4:E8"\n')
    assert isinstance(cfg, BleSourceConfig)
    assert cfg.transport == "usb:0"
    assert (cfg.bpm_min, cfg.bpm_max, cfg.stale_after_s) == (20.0, 250.0, 3.0)
    assert isinstance(build_source(cfg), BleHeartRate)


def test_ble_by_name() -> None:
    cfg = load('kind = "ble"\nname = "Polar H10 7A1B2C3D"\ntransport = "hci-socket:0"\n')
    assert isinstance(cfg, BleSourceConfig)
    assert cfg.name == "Polar H10 7A1B2C3D"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('kind = "ble"\n', "exactly one of address or name"),
        ('kind = "ble"\naddress = "E1:CA:72:48:C4:E8"\nname = "x"\n', "exactly one"),
        ('kind = "ble"\naddress = "E1:CA:72:48:C4"\n', "six hex pairs"),
        ('kind = "ble"\naddress = "E1:CA:72:48:C4:E8"\nstale_after_s = 0\n', "greater than 0"),
        ('kind = "ble"\nname = "x"\nbpm_min = 100\nbpm_max = 90\n', "above bpm_min"),
        ('kind = "ble"\nname = "x"\nbpm_max = nan\n', "finite"),
        ('kind = "ble"\nname = "x"\nreconnect = {initial_s = 5, max_s = 1}\n', "initial_s"),
        ('kind = "ble"\nname = "x"\nrssi_min = -80\n', "Extra inputs"),
        ('kind = "bluetooth"\nname = "x"\n', "does not match any of the expected tags"),
        ('kind = "mqtt"\ntopic = "hr/#"\nbroker = {host = "h"}\n', "no '\\+' or '#'"),
        ('kind = "mqtt"\ntopic = "hr"\nbroker = {host = "h", password = "p"}\n', "password"),
        ('kind = "mqtt"\ntopic = "hr"\nbroker = {host = "h"}\nmax_payload_bytes = 10000000\n',
         "less than or equal"),
    ],
)  # fmt: skip
def test_bad_sections_are_refused_with_a_reason(text: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        load(text)


def test_mqtt_and_sim() -> None:
    cfg = load(
        'kind = "mqtt"\ntopic = "home/OpenMQTTGateway/BTtoMQTT/E1CA7248C4E8"\n'
        'device_id = "E1:CA:72:48:C4:E8"\nbroker = {host = "127.0.0.1", port = 1883}\n'
    )
    assert isinstance(cfg, MqttSourceConfig)
    assert cfg.stale_after_s == 5.0
    assert isinstance(build_source(cfg), MqttHeartRate)
    sim = load('kind = "sim"\n')
    assert isinstance(sim, SimSourceConfig)
    # the simulated panel's rate is the session's assembly's to pick (treadctl.app)
    with pytest.raises(TypeError, match="unknown heart-rate source"):
        build_source(sim)  # type: ignore[arg-type]
