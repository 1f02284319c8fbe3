"""The maximum ages of the safety inputs' reading and the drive's status (issue 27):
left out of the machine file, each is five of the file's own loop periods (0.1 s at
50 Hz), an FTMS treadmill's status 1 s (Bluetooth); set, each must cover two periods and
stay at or below 2 s, and the field is named when it does not."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

import pytest

from treadctl.config.errors import ConfigError
from treadctl.config.loader import load_model
from treadctl.config.machine import (
    DEFAULT_MAX_AGE_CYCLES,
    FTMS_MIN_READ_TIMEOUT_S,
    MAX_AGE_LIMIT_S,
    MIN_MAX_AGE_CYCLES,
    LoopConfig,
    MachineConfig,
    Watchdog,
)

MACHINES = Path(__file__).resolve().parents[2] / "src/treadctl/samples/machines"
AGES = ("drive_read_timeout_s", "input_read_timeout_s")


def sample(name: str = "sim.toml", *, leave_out: tuple[str, ...] = AGES) -> dict[str, Any]:
    """A shipped machine file as data, with the named maximum ages left out."""
    data = tomllib.loads((MACHINES / name).read_text(encoding="utf-8"))
    for key in leave_out:
        data["watchdog"].pop(key, None)
    return data


def with_rate(data: dict[str, Any], rate_hz: float) -> dict[str, Any]:
    return {**data, "loop": {**data["loop"], "rate_hz": rate_hz}}


def test_the_constants_are_the_issues() -> None:
    assert DEFAULT_MAX_AGE_CYCLES == 5  # "at most 5 cycles, e.g. 100 ms at 50 Hz"
    assert MIN_MAX_AGE_CYCLES == 2
    assert FTMS_MIN_READ_TIMEOUT_S == 1.0
    assert Watchdog().drive_read_timeout_s == Watchdog().input_read_timeout_s == 0.1
    assert LoopConfig().period_s * DEFAULT_MAX_AGE_CYCLES == pytest.approx(0.1)


@pytest.mark.parametrize("rate_hz", [50, 50.0, 43, 35, 20, 14, 100, 500])
def test_left_out_each_is_five_of_the_files_own_loop_periods(rate_hz: float) -> None:
    machine = MachineConfig.model_validate(with_rate(sample(), rate_hz))
    five = DEFAULT_MAX_AGE_CYCLES / rate_hz
    assert machine.watchdog.drive_read_timeout_s == five
    assert machine.watchdog.input_read_timeout_s == five


def test_at_50_hz_the_default_is_exactly_100_ms() -> None:
    machine = MachineConfig.model_validate(sample())
    assert machine.loop.rate_hz == 50
    assert machine.watchdog.drive_read_timeout_s == 0.1
    assert machine.watchdog.input_read_timeout_s == 0.1


def test_without_a_loop_table_the_default_rate_gives_100_ms() -> None:
    data = sample()
    del data["loop"]
    machine = MachineConfig.model_validate(data)
    assert machine.watchdog.drive_read_timeout_s == 0.1
    assert machine.watchdog.input_read_timeout_s == 0.1


def test_without_a_watchdog_table_too() -> None:
    data = sample()
    del data["watchdog"]
    machine = MachineConfig.model_validate(with_rate(data, 25))
    assert machine.watchdog.drive_read_timeout_s == 0.2
    assert machine.watchdog.input_read_timeout_s == 0.2


def test_a_slow_loop_is_capped_at_the_upper_bound() -> None:
    machine = MachineConfig.model_validate(with_rate(sample(), 2))  # 5 cycles: 2.5 s
    assert machine.watchdog.drive_read_timeout_s == MAX_AGE_LIMIT_S
    assert machine.watchdog.input_read_timeout_s == MAX_AGE_LIMIT_S


def test_a_value_the_file_sets_is_kept() -> None:
    data = sample()
    data["watchdog"] |= {"drive_read_timeout_s": 0.06, "input_read_timeout_s": 0.3}
    machine = MachineConfig.model_validate(data)
    assert machine.watchdog.drive_read_timeout_s == 0.06
    assert machine.watchdog.input_read_timeout_s == 0.3


def test_each_is_derived_on_its_own() -> None:
    machine = MachineConfig.model_validate(
        with_rate(sample(leave_out=("drive_read_timeout_s",)), 25)
    )
    assert machine.watchdog.drive_read_timeout_s == 0.2  # five periods at 25 Hz
    assert machine.watchdog.input_read_timeout_s == 0.1  # as sim.toml sets it


def test_a_watchdog_made_in_code_gets_the_loops_default_too() -> None:
    data = sample()
    data["watchdog"] = Watchdog(drive_comm_loss_s=0.4)
    data["loop"] = LoopConfig(rate_hz=25)
    machine = MachineConfig.model_validate(data)
    assert machine.watchdog.drive_read_timeout_s == 0.2
    assert machine.watchdog.input_read_timeout_s == 0.2
    assert machine.watchdog.drive_comm_loss_s == 0.4
    data["watchdog"] = Watchdog(drive_read_timeout_s=0.3)
    machine = MachineConfig.model_validate(data)
    assert machine.watchdog.drive_read_timeout_s == 0.3
    assert machine.watchdog.input_read_timeout_s == 0.2


def test_an_ftms_drive_left_out_gets_its_bluetooth_minimum() -> None:
    machine = MachineConfig.model_validate(sample("ftms.toml"))
    assert machine.watchdog.drive_read_timeout_s == FTMS_MIN_READ_TIMEOUT_S
    assert machine.watchdog.input_read_timeout_s == 0.1  # the inputs are not on the radio


@pytest.mark.parametrize("rate_hz", [50, 35, 20])
def test_two_periods_is_the_least_and_less_is_refused_naming_the_field(
    tmp_path: Path, rate_hz: float
) -> None:
    two = MIN_MAX_AGE_CYCLES / rate_hz
    for key in AGES:
        data = with_rate(sample(), rate_hz)
        data["watchdog"][key] = two
        assert getattr(MachineConfig.model_validate(data).watchdog, key) == two
        data["watchdog"][key] = math.nextafter(two, 0.0)
        field, reason = only_problem(tmp_path, data)
        assert field == f"watchdog.{key}"
        assert "two loop periods" in reason
        assert f"{two:g} s at {rate_hz:g} Hz" in reason


@pytest.mark.parametrize("key", AGES)
def test_above_the_upper_bound_is_refused_naming_the_field(tmp_path: Path, key: str) -> None:
    data = sample()
    data["watchdog"][key] = MAX_AGE_LIMIT_S
    assert getattr(MachineConfig.model_validate(data).watchdog, key) == MAX_AGE_LIMIT_S
    data["watchdog"][key] = math.nextafter(MAX_AGE_LIMIT_S, 3.0)
    field, reason = only_problem(tmp_path, data)
    assert field == f"watchdog.{key}"
    assert "at most 2 s" in reason


@pytest.mark.parametrize("rate", ["50", True, -5, 0, 600, "nan"])
def test_a_bad_loop_rate_is_named_not_a_crash(tmp_path: Path, rate: object) -> None:
    data = sample()
    data["loop"]["rate_hz"] = math.nan if rate == "nan" else rate
    field, _ = only_problem(tmp_path, data)
    assert field == "loop.rate_hz"


def only_problem(tmp_path: Path, data: dict[str, Any]) -> tuple[str, str]:
    """The one problem the loader names for `data` written as a machine file."""
    path = tmp_path / "machine.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_model(path, MachineConfig)
    (problem,) = caught.value.problems
    return problem.field, problem.reason


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Just enough TOML for a machine file's tables and scalars."""
    scalars, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append(f"\n[{prefix}{key}]\n" + to_toml(value, f"{prefix}{key}."))
        else:
            scalars.append(f"{key} = {scalar(value)}")
    return "\n".join(scalars) + "".join(tables) + "\n"


def scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    return str(value)
