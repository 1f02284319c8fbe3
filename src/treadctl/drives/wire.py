"""Modbus RTU wire time: what a baud rate can carry in one control cycle.

One RTU character is 11 bits (start, 8 data, parity or a second stop, stop) and
frames are separated by at least 3.5 characters of silence.
"""

from __future__ import annotations

BITS_PER_CHAR = 11
SILENCE_CHARS = 3.5


def frame_s(n_bytes: int, baudrate: int) -> float:
    return (n_bytes + SILENCE_CHARS) * BITS_PER_CHAR / baudrate


def read_registers_bytes(count: int) -> tuple[int, int]:
    """(request, response) bytes of function 0x03."""
    return 8, 5 + 2 * count


def write_registers_bytes(count: int) -> tuple[int, int]:
    """(request, response) bytes of function 0x10 (0x06 for one register: 8, 8)."""
    if count == 1:
        return 8, 8
    return 9 + 2 * count, 8


def read_inputs_bytes(count: int) -> tuple[int, int]:
    """(request, response) bytes of function 0x02."""
    return 8, 5 + (count + 7) // 8


def transaction_s(request_bytes: int, response_bytes: int, baudrate: int) -> float:
    return frame_s(request_bytes, baudrate) + frame_s(response_bytes, baudrate)
