"""Wire budget: RTU frame arithmetic, and a loop rate the baud rate cannot carry is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from treadctl.app import load_session
from treadctl.config.errors import ConfigError
from treadctl.drives import wire

ROOT = Path(__file__).resolve().parents[2]


def test_one_register_write_at_19200_baud_matches_the_domain_notes() -> None:
    # 8 + 8 bytes at 11 bits = 9.2 ms, plus 3.5 characters of silence per frame
    q, r = wire.write_registers_bytes(1)
    assert (q, r) == (8, 8)
    bare = (q + r) * wire.BITS_PER_CHAR / 19200
    assert bare == pytest.approx(9.17e-3, abs=1e-5)
    assert wire.transaction_s(q, r, 19200) == pytest.approx(bare + 7 * 11 / 19200)


def test_frame_sizes() -> None:
    assert wire.read_registers_bytes(4) == (8, 13)
    assert wire.write_registers_bytes(2) == (13, 8)
    assert wire.read_inputs_bytes(4) == (8, 6)
    assert wire.read_inputs_bytes(9) == (8, 7)


def machine(tmp_path: Path, baud: int, rate_hz: float) -> Path:
    text = f"""
name = "RTU"
[drive]
kind = "modbus"
map = "delta-ms300"
kmh_per_hz = 0.2
[drive.link]
kind = "rtu"
port = "/dev/ttyUSB0"
baudrate = {baud}
[safety_inputs]
kind = "modbus"
[loop]
rate_hz = {rate_hz}
[limits]
max_forward_kmh = 12.0
max_backward_kmh = 5.0
reverse_start_cap_kmh = 1.5
quick_stop_decel_mps2 = 1.0
[limits.forward]
accel_mps2 = 0.25
decel_mps2 = 0.35
jerk_mps3 = 0.5
[limits.backward]
accel_mps2 = 0.12
decel_mps2 = 0.25
jerk_mps3 = 0.25
[watchdog]
drive_read_timeout_s = 0.5
input_read_timeout_s = 0.5
"""
    path = tmp_path / "m.toml"
    path.write_text(text)
    return path


def test_50_hz_does_not_fit_at_19200_baud(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_session(
            machine(tmp_path, 19200, 50.0),
            ROOT / "profiles/demo-short.toml",
            None,
        )
    (problem,) = info.value.problems
    assert problem.field == "loop.rate_hz"
    assert "3 transactions at 19200 baud" in problem.reason
    assert "use at most 14 Hz or a higher baud rate" in problem.reason


@pytest.mark.parametrize(("baud", "rate"), [(19200, 14.0), (115200, 50.0), (38400, 25.0)])
def test_rates_that_fit_are_accepted(tmp_path: Path, baud: int, rate: float) -> None:
    load_session(machine(tmp_path, baud, rate), ROOT / "profiles/demo-short.toml", None)
