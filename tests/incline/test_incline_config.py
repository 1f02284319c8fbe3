"""The machine file's [incline] table: old files stay valid, the actuator's fields are
bounded, and the checklist prompts by hand only without an actuator."""

from __future__ import annotations

import tomllib

import pytest
from pydantic import ValidationError

from treadctl.app import load_session
from treadctl.config.loader import load_model
from treadctl.config.machine import (
    InclineRange,
    MachineConfig,
    RelayInclineConfig,
    SimInclineConfig,
)
from treadctl.incline.modbus import counts_to_pct, from_int16, to_int16
from treadctl.protocol.checklist import checklist
from treadctl.sim.main import incline_for

from .session import PROFILES_DIR, SAMPLES, SIM_INCLINE

SIM = SAMPLES / "machines/sim.toml"


def test_an_old_incline_table_is_still_a_range_set_by_hand() -> None:
    m = load_model(SIM, MachineConfig)
    assert m.incline is not None
    assert m.incline.actuator is None
    assert (m.incline.soft_min, m.incline.soft_max) == (0.0, 25.0)
    assert m.incline.belt_stop_on_fault is True


def test_the_sample_incline_machine_drives_the_simulators_lift() -> None:
    m = load_model(SIM_INCLINE, MachineConfig)
    assert m.incline is not None
    assert isinstance(m.incline.actuator, SimInclineConfig)
    assert m.incline.soft_max == 22.0


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"soft_max_pct": 30.0}, "soft limits"),
        ({"soft_min_pct": 5.0, "soft_max_pct": 4.0}, "soft limits"),
        ({"max_rate_pct_per_s": 0.5}, "max_rate_pct_per_s"),
        ({"rate_pct_per_s": float("nan")}, "finite"),
        ({"stall_time_s": 0.0}, "greater than 0"),
        ({"stall_time_s": 60.0}, "less than or equal to 10"),
        ({"return_to_zero": True, "soft_min_pct": 2.0}, "return_to_zero"),
    ],
)
def test_bad_incline_fields_are_refused(fields: dict[str, object], why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        InclineRange.model_validate({"max_pct": 25.0, **fields})


def test_relay_coils_and_calibration_must_make_sense() -> None:
    with pytest.raises(ValidationError, match="two different coils"):
        RelayInclineConfig(kind="relay", up_coil=1, down_coil=1)
    with pytest.raises(ValidationError, match="must differ"):
        RelayInclineConfig(kind="relay", counts_at_min=5, counts_at_max=5)


def test_a_modbus_actuator_on_the_drive_link_needs_a_modbus_drive() -> None:
    raw = tomllib.loads(SIM.read_text())
    raw["incline"]["actuator"] = {"kind": "relay"}
    with pytest.raises(ValidationError, match="needs a Modbus drive"):
        MachineConfig.model_validate(raw)


def test_calibration_and_signed_registers() -> None:
    cfg = RelayInclineConfig(kind="relay", counts_at_min=3600, counts_at_max=400)  # reversed
    assert counts_to_pct(3600, cfg, 0.0, 25.0) == 0.0
    assert counts_to_pct(400, cfg, 0.0, 25.0) == 25.0
    assert counts_to_pct(2000, cfg, 0.0, 25.0) == pytest.approx(12.5)
    assert from_int16(to_int16(-30)) == -30
    assert to_int16(-1) == 0xFFFF


def test_the_checklist_prompts_by_hand_only_without_an_actuator() -> None:
    profile = PROFILES_DIR / "incline-backward.toml"
    patient = SAMPLES / "patients/demo.toml"
    for machine, by_hand in ((SIM, True), (SIM_INCLINE, False)):
        files = load_session(machine, profile, patient)
        steep = next(s for s in files.plan.segments if s.incline_pct >= 5)
        lines = checklist(files.machine, files.plan, steep.index)
        assert any("set by hand" in line for line in lines) is by_hand
        assert any("treadctl drives it" in line for line in lines) is not by_hand
        assert any("harness" in line for line in lines)


def test_treadctl_sim_serves_the_lift_at_the_machine_files_addresses() -> None:
    raw = tomllib.loads(SIM.read_text())
    raw["drive"] = {
        "kind": "modbus",
        "map": "generic",
        "kmh_per_hz": 0.1,
        "link": {"kind": "tcp", "host": "127.0.0.1"},
    }
    raw["incline"]["actuator"] = {
        "kind": "relay",
        "device_id": 7,
        "up_coil": 4,
        "down_coil": 6,
        "position_register": 2,
        "counts_at_min": 100,
        "counts_at_max": 900,
    }
    got = incline_for(MachineConfig.model_validate(raw))
    assert got is not None
    lift, regs = got
    assert (regs.device_id, regs.up_coil, regs.down_coil, regs.position_register) == (7, 4, 6, 2)
    assert (regs.counts_at_min, regs.counts_at_max) == (100, 900)
    assert lift.watchdog_s > 0  # a relay module that drops its relays on comm loss
    raw["incline"]["actuator"] = {"kind": "position", "device_id": 8, "pct_per_count": 0.01}
    got = incline_for(MachineConfig.model_validate(raw))
    assert got is not None
    assert (got[1].device_id, got[1].pct_per_count) == (8, 0.01)
    assert incline_for(load_model(SIM, MachineConfig)) is None  # set by hand: no lift
