"""An independent decoder of Modbus request frames, for the golden-frame tests.

Written from the Modbus specifications only (Modbus Application Protocol V1.1b3,
Modbus over Serial Line V1.02, Modbus Messaging on TCP/IP V1.0b): it does not import
treadctl (no register map, regmap, frames.py) nor pymodbus, so a mistake in the code
that builds the frames is not repeated in the code that reads them.

It knows the three requests treadctl sends to a drive: 03 read holding registers,
06 write single register, 0x10 write multiple registers. Anything else, a bad CRC, a
length that does not match what the function code and byte count say, or a count or
value out of the ranges the spec allows, is refused with `FrameError`.
"""

from __future__ import annotations

from dataclasses import dataclass

READ_HOLDING = 0x03
WRITE_SINGLE = 0x06
WRITE_MULTIPLE = 0x10

MAX_READ = 125  # spec: 1..125 registers per 03
MAX_WRITE = 123  # spec: 1..123 registers per 0x10
MBAP_LEN = 7  # transaction id 2, protocol id 2, length 2, unit id 1


class FrameError(ValueError):
    """Not a well-formed request frame."""


@dataclass(frozen=True, slots=True)
class Request:
    unit: int
    function: int
    address: int  # PDU (zero-based) register address
    count: int
    values: tuple[int, ...]  # written values; empty for a read

    def describe(self) -> str:
        if self.function == READ_HOLDING:
            return f"unit {self.unit} fc 03 read {self.count} at 0x{self.address:04x}"
        vals = ", ".join(f"0x{v:04x}" for v in self.values)
        fc = "06" if self.function == WRITE_SINGLE else "10"
        return f"unit {self.unit} fc {fc} write 0x{self.address:04x} = [{vals}]"


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS: reflected polynomial 0xA001, initial value 0xFFFF, no final xor.
    On the wire the low byte goes first."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _u16(data: bytes, at: int) -> int:
    return (data[at] << 8) | data[at + 1]  # big-endian, as every Modbus field


def pdu_length(pdu_start: bytes) -> int | None:
    """Length of a request PDU from its first bytes (None: more bytes needed)."""
    if not pdu_start:
        return None
    function = pdu_start[0]
    if function in (READ_HOLDING, WRITE_SINGLE):
        return 5
    if function == WRITE_MULTIPLE:
        return None if len(pdu_start) < 6 else 6 + pdu_start[5]
    raise FrameError(f"function 0x{function:02x} is not a request this decoder knows")


def decode_pdu(unit: int, pdu: bytes) -> Request:
    """Function code and data of one request, checked against the spec's layout."""
    if not pdu:
        raise FrameError("empty PDU")
    function = pdu[0]
    expected = pdu_length(pdu)
    if expected is None or len(pdu) != expected:
        raise FrameError(f"function 0x{function:02x}: PDU of {len(pdu)} bytes, want {expected}")
    address = _u16(pdu, 1)
    if function == READ_HOLDING:
        count = _u16(pdu, 3)
        if not 1 <= count <= MAX_READ:
            raise FrameError(f"read of {count} registers (1..{MAX_READ})")
        values: tuple[int, ...] = ()
    elif function == WRITE_SINGLE:
        count, values = 1, (_u16(pdu, 3),)
    else:
        count, byte_count = _u16(pdu, 3), pdu[5]
        if not 1 <= count <= MAX_WRITE:
            raise FrameError(f"write of {count} registers (1..{MAX_WRITE})")
        if byte_count != 2 * count:
            raise FrameError(f"byte count {byte_count} for {count} registers")
        values = tuple(_u16(pdu, 6 + 2 * i) for i in range(count))
    if address + count > 0x10000:
        raise FrameError(f"{count} registers from 0x{address:04x} run past 0xffff")
    return Request(unit, function, address, count, values)


def decode_rtu(frame: bytes) -> Request:
    """One Modbus RTU request ADU: unit id, PDU, CRC (low byte first)."""
    if len(frame) < 4:
        raise FrameError(f"{len(frame)} bytes: too short for an RTU frame")
    body, crc = frame[:-2], frame[-2] | (frame[-1] << 8)
    if crc16_modbus(body) != crc:
        raise FrameError(f"bad CRC 0x{crc:04x}, want 0x{crc16_modbus(body):04x}")
    unit = body[0]
    if unit > 247:
        raise FrameError(f"unit id {unit}: 248..255 are reserved on a serial line")
    return decode_pdu(unit, body[1:])


def decode_tcp(adu: bytes) -> tuple[int, Request]:
    """One Modbus TCP request ADU: MBAP header (transaction id, protocol id 0, length
    of unit id + PDU, unit id) and PDU. Returns the transaction id and the request."""
    if len(adu) < MBAP_LEN + 1:
        raise FrameError(f"{len(adu)} bytes: too short for a TCP ADU")
    transaction, protocol, length = _u16(adu, 0), _u16(adu, 2), _u16(adu, 4)
    if protocol != 0:
        raise FrameError(f"protocol id {protocol}, want 0 (Modbus)")
    if length != len(adu) - 6:
        raise FrameError(f"MBAP length {length} for {len(adu) - 6} bytes after it")
    return transaction, decode_pdu(adu[6], adu[MBAP_LEN:])


def rtu_pdu(frame: bytes) -> tuple[int, bytes]:
    """Unit id and PDU of a checked RTU frame."""
    decode_rtu(frame)
    return frame[0], frame[1:-2]


def tcp_pdu(adu: bytes) -> tuple[int, bytes]:
    """Unit id and PDU of a checked TCP ADU."""
    decode_tcp(adu)
    return adu[6], adu[MBAP_LEN:]


def split_rtu_stream(data: bytes) -> list[bytes]:
    """Cut a byte stream of back-to-back RTU requests into frames by their own length
    fields, checking each one; leftover bytes are refused."""
    frames: list[bytes] = []
    at = 0
    while at < len(data):
        pdu_len = pdu_length(data[at + 1 : at + 7])
        if pdu_len is None:
            raise FrameError(f"{len(data) - at} byte(s) at offset {at}: a truncated frame")
        end = at + 1 + pdu_len + 2
        if end > len(data):
            raise FrameError(f"frame at offset {at} needs {end - at} bytes, has {len(data) - at}")
        frame = data[at:end]
        decode_rtu(frame)
        frames.append(frame)
        at = end
    return frames
