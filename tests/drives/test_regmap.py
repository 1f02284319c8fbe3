"""Register maps: golden command words from the manuals, decoding, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from treadctl.config.errors import ConfigError
from treadctl.drives.regmap import BUILTIN_MAPS, STATUS_ONLY_FAULT, load_map


@pytest.mark.parametrize(
    ("name", "run_fwd", "run_rev", "stop", "quick"),
    [
        ("delta-ms300", 0x0012, 0x0022, 0x0001, 0x0001),  # bits 1-0 run/stop, 5-4 fwd/rev
        ("yaskawa-a1000", 0x0001, 0x0002, 0x0000, 0x0000),  # bit 0 fwd run, bit 1 rev run
        ("abb-acs355", 0x047F, 0x047F, 0x047E, 0x047B),  # ABB drives profile, OFF3 = bit 2 low
        ("siemens-v20", 0x047F, 0x0C7F, 0x047E, 0x047B),  # STW, bit 11 reversal
        ("generic", 0x0001, 0x0003, 0x0000, 0x0004),
    ],
)
def test_command_words_match_the_manuals(
    name: str, run_fwd: int, run_rev: int, stop: int, quick: int
) -> None:
    m = load_map(name)
    assert m.command_word(run=True, reverse=False, quick=False) == run_fwd
    assert m.command_word(run=True, reverse=True, quick=False) == run_rev
    assert m.command_word(run=False, reverse=False, quick=False) == stop
    assert m.command_word(run=True, reverse=False, quick=True) == quick


def test_abb_reverses_by_a_negative_reference() -> None:
    m = load_map("abb-acs355")
    assert m.reference_counts(25.0, reverse=False) == 10000  # 20000 = 50 Hz
    assert m.reference_counts(25.0, reverse=True) == (-10000) & 0xFFFF
    assert m.decode_command(0x047F) == (True, None, False)  # direction by the sign


def test_reference_is_clamped_to_the_maps_maximum_frequency() -> None:
    m = load_map("delta-ms300")
    assert m.reference_counts(1000.0, reverse=False) == round(m.max_hz * 100)
    assert m.reference_counts(-5.0, reverse=False) == 0


@pytest.mark.parametrize("name", BUILTIN_MAPS)
@pytest.mark.parametrize(
    ("running", "reverse", "fault"),
    [(True, False, False), (True, True, False), (False, False, True)],
)
def test_status_encodes_and_decodes_back(
    name: str, running: bool, reverse: bool, fault: bool
) -> None:
    m = load_map(name)
    word = m.encode_status(running=running, reverse=reverse, fault=fault, ready=not fault)
    output = m.encode_output(12.5, reverse)
    decoded = m.decode_status(word, output, 7 if fault else 0)
    assert decoded.running is running
    assert decoded.ready is not fault
    assert decoded.output_hz == pytest.approx(12.5, abs=0.01)
    if running:
        assert decoded.reverse is reverse


def test_fault_codes_have_text() -> None:
    delta = load_map("delta-ms300")
    assert delta.fault_text(54) == "CE1: illegal communication command code"
    assert delta.fault_text(58) == "CE10: Modbus communication time-out"
    assert load_map("generic").fault_text(999) == "fault code 999 (not in the map)"
    assert load_map("generic").fault_text(9) == "communication time-out (watchdog)"


def test_delta_0x2100_holds_the_fault_low_and_the_warning_high() -> None:
    m = load_map("delta-ms300")
    decoded = m.decode_status(0x0002, 0, 58 << 8, 58 << 8)  # CE10 as a warning
    assert (decoded.fault_code, decoded.warning_code, decoded.ready) == (0, 58, True)
    decoded = m.decode_status(0x0002, 0, 58, 58)  # CE10 as a fault (P09-02 = 2)
    assert (decoded.fault_code, decoded.warning_code, decoded.ready) == (58, 0, False)
    assert m.warning_text(58).startswith("CE10")


def test_yaskawa_fault_contents_are_bits() -> None:
    m = load_map("yaskawa-a1000")
    assert m.fault_text(0x4001) == (
        "oC/GF: over-current or ground fault, CE: MEMOBUS communication error"
    )
    assert m.single_write_function == 16
    assert m.watchdog.apply_address == 0x0910


def test_abb_ready_is_rdy_on_without_switch_on_inhibit() -> None:
    m = load_map("abb-acs355")
    assert m.decode_status(0x0231, 0, 0).ready  # OFF1: RDY_ON, not RDY_RUN: ready
    assert not m.decode_status(0x0270, 0, 0).ready  # switch-on inhibited
    assert m.decode_status(0x0237, 500, 0).output_hz == 50.0  # 0103 in 0.1 Hz
    # 0401 LAST FAULT keeps its code after a reset: it counts only with TRIPPED set
    assert m.decode_status(0x0231, 0, 28).fault_code == 0
    assert m.decode_status(0x0238, 0, 28).fault_code == 28


def test_a_status_fault_bit_with_an_empty_fault_register_is_still_a_fault() -> None:
    m = load_map("generic")
    decoded = m.decode_status(0x0008, 0, 0)
    assert decoded.fault_code == STATUS_ONLY_FAULT
    assert not decoded.ready
    assert "status word" in m.fault_text(decoded.fault_code)


def test_unknown_map_names_the_choices() -> None:
    with pytest.raises(ConfigError) as info:
        load_map("delta-ms3000", "machines/x.toml: drive.map")
    (problem,) = info.value.problems
    assert problem.source == "machines/x.toml: drive.map"
    assert "unknown register map 'delta-ms3000'" in problem.reason
    assert "delta-ms300, yaskawa-a1000, abb-acs355, siemens-v20, generic" in problem.reason


def test_a_user_written_map_file(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "src/treadctl/drives/maps/generic.toml").read_text()
    path = tmp_path / "mine.toml"
    path.write_text(text.replace('name = "generic"', 'name = "my-gateway"'))
    assert load_map(str(path)).name == "my-gateway"


def test_a_bad_user_map_names_the_field(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "src/treadctl/drives/maps/generic.toml").read_text()
    path = tmp_path / "bad.toml"
    path.write_text(text.replace("counts_per_hz = 100\n", "counts_per_hz = -1\n", 1))
    with pytest.raises(ConfigError) as info:
        load_map(str(path))
    (problem,) = info.value.problems
    assert problem.field == "reference.counts_per_hz"
    assert problem.reason == "must be above 0 counts per Hz (-1 counts per Hz given)"


def test_run_words_must_differ_unless_reference_is_signed(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "src/treadctl/drives/maps/generic.toml").read_text()
    path = tmp_path / "same.toml"
    path.write_text(text.replace("run_reverse = 0x0003", "run_reverse = 0x0001"))
    with pytest.raises(ConfigError, match="signed_reverse"):
        load_map(str(path))
