"""The 0x2A37 decoder against byte strings written from the HRS 1.0 spec, section 3.1."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from treadctl.heartrate.hrs import MAX_FRAME_BYTES, Contact, FrameError, decode, encode


def test_8_bit_rate_without_contact_support() -> None:
    m = decode(bytes([0x00, 72]))
    assert m.bpm == 72
    assert m.contact is Contact.UNSUPPORTED
    assert m.has_signal
    assert m.energy_kj is None
    assert m.rr_intervals_s == ()


def test_16_bit_rate_little_endian() -> None:
    assert decode(bytes([0x01, 0x2C, 0x01])).bpm == 300  # 0x012C
    assert decode(bytes([0x01, 72, 0x00])).bpm == 72  # a strap may always send 16 bits


@pytest.mark.parametrize(
    ("flags", "contact"),
    [
        (0b000, Contact.UNSUPPORTED),
        (0b010, Contact.UNSUPPORTED),  # bit 1 without bit 2 still means "not supported"
        (0b100, Contact.LOST),
        (0b110, Contact.DETECTED),
    ],
)
def test_sensor_contact_bits(flags: int, contact: Contact) -> None:
    m = decode(bytes([flags, 80]))
    assert m.contact is contact
    assert m.has_signal is (contact is not Contact.LOST)


def test_energy_expended_then_rr_intervals_in_1024ths() -> None:
    # flags: 16-bit rate, contact detected, energy, RR; 150 bpm, 1000 kJ, RR 1024 and 512
    frame = bytes([0x1F, 150, 0x00, 0xE8, 0x03, 0x00, 0x04, 0x00, 0x02])
    m = decode(frame)
    assert m.bpm == 150
    assert m.contact is Contact.DETECTED
    assert m.energy_kj == 1000
    assert m.rr_intervals_s == (1.0, 0.5)


def test_rr_without_energy() -> None:
    m = decode(bytes([0x16, 60, 0x01, 0x04]))  # RR 0x0401 = 1025/1024 s
    assert m.energy_kj is None
    assert m.rr_intervals_s == (1025 / 1024,)


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        (b"", "too short"),
        (b"\x00", "too short"),
        (b"\x01\x48", "16-bit rate"),
        (b"\x08\x48\x01", "energy"),
        (b"\x10\x48", "RR intervals but 0 bytes"),
        (b"\x10\x48\x00\x04\x00", "RR intervals but 3 bytes"),
        (b"\x00\x48\x00", "1 bytes after"),
        (b"\x08\x48\x00\x01\x02", "1 bytes after"),
        (b"\x20\x48", "reserved"),
        (b"\x80\x48", "reserved"),
        (bytes([0x10, 0x48]) + b"\x00\x04" * 300, "longer than"),
    ],
)
def test_hostile_frames_are_refused_with_a_reason(frame: bytes, why: str) -> None:
    with pytest.raises(FrameError, match=why):
        decode(frame)


def test_encode_is_what_decode_reads() -> None:
    frame = encode(300, Contact.LOST, 5, (0.75,))
    assert frame == bytes([0x1D, 0x2C, 0x01, 0x05, 0x00, 0x00, 0x03])
    m = decode(frame)
    assert (m.bpm, m.contact, m.energy_kj, m.rr_intervals_s) == (300, Contact.LOST, 5, (0.75,))


@settings(max_examples=2000)
@given(st.binary(max_size=MAX_FRAME_BYTES + 8))
def test_any_bytes_decode_or_raise_frame_error_only(frame: bytes) -> None:
    try:
        m = decode(frame)
    except FrameError:
        return
    assert 0 <= m.bpm <= 0xFFFF
    assert len(frame) <= MAX_FRAME_BYTES
    assert all(0 <= rr < 64 for rr in m.rr_intervals_s)
