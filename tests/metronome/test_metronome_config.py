"""The [metronome] section as the machine file gives it: TOML through the project's loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from treadctl.config.errors import ConfigError
from treadctl.config.loader import load_model
from treadctl.config.metronome import MetronomeConfig


def load(tmp: Path, text: str) -> MetronomeConfig:
    path = tmp / "metronome.toml"
    path.write_text(text)
    return load_model(path, MetronomeConfig)


def test_section_loads(tmp_path: Path) -> None:
    cfg = load(tmp_path, 'enabled = true\ndevice = "USB Audio"\nvolume = 1\nclick = "beep"\n')
    assert cfg.enabled is True
    assert cfg.device == "USB Audio"
    assert cfg.volume == 1.0
    assert cfg.click == "beep"


def test_defaults_are_off(tmp_path: Path) -> None:
    cfg = load(tmp_path, "")
    assert cfg.enabled is False
    assert cfg.device is None


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("volume = nan", "volume"),
        ("click_ms = inf", "click_ms"),
        ('enabled = "true"', "enabled"),
        ("sample_rate_hz = 44100.5", "sample_rate_hz"),
        ("latency_s = 0", "latency_s"),
        ("loudness = 3", "loudness"),
    ],
)
def test_hostile_section_names_the_field(tmp_path: Path, text: str, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text)
    assert field in str(err.value)
    assert "metronome.toml" in str(err.value)
