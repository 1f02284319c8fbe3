"""Modbus RTU wire time: what a baud rate can carry in one control cycle.

One RTU character is 11 bits (start, 8 data, parity or a second stop, stop) and
frames are separated by at least 3.5 characters of silence.
"""

from __future__ import annotations

from dataclasses import dataclass

BITS_PER_CHAR = 11
SILENCE_CHARS = 3.5
# The shortest silence taken as the end of a frame: 3.5 characters is 0.33 ms at 115200
# baud, but USB adapters and ptys deliver bytes in bursts with gaps of a millisecond.
MIN_SILENCE_S = 0.002


def silence_s(baudrate: int) -> float:
    """The silence that separates two RTU frames: 3.5 characters, at least MIN_SILENCE_S."""
    return max(SILENCE_CHARS * BITS_PER_CHAR / baudrate, MIN_SILENCE_S)


def frame_s(n_bytes: int, baudrate: int) -> float:
    return (n_bytes + SILENCE_CHARS) * BITS_PER_CHAR / baudrate


def read_registers_bytes(count: int) -> tuple[int, int]:
    """(request, response) bytes of function 0x03."""
    return 8, 5 + 2 * count


def write_registers_bytes(count: int, single_function: int = 6) -> tuple[int, int]:
    """(request, response) bytes of function 0x10 (0x06 for one register: 8, 8, unless the
    drive takes single writes as 0x10 too)."""
    if count == 1 and single_function == 6:
        return 8, 8
    return 9 + 2 * count, 8


def read_inputs_bytes(count: int) -> tuple[int, int]:
    """(request, response) bytes of function 0x02."""
    return 8, 5 + (count + 7) // 8


def transaction_s(request_bytes: int, response_bytes: int, baudrate: int) -> float:
    return frame_s(request_bytes, baudrate) + frame_s(response_bytes, baudrate)


@dataclass(frozen=True)
class CycleWire:
    transactions: int
    seconds: float

    def max_rate_hz(self, budget_fraction: float) -> float:
        return budget_fraction / self.seconds


def rtu_cycle(
    baudrate: int,
    response_delay_s: float,
    drive_reads: list[int],
    drive_writes: list[int],
    input_reads: list[int],
    single_function: int = 6,
) -> CycleWire:
    """Bus time of one control cycle: the drive's reads and writes, the inputs' reads."""
    pairs = [read_registers_bytes(n) for n in drive_reads]
    pairs += [write_registers_bytes(n, single_function) for n in drive_writes]
    pairs += [read_inputs_bytes(n) for n in input_reads]
    seconds = sum(transaction_s(q, r, baudrate) + response_delay_s for q, r in pairs)
    return CycleWire(len(pairs), seconds)
