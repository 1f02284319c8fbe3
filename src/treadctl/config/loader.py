"""TOML loading into pydantic models, with errors that say where and why.

A config file is input nobody vouches for until it is checked: a typo, a truncated
copy, a path to the wrong thing, a fuzzer. Before tomllib sees a byte, `read_toml`
makes sure the path is a regular file (never a FIFO, a device or a directory: reading
one could block, never end, or touch hardware), reads at most `MAX_FILE_BYTES` + 1
bytes, and scans the text for nesting deeper than `MAX_DEPTH` and dotted keys of more
than `MAX_KEY_PARTS` parts (tomllib recurses on the first and is slow on the second).
Whatever still goes wrong while decoding becomes a `ConfigError` naming the file and
the reason; nothing escapes as a traceback. Non-finite numbers (TOML's inf and nan)
are refused by the models themselves (`allow_inf_nan=False` in their base class).

A model's problems name the line and column of the field's key (`positions`: one more
linear pass, over text that has parsed and is within the limits above, made only when
there is a problem to place), the field's path as written in the file, the field meant
by a misspelt one, and bounds with the field's unit (`messages`).
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from treadctl.config.errors import ConfigError, ConfigProblem, FieldError
from treadctl.config.messages import bound_in_words, did_you_mean, file_path
from treadctl.config.positions import TomlPositions

ModelT = TypeVar("ModelT", bound=BaseModel)

# The largest shipped config file is under 3 KB: 256 KiB leaves room for any file
# written by hand and bounds what one file costs to read, scan and parse (about a
# second for the worst text within the other limits; tomllib parses ~1 MB/s).
MAX_FILE_BYTES = 256 * 1024
# Levels of nesting: brackets ([ and {, table headers included) open at once in the
# text, and levels of tables and arrays below the top table in the parsed data (where
# dotted keys and table headers add levels too). The shipped files use at most 5.
MAX_DEPTH = 32
# Parts of one dotted key, in a key or a table header: `limits.forward.accel_mps2` has 3.
MAX_KEY_PARTS = 16
FINITE = "must be a finite number (inf and nan are refused)"
UNKNOWN = "unknown field (check the spelling)"

# What the limit scanner looks at: strings (multi-line ones first) and comments, only
# to skip over them; brackets; dots; and what ends a dotted key (=, comma, newline).
_TOML_TOKENS = re.compile(
    "|".join(
        (
            r'"""(?:[^"\\]|\\.|"(?!""))*""""{0,2}',  # multi-line basic string
            r"'''(?:[^']|'(?!''))*''''{0,2}",  # multi-line literal string
            r'"(?:[^"\\\n]|\\.)*"',  # basic string
            r"'[^'\n]*'",  # literal string
            r"#[^\n]*",  # comment
            r"[\[\]{}.=,\n]",
        )
    ),
    re.DOTALL,
)
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def field_path(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic location as `blocks[0].segments[2].speed_kmh`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def problems_from_validation(
    source: str,
    err: ValidationError,
    model: type[BaseModel] | None = None,
    text: str | None = None,
) -> list[ConfigProblem]:
    """One problem per pydantic error, worded for the file's reader.

    With the `model` that was validated, a field is named by its path in the file (no
    union member tags), a misspelt field gets a "did you mean", and a bound its unit;
    with the `text` the data was parsed from, each problem says on which line and
    column its field is (or, for a missing field, the table it is missing from).
    """
    positions = None if text is None else _positions(text)
    problems = []
    for item in err.errors(include_url=False):
        loc = tuple(p for p in item["loc"] if isinstance(p, int | str))
        owner = None
        if model is not None:
            loc, owner = file_path(model, loc)
        name = str(loc[-1]) if loc and isinstance(loc[-1], str) else ""
        msg = item["msg"]
        if item["type"] == "extra_forbidden":
            nearest = did_you_mean(owner, name)
            msg = UNKNOWN if nearest is None else f"unknown field; did you mean {nearest}?"
        elif item["type"] == "finite_number":
            msg = FINITE
        elif model is not None:
            named = next((str(p) for p in reversed(loc) if isinstance(p, str)), "")
            msg = bound_in_words(item["type"], item.get("ctx", {}), item["input"], named) or msg
        blamed = item.get("ctx", {}).get("error")
        if isinstance(blamed, FieldError):
            loc = (*loc, *blamed.field.split("."))
            msg = blamed.reason
        at = None
        if positions is not None:
            at = positions.find(loc)
            if at is None and item["type"] == "missing" and len(loc) > 1:
                at = positions.find(loc[:-1])  # the table it is missing from
        line, column = at if at is not None else (None, None)
        problems.append(ConfigProblem(source, field_path(loc), msg, line, column))
    return problems


def _positions(text: str) -> TomlPositions | None:
    """The text's key positions; None if the scan fails (a problem without a line
    is better than no problem)."""
    try:
        return TomlPositions(text)
    except (RecursionError, MemoryError, ValueError, IndexError, KeyError, TypeError):
        return None


def text_limit_problem(text: str) -> str | None:
    """Why `text` is refused before parsing (too deep, too long a dotted key), or None.

    Brackets and dots inside strings and comments do not count; a table header's
    brackets and dots do. Files far from the limits (nearly all) cost two C-level counts
    each; only a file that could break a limit is scanned, and the scan stops at the
    first break.
    """
    may_nest = text.count("[") + text.count("{") > MAX_DEPTH
    may_chain = text.count(".") >= MAX_KEY_PARTS
    if not (may_nest or may_chain):
        return None
    depth = dots = 0
    for match in _TOML_TOKENS.finditer(text):
        c = match.group()[0]
        if c in "[{":
            depth += 1
            dots = 0
            if depth > MAX_DEPTH:
                return f"nested deeper than {MAX_DEPTH} levels"
        elif c in "]}":
            depth = max(0, depth - 1)
            dots = 0
        elif c == ".":
            dots += 1
            if dots >= MAX_KEY_PARTS:
                return f"a dotted key of more than {MAX_KEY_PARTS} parts"
        elif c in "=,\n#":
            dots = 0
        # a string: one part of a dotted key, or a value; the count goes on
    return None


def _too_deep(data: Any) -> bool:
    """Whether the parsed data nests more than MAX_DEPTH levels below the top table
    (without recursion: the check must not be what overflows)."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, level = stack.pop()
        children = value.values() if isinstance(value, dict) else value
        for child in children:
            if isinstance(child, dict | list):
                if level + 1 > MAX_DEPTH:
                    return True
                stack.append((child, level + 1))
    return False


