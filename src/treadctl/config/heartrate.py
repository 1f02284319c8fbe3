"""The machine file's heart-rate source section: `[heart_rate.source]`, kind sim|ble|mqtt.

Strict like every treadctl file (unknown fields and wrong types refused). The plausible
range and the staleness limit belong to each source: a strap notifies about once a
second, a gateway may batch, so each gets its own limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from treadctl.config.errors import FieldError
from treadctl.config.mqtt import BrokerConfig, Strict

# A Bluetooth device address as the machine file and `treadctl hr scan` write it; a
# "/P" suffix marks a public address (most straps use a random static one).
ADDRESS_RE = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}(/P)?$")
# An MQTT topic to subscribe to: printable, no wildcards (one source is one strap).
TOPIC_RE = re.compile(r"^[^\x00-\x1f#+]{1,256}$")


@dataclass(frozen=True)
class Plausible:
    """What a source may report; outside this there is no reading."""

    bpm_min: float
    bpm_max: float
    stale_after_s: float


class BackoffConfig(Strict):
    """Reconnect delays: initial_s after the first failure, times factor, at most max_s."""

    initial_s: float = Field(default=0.5, gt=0, le=60)
    max_s: float = Field(default=10.0, gt=0, le=600)
    factor: float = Field(default=2.0, ge=1.0, le=10.0)

    @model_validator(mode="after")
    def _order(self) -> BackoffConfig:
        if self.max_s < self.initial_s:
            raise FieldError("max_s", f"must be at least initial_s ({self.initial_s:g} s)")
        return self


class _Source(Strict):
    bpm_min: float = Field(default=20.0, ge=0, le=300)
    bpm_max: float = Field(default=250.0, ge=0, le=300)
    stale_after_s: float = Field(default=3.0, gt=0, le=60)
    reconnect: BackoffConfig = BackoffConfig()

    @model_validator(mode="after")
    def _range(self) -> _Source:
        if self.bpm_max <= self.bpm_min:
            raise FieldError("bpm_max", f"must be above bpm_min ({self.bpm_min:g})")
        return self

    @property
    def plausible(self) -> Plausible:
        return Plausible(self.bpm_min, self.bpm_max, self.stale_after_s)


class SimSourceConfig(Strict):
    """The simulated panel's heart rate (the built-in simulator and `treadctl sim`)."""

    kind: Literal["sim"] = "sim"


class BleSourceConfig(_Source):
    """A strap with the standard Heart Rate Service, chosen by address or by name."""

    kind: Literal["ble"]
    # A bumble transport spec: "usb:0" (a USB dongle bumble drives itself),
    # "hci-socket:0" (Linux HCI socket), "serial:/dev/ttyACM0" (an HCI UART dongle) ...
    transport: str = Field(default="usb:0", min_length=1, max_length=200)
    address: str | None = None
    name: str | None = Field(default=None, min_length=1, max_length=29)
    # Our own (random static) address on the air: the two top bits set, per the Core spec.
    own_address: str = "C0:7E:AD:C7:00:01"
    scan_timeout_s: float = Field(default=10.0, gt=0, le=120)
    connect_timeout_s: float = Field(default=10.0, gt=0, le=120)

    @field_validator("address", "own_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not ADDRESS_RE.match(value):
            raise ValueError("a Bluetooth address: six hex pairs, e.g. E1:CA:72:48:C4:E8")
        return value

    @model_validator(mode="after")
    def _target(self) -> BleSourceConfig:
        if (self.address is None) == (self.name is None):
            raise FieldError("address", "give exactly one of address or name")
        return self


class MqttSourceConfig(_Source):
    """A topic where a BLE-to-MQTT gateway publishes the strap's rate (see docs)."""

    kind: Literal["mqtt"]
    broker: BrokerConfig
    topic: str
    # Gateways that publish many devices on one topic put the strap's address in "id":
    # with device_id set, messages for other devices are ignored (not refused).
    device_id: str | None = None
    max_payload_bytes: int = Field(default=2048, ge=16, le=65536)
    max_depth: int = Field(default=4, ge=1, le=16)
    stale_after_s: float = Field(default=5.0, gt=0, le=60)

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if not TOPIC_RE.match(value):
            raise ValueError("one topic, 1-256 printable characters, no '+' or '#'")
        return value

    @field_validator("device_id")
    @classmethod
    def _device(cls, value: str | None) -> str | None:
        if value is not None and not ADDRESS_RE.match(value):
            raise ValueError("a Bluetooth address: six hex pairs, e.g. E1:CA:72:48:C4:E8")
        return value


HeartRateSourceConfig = Annotated[
    SimSourceConfig | BleSourceConfig | MqttSourceConfig, Field(discriminator="kind")
]
