"""Does this answer belong to that request? Raw Modbus frames checked byte by byte.

pymodbus 3 frames and decodes answers loosely: it takes a function 04 answer to a
function 03 request, ignores bytes after the byte count, hunts through RTU garbage
for anything with a good CRC, skips (and logs) frames with a wrong transaction or
unit id, and raises out of `data_received` (an asyncio traceback, a closed
connection) on a function code it does not know or a byte count longer than the
frame. The link therefore checks every received byte against the request it sent
before pymodbus sees it: unit id, function code (or its exception form),
transaction and protocol id and the MBAP length (TCP), byte count, echoed address,
value and count of a write, exact length and CRC (RTU). Anything else is a bad
answer, with a reason in words.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

EXCEPTION_TEXTS = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "device failure",
    5: "acknowledge",
    6: "device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target failed to respond",
}

MBAP = 7  # transaction id 2, protocol id 2, length 2, unit id 1


def crc16(data: bytes) -> bytes:
    """Modbus RTU CRC, low byte first, as it goes on the wire."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc.to_bytes(2, "little")


class Verdict(enum.Enum):
    INCOMPLETE = "incomplete"  # a good beginning: wait for more bytes
    GOOD = "good"  # exactly one answer, matching the request
    BAD = "bad"  # not an answer to this request: `reason` says why


@dataclass(frozen=True, slots=True)
class Request:
    """What a request sent on the wire allows its answer to be."""

    tcp: bool
    unit: int
    function: int
    tid: int  # TCP only
    answer_pdu: int  # PDU bytes of a normal answer (function code included)
    byte_count: int | None  # reads: the byte count the answer must carry
    echo: bytes  # writes: the PDU bytes the answer must repeat (function code included)

    @property
    def what(self) -> str:
        return f"function {self.function:#04x} to unit {self.unit}"


def parse_request(adu: bytes, tcp: bool) -> Request | None:
    """The expectation for a request ADU, or None for a request this module does not know."""
    if tcp:
        if len(adu) < MBAP + 1:
            return None
        tid, unit, pdu = int.from_bytes(adu[0:2], "big"), adu[6], adu[MBAP:]
    else:
        if len(adu) < 4:
            return None
        tid, unit, pdu = 0, adu[0], adu[1:-2]
    fc = pdu[0]
    if fc in (1, 2, 3, 4) and len(pdu) >= 5:
        count = int.from_bytes(pdu[3:5], "big")
        byte_count = (count + 7) // 8 if fc in (1, 2) else 2 * count
        return Request(tcp, unit, fc, tid, 2 + byte_count, byte_count, b"")
    if fc in (5, 6) and len(pdu) >= 5:
        return Request(tcp, unit, fc, tid, 5, None, bytes(pdu[:5]))
    if fc in (15, 16) and len(pdu) >= 5:
        return Request(tcp, unit, fc, tid, 5, None, bytes(pdu[:5]))
    return None


def check_answer(buf: bytes, req: Request) -> tuple[Verdict, str]:
    """Judge the bytes received so far against the request (every prefix is judged)."""
    n = len(buf)
    if req.tcp:
        if n >= 2 and (tid := int.from_bytes(buf[0:2], "big")) != req.tid:
            return Verdict.BAD, f"wrong transaction id {tid} (sent {req.tid})"
        if n >= 4 and (pid := int.from_bytes(buf[2:4], "big")) != 0:
            return Verdict.BAD, f"wrong protocol id {pid} (Modbus is 0)"
        at = MBAP - 1  # unit id
    else:
        at = 0
    if n > at and buf[at] != req.unit:
        return Verdict.BAD, f"answer from unit {buf[at]} to a request to unit {req.unit}"
    if n <= at + 1:
        return Verdict.INCOMPLETE, ""
    fc = buf[at + 1]
    if fc == req.function:
        pdu_len = req.answer_pdu
    elif fc == req.function | 0x80:
        pdu_len = 2
    else:
        return Verdict.BAD, (
            f"wrong function code {fc:#04x} in the answer to a {req.function:#04x} request"
        )
    if req.tcp:
        length = int.from_bytes(buf[4:6], "big")
        if length != pdu_len + 1:
            return Verdict.BAD, (
                f"MBAP length field says {length} bytes, the answer has {pdu_len + 1}"
            )
        total = MBAP + pdu_len
    else:
        total = 1 + pdu_len + 2
    if (
        fc == req.function
        and req.byte_count is not None
        and n > at + 2
        and buf[at + 2] != req.byte_count
    ):
        return Verdict.BAD, (
            f"byte count {buf[at + 2]} in the answer, the request needs {req.byte_count}"
        )
    if n < total:
        return Verdict.INCOMPLETE, ""
    if n > total:
        return Verdict.BAD, f"{n - total} byte(s) after the end of the answer"
    if not req.tcp and buf[-2:] != crc16(buf[:-2]):
        return Verdict.BAD, "CRC error"
    pdu = buf[at + 1 : at + 1 + pdu_len]
    if fc != req.function:
        code = pdu[1]
        text = EXCEPTION_TEXTS.get(code, "unknown exception")
        return Verdict.BAD, f"device answered exception code {code} ({text})"
    if req.echo and pdu != req.echo:
        sent_a, sent_v = (int.from_bytes(req.echo[i : i + 2], "big") for i in (1, 3))
        got_a, got_v = (int.from_bytes(pdu[i : i + 2], "big") for i in (1, 3))
        field = "value" if req.function in (5, 6) else "count"
        return Verdict.BAD, (
            f"write echo differs: address {got_a} {field} {got_v}, sent address {sent_a} "
            f"{field} {sent_v}"
        )
    return Verdict.GOOD, ""


def split_answer(buf: bytes, req: Request) -> tuple[Verdict, int]:
    """Judge the answer to `req` at the start of `buf`, bytes after it allowed: the verdict
    and the answer's length (for a late answer followed by the next one on the line)."""
    at = MBAP if req.tcp else 1
    if len(buf) <= at:
        return check_answer(buf, req)[0], 0
    pdu_len = req.answer_pdu if buf[at] == req.function else 2
    total = at + pdu_len + (0 if req.tcp else 2)
    return check_answer(buf[:total], req)[0], total