def loads_toml(text: str, source: Path | str) -> dict[str, Any]:
    """Parse TOML text within the limits; any failure is a ConfigError naming `source`."""
    refused = text_limit_problem(text)
    if refused is not None:
        raise ConfigError.single(source, "", refused)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError.single(source, "", f"TOML syntax error: {exc}") from None
    except RecursionError:
        raise ConfigError.single(source, "", "nested too deeply to decode") from None
    except MemoryError:
        raise ConfigError.single(source, "", "too large to decode (out of memory)") from None
    except (ValueError, OverflowError) as exc:
        # e.g. an integer of thousands of digits (Python's int conversion limit)
        reason = str(exc).split(":")[0][:120] or type(exc).__name__
        raise ConfigError.single(source, "", f"a value cannot be decoded: {reason}") from None
    if _too_deep(data):
        raise ConfigError.single(source, "", f"nested deeper than {MAX_DEPTH} levels")
    return data


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(path: Path, mode: int) -> ConfigError:
    kind = next((name for test, name in _KINDS if test(mode)), "of another kind")
    return ConfigError.single(path, "", f"not a regular file: {kind}")


def read_capped(path: Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """At most `max_bytes` + 1 bytes of a regular file; anything else is refused.

    stat first, so a device or a FIFO is never even opened (opening a serial port can
    toggle its lines); then open without blocking and check the opened file again, in
    case the path changed in between.
    """
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(path, st.st_mode)
    if st.st_size > max_bytes:
        raise _too_large(path, max_bytes)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, mode)
        chunks: list[bytes] = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def _too_large(path: Path, max_bytes: int = MAX_FILE_BYTES) -> ConfigError:
    return ConfigError.single(
        path, "", f"larger than {max_bytes} bytes (the limit for a config file)"
    )


def read_toml(path: Path) -> dict[str, Any]:
    return _read_toml(path)[1]


def _read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    """The file's text and its data, within the limits."""
    try:
        raw = read_capped(path)
    except OSError as exc:
        raise ConfigError.single(path, "", f"cannot read file: {exc.strerror or exc}") from exc
    if len(raw) > MAX_FILE_BYTES:
        raise _too_large(path)
    if raw.startswith(_BOMS):
        raise ConfigError.single(
            path, "", "starts with a byte-order mark (save it as UTF-8 without one)"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError.single(path, "", f"not UTF-8 text: {exc.reason}") from exc
    return text, loads_toml(text, path)


def load_model(path: Path, model: type[ModelT]) -> ModelT:
    text, data = _read_toml(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(str(path), exc, model, text)) from exc
