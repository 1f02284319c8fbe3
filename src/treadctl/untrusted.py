"""Decoding input nobody vouches for: bounded before parsing, refused with a reason.

Every way in (socket lines, MQTT payloads, config files) goes through here or through
the same rules: a size limit and a nesting-depth limit checked on the raw bytes before
any decoder runs, strict UTF-8 without a byte-order mark, no lone surrogates, no
non-finite numbers, no integers too long to be a quantity. Whatever goes wrong comes
back as one exception type, `InputRefusedError`, whose text says why in words; nothing else
(RecursionError, OverflowError, UnicodeError, ValueError) escapes.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_INT_DIGITS = 19  # an int64; nothing treadctl counts needs more
_BRACKETS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class InputRefusedError(ValueError):
    """Input refused before (or while) decoding it; the text says why."""


def check_depth(data: bytes, max_depth: int) -> None:
    """Refuse JSON nested deeper than `max_depth` without parsing it.

    Brackets inside strings do not count. The fast path (fewer brackets than the limit
    in the whole text) costs two C-level counts; only input that could be too deep is
    scanned.
    """
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return
    depth = 0
    for match in _BRACKETS.finditer(data):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                raise InputRefusedError(f"nested deeper than {max_depth} levels")
        elif token in (b"]", b"}"):
            depth -= 1


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InputRefusedError(f"number {text[:24]} is out of range (not finite)")
    return value


def _bounded_int(text: str) -> int:
    digits = len(text) - (text[0] == "-")
    if digits > MAX_INT_DIGITS:
        raise InputRefusedError(f"integer of {digits} digits is out of range")
    return int(text)


def _no_constant(text: str) -> Any:
    raise InputRefusedError(f"{text} is not a number (non-finite numbers are refused)")


def check_text(value: str, where: str = "text") -> None:
    """Refuse a string that cannot be written as UTF-8 (a lone surrogate)."""
    if value.isascii():
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputRefusedError(f"{where}: not valid Unicode text ({exc.reason})") from None


def _check_strings(value: Any, depth: int = 0) -> None:
    if isinstance(value, str):
        check_text(value, "a string")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, "a key")
            _check_strings(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item, depth + 1)


def decode_json(data: bytes, *, max_bytes: int, max_depth: int) -> Any:
    """Parse untrusted JSON; raises `InputRefusedError` with the reason, never anything else."""
    if len(data) > max_bytes:
        raise InputRefusedError(f"larger than {max_bytes} bytes")
    if data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        raise InputRefusedError("starts with a byte-order mark (send plain UTF-8)")
    check_depth(data, max_depth)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputRefusedError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        value = json.loads(
            text,
            parse_float=_finite_float,
            parse_int=_bounded_int,
            parse_constant=_no_constant,
        )
    except InputRefusedError:
        raise
    except json.JSONDecodeError as exc:
        raise InputRefusedError(
            f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except (RecursionError, ValueError, OverflowError, MemoryError) as exc:
        raise InputRefusedError(f"not decodable ({type(exc).__name__})") from None
    _check_strings(value)
    return value


def printable(value: str, limit: int = 200) -> str:
    """A string safe to log, store and send: lone surrogates escaped, length capped."""
    if not value.isascii():
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value if len(value) <= limit else value[: limit - 1] + "…"


def finite_or_text(value: float) -> float | str:
    """A float as JSON can carry it: non-finite ones become their name ("inf", "nan")."""
    return value if math.isfinite(value) else repr(value)
