"""The Heart Rate Measurement characteristic (0x2A37) of the Bluetooth Heart Rate Service.

Layout (HRS 1.0, section 3.1): one flags byte, then the rate (uint8, or uint16 when flag
bit 0 is set), then energy expended (uint16, kJ) when bit 3 is set, then zero or more RR
intervals (uint16 each, in 1/1024 s) when bit 4 is set. Bits 1-2 are the sensor contact
status: 0b00/0b01 = contact not supported, 0b10 = supported but no contact, 0b11 =
supported and in contact. Bits 5-7 are reserved.

Frames come off the air from any device, so the decoder refuses anything it cannot
account for byte by byte: a short frame, trailing bytes no flag announces, an odd RR
tail, reserved bits set (a later spec revision could add fields we would misread).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

HEART_RATE_SERVICE_UUID16 = 0x180D
HEART_RATE_MEASUREMENT_UUID16 = 0x2A37

# The largest attribute value ATT can carry (Core spec Vol 3 Part F 3.2.9); a frame
# longer than that did not come from a conforming strap.
MAX_FRAME_BYTES = 512
RR_UNITS_PER_S = 1024

FLAG_RATE_UINT16 = 0x01
FLAG_CONTACT_DETECTED = 0x02
FLAG_CONTACT_SUPPORTED = 0x04
FLAG_ENERGY_EXPENDED = 0x08
FLAG_RR_INTERVALS = 0x10
FLAGS_RESERVED = 0xE0


class FrameError(ValueError):
    """A measurement frame that does not follow the spec; the text says how."""


class Contact(enum.Enum):
    UNSUPPORTED = "unsupported"  # the strap does not report skin contact
    LOST = "lost"  # the strap supports contact detection and has none
    DETECTED = "detected"


@dataclass(frozen=True)
class Measurement:
    bpm: int
    contact: Contact
    energy_kj: int | None
    rr_intervals_s: tuple[float, ...]

    @property
    def has_signal(self) -> bool:
        """False when the strap says it is off the skin: its rate then means nothing."""
        return self.contact is not Contact.LOST


def decode(frame: bytes) -> Measurement:
    """Decode one notification; raises FrameError for anything not per the spec."""
    if len(frame) > MAX_FRAME_BYTES:
        raise FrameError(f"frame of {len(frame)} bytes is longer than {MAX_FRAME_BYTES}")
    if len(frame) < 2:
        raise FrameError(f"frame of {len(frame)} bytes is too short (flags and a rate)")
    flags = frame[0]
    if flags & FLAGS_RESERVED:
        raise FrameError(f"reserved flag bits set (flags 0x{flags:02x})")
    offset = 1
    if flags & FLAG_RATE_UINT16:
        if len(frame) < offset + 2:
            raise FrameError("flags announce a 16-bit rate but the frame ends")
        (bpm,) = struct.unpack_from("<H", frame, offset)
        offset += 2
    else:
        bpm = frame[offset]
        offset += 1
    if flags & FLAG_CONTACT_SUPPORTED:
        contact = Contact.DETECTED if flags & FLAG_CONTACT_DETECTED else Contact.LOST
    else:
        contact = Contact.UNSUPPORTED
    energy_kj: int | None = None
    if flags & FLAG_ENERGY_EXPENDED:
        if len(frame) < offset + 2:
            raise FrameError("flags announce energy expended but the frame ends")
        (energy_kj,) = struct.unpack_from("<H", frame, offset)
        offset += 2
    rr: tuple[float, ...] = ()
    if flags & FLAG_RR_INTERVALS:
        tail = len(frame) - offset
        if tail == 0 or tail % 2:
            raise FrameError(f"flags announce RR intervals but {tail} bytes follow")
        count = tail // 2
        raw = struct.unpack_from(f"<{count}H", frame, offset)
        rr = tuple(units / RR_UNITS_PER_S for units in raw)
    elif len(frame) != offset:
        raise FrameError(f"{len(frame) - offset} bytes after the last announced field")
    return Measurement(bpm, contact, energy_kj, rr)


def encode(
    bpm: int,
    contact: Contact = Contact.DETECTED,
    energy_kj: int | None = None,
    rr_intervals_s: tuple[float, ...] = (),
    *,
    force_uint16: bool = False,
) -> bytes:
    """A frame as a strap sends it (for the emulated strap and the tests)."""
    flags = 0
    if bpm > 0xFF or force_uint16:
        flags |= FLAG_RATE_UINT16
        body = struct.pack("<H", bpm)
    else:
        body = struct.pack("<B", bpm)
    if contact is not Contact.UNSUPPORTED:
        flags |= FLAG_CONTACT_SUPPORTED
        if contact is Contact.DETECTED:
            flags |= FLAG_CONTACT_DETECTED
    if energy_kj is not None:
        flags |= FLAG_ENERGY_EXPENDED
        body += struct.pack("<H", energy_kj)
    if rr_intervals_s:
        flags |= FLAG_RR_INTERVALS
        body += b"".join(struct.pack("<H", round(s * RR_UNITS_PER_S)) for s in rr_intervals_s)
    return bytes([flags]) + body
