"""The bridge's file: the shipped example is valid; mistakes are refused as FILE: field: reason."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from treadctl.config.errors import ConfigError
from treadctl.config.loader import load_model
from treadctl.config.mqtt import MqttConfig, load_mqtt_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/mqtt/mqtt.toml"

GOOD = """\
site = "clinic-a"
treadmill = "tm-01"
[broker]
host = "127.0.0.1"
username = "tm-01"
password_file = "secret.txt"
"""


def write(tmp: Path, text: str, password: str | None = "s3cret\n") -> Path:
    if password is not None:
        (tmp / "secret.txt").write_text(password)
    path = tmp / "mqtt.toml"
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_mqtt_config(path)
    return [str(p) for p in err.value.problems]


def test_the_shipped_example_is_valid(tmp_path: Path) -> None:
    cfg = load_model(EXAMPLE, MqttConfig)  # the schema (its files live on a real host)
    assert (cfg.site, cfg.treadmill, cfg.broker.port) == ("clinic-a", "tm-01", 8883)
    assert cfg.broker.tls is not None
    assert cfg.telemetry.rate_hz == 10
    # ... and with its files present it loads completely
    text = EXAMPLE.read_text().replace("/etc/treadctl/", "")
    for name in ("mqtt-tm-01.password", "clinic-ca.crt"):
        (tmp_path / name).write_text("x\n")
    cfg = load_mqtt_config(write(tmp_path, text, None))
    assert cfg.broker.password_file == str(tmp_path / "mqtt-tm-01.password")
    assert cfg.broker.password() == "x"


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    cfg = load_mqtt_config(write(tmp_path, GOOD))
    assert cfg.broker.password_file == str(tmp_path / "secret.txt")
    assert cfg.broker.password() == "s3cret"
    assert cfg.broker.port == 1883
    assert cfg.broker.tls is None
    assert cfg.client_id == "treadctl-clinic-a-tm-01"
    assert not cfg.publish_patient


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (('password_file = "secret.txt"', 'password = "hunter2"'), "broker.password: never write"),
        (('site = "clinic-a"', 'site = "clinic/a"'), "site: Value error, one topic level"),
        (('treadmill = "tm-01"', 'treadmill = "+"'), "treadmill: Value error, one topic level"),
        (('host = "127.0.0.1"', 'host = "127.0.0.1"\nport = "1883"'), "broker.port: Input should"),
        (('host = "127.0.0.1"', 'host = "127.0.0.1"\nqos = 2'), "broker.qos: unknown field"),
        (('username = "tm-01"', ""), "broker.username: password_file needs a username"),
        (
            ("[broker]", "[telemetry]\nrate_hz = 50\n[broker]"),
            "telemetry.rate_hz: must be at most 10 Hz (50 Hz given)",
        ),
        (
            ("[broker]", "[reconnect]\ninitial_s = 5.0\nmax_s = 1.0\n[broker]"),
            "reconnect.max_s: must be at least initial_s",
        ),
        (
            (
                'password_file = "secret.txt"',
                'password_file = "secret.txt"\n[broker.tls]\ncert_file = "secret.txt"',
            ),
            "broker.tls.key_file: cert_file and key_file go together",
        ),
        (('password_file = "secret.txt"', 'password_file = "nope.txt"'), "cannot read"),
        (
            (
                'password_file = "secret.txt"',
                'password_file = "secret.txt"\n[broker.tls]\nca_file = "ca.pem"',
            ),
            "broker.tls.ca_file: cannot read",
        ),
    ],
)
def test_mistakes_name_the_file_the_field_and_the_reason(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    path = write(tmp_path, GOOD.replace(*edit))
    found = problems(path)
    at = re.escape(str(path)) + r"(:\d+:\d+)?: "  # the line and column, where known
    assert any(re.match(at, p) and expected in p for p in found), found


def test_an_empty_password_file_is_refused(tmp_path: Path) -> None:
    found = problems(write(tmp_path, GOOD, password="\n"))
    assert any("broker.password_file" in p and "is empty" in p for p in found), found


def test_a_fifo_or_a_device_as_password_file_is_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")  # opened for reading, it would block for ever
    for name in (str(tmp_path / "fifo"), "/dev/zero"):
        text = GOOD.replace('"secret.txt"', json.dumps(name))
        (found,) = problems(write(tmp_path, text, None))
        assert "broker.password_file" in found
        assert "not a regular file" in found, found


def test_the_readmes_local_example_needs_no_tls_and_no_password() -> None:
    cfg = load_mqtt_config(ROOT / "examples/mqtt/local.toml")
    assert (cfg.broker.host, cfg.broker.port) == ("127.0.0.1", 1883)
    assert cfg.broker.tls is None
    assert cfg.broker.password_file is None
    assert cfg.site == "clinic-a"  # the site the README's monitor line watches
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "--mqtt examples/mqtt/local.toml" in readme
    assert "--site clinic-a" in readme
