"""The bridge's file (mqtt.toml): which broker, who we are on it, how much to queue.

Strict like every treadctl file: an unknown field, a string where a number is due, or a
password written into the file is refused with `FILE: field: reason`. The password
lives in a file of its own (`broker.password_file`, relative paths from the TOML file's
folder), read at every connection so it can be rotated without a restart.
"""

from __future__ import annotations

import re
import socket
import ssl
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from treadctl.config.errors import ConfigError, ConfigProblem, FieldError
from treadctl.config.loader import load_model, read_capped

# One MQTT topic level: no separators, no wildcards, nothing a shell or a file name minds.
MAX_SIDE_FILE_BYTES = 1024 * 1024  # a password file, a certificate or a key
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
NODELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # aiomqtt socket_options: no Nagle
NAME_RULE = "one topic level: 1-64 letters, digits, '-', '_' or '.' (no '/', '+' or '#')"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _name(value: str) -> str:
    if not NAME_RE.match(value):
        raise ValueError(NAME_RULE)
    return value


class TlsConfig(Strict):
    """TLS to the broker. No ca_file: the system's trusted CAs. A client certificate
    (cert_file and key_file together) when the broker asks for one."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            missing = "key_file" if self.key_file is None else "cert_file"
            raise FieldError(missing, "cert_file and key_file go together: give both or neither")
        return self

    def context(self) -> ssl.SSLContext:
        """Verify the broker's certificate and host name (TLS 1.2 or newer)."""
        return tls_context(self.ca_file, self.cert_file, self.key_file)


class _ClosingSSLSocket(ssl.SSLSocket):
    """Closes itself when the handshake fails: paho-mqtt 2.2 drops such a socket unclosed
    (one leaked descriptor per refused connection attempt, e.g. an unknown certificate)."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def tls_context(
    ca_file: str | None, cert_file: str | None = None, key_file: str | None = None
) -> ssl.SSLContext:
    """A client context for aiomqtt's `tls_context` (the same checks as `tls_params` with
    CERT_REQUIRED, plus the closing socket above). Loads files: call it off the loop."""
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file is not None:
        ctx.load_cert_chain(cert_file, key_file)
    ctx.sslsocket_class = _ClosingSSLSocket
    return ctx


class BrokerConfig(Strict):
    host: str = Field(min_length=1)
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = Field(default=None, min_length=1)
    password_file: str | None = Field(default=None, min_length=1)
    client_id: str | None = Field(default=None, min_length=1, max_length=64)
    keepalive_s: int = Field(default=10, ge=2, le=300)  # the Last Will fires ~1.5x this late
    timeout_s: float = Field(default=5.0, gt=0, le=60)  # connect and acknowledgement waits
    tls: TlsConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_password(cls, data: Any) -> Any:
        if isinstance(data, dict) and "password" in data:
            raise FieldError(
                "password",
                "never write a password in this file: put it in a file of its own "
                "(chmod 600) and give its path as password_file",
            )
        return data

    @model_validator(mode="after")
    def _user(self) -> BrokerConfig:
        if self.password_file is not None and self.username is None:
            raise FieldError("username", "password_file needs a username")
        return self

    def password(self) -> str | None:
        """The password, read now (first line, without the newline)."""
        if self.password_file is None:
            return None
        raw = read_capped(Path(self.password_file), MAX_SIDE_FILE_BYTES)
        return raw.decode("utf-8").splitlines()[0]


class TelemetryConfig(Strict):
    # The controller's status runs at 10 Hz: telemetry takes every 1st, 2nd, ... of them.
    rate_hz: float = Field(default=10.0, ge=1.0, le=10.0)
    queue: int = Field(default=50, ge=1, le=10_000)  # telemetry held while the broker lags
    event_queue: int = Field(default=1000, ge=10, le=100_000)  # events held likewise


class ReconnectConfig(Strict):
    initial_s: float = Field(default=0.5, gt=0, le=60)
    max_s: float = Field(default=30.0, gt=0, le=600)

    @model_validator(mode="after")
    def _order(self) -> ReconnectConfig:
        if self.max_s < self.initial_s:
            raise FieldError("max_s", f"must be at least initial_s ({self.initial_s:g} s)")
        return self


class MqttConfig(Strict):
    site: str
    treadmill: str
    publish_patient: bool = False  # the patient's pseudonym in status, events and summaries
    broker: BrokerConfig
    telemetry: TelemetryConfig = TelemetryConfig()
    reconnect: ReconnectConfig = ReconnectConfig()

    @field_validator("site", "treadmill")
    @classmethod
    def _names(cls, value: str) -> str:
        return _name(value)

    @property
    def client_id(self) -> str:
        return self.broker.client_id or f"treadctl-{self.site}-{self.treadmill}"


def _resolve(base: Path, value: str | None) -> str | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base / path)


def _check_file(source: str, field: str, value: str | None) -> list[ConfigProblem]:
    if value is None:
        return []
    try:
        raw = read_capped(Path(value), MAX_SIDE_FILE_BYTES)
    except OSError as exc:
        return [ConfigProblem(source, field, f"cannot read {value}: {exc.strerror or exc}")]
    except ConfigError as exc:  # not a regular file, or too large
        return [ConfigProblem(source, field, f"{value}: {p.reason}") for p in exc.problems]
    if len(raw) > MAX_SIDE_FILE_BYTES:
        return [ConfigProblem(source, field, f"{value}: larger than {MAX_SIDE_FILE_BYTES} bytes")]
    first = raw.split(b"\n", 1)[0].strip()
    if field.endswith("password_file") and not first:
        return [ConfigProblem(source, field, f"{value} is empty: the first line is the password")]
    return []


def load_mqtt_config(path: Path) -> MqttConfig:
    """The bridge's file, with its paths made absolute and every file it names readable."""
    cfg = load_model(path, MqttConfig)
    base = path.resolve().parent
    broker = cfg.broker
    tls = broker.tls
    if tls is not None:
        tls = tls.model_copy(
            update={
                "ca_file": _resolve(base, tls.ca_file),
                "cert_file": _resolve(base, tls.cert_file),
                "key_file": _resolve(base, tls.key_file),
            }
        )
    broker = broker.model_copy(
        update={"password_file": _resolve(base, broker.password_file), "tls": tls}
    )
    problems = _check_file(str(path), "broker.password_file", broker.password_file)
    if tls is not None:
        for name in ("ca_file", "cert_file", "key_file"):
            problems += _check_file(str(path), f"broker.tls.{name}", getattr(tls, name))
    if problems:
        raise ConfigError(problems)
    return cfg.model_copy(update={"broker": broker})


__all__ = [
    "NODELAY",
    "BrokerConfig",
    "MqttConfig",
    "ReconnectConfig",
    "TelemetryConfig",
    "TlsConfig",
    "load_mqtt_config",
    "tls_context",
]
