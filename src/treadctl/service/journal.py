"""Log lines for the journal: when stdout goes to journald (JOURNAL_STREAM names it),
each line gets an sd-daemon priority prefix ("<4>...") and loses our own timestamp
(the journal stamps every line itself). Otherwise the lines are left as they are.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

# sd-daemon priorities (syslog levels)
ERR = 3
WARNING = 4
NOTICE = 5
INFO = 6

_ERRORS = frozenset({"controller_error"})
_WARNINGS = frozenset(
    {"drive_fault", "drive_warning", "read_failed", "write_failed", "warning", "warnings"}
)
_NOTICES = frozenset(
    {"connect", "session_start", "session_end", "command", "transition", "fault_injected"}
)
_TIMESTAMP = re.compile(r"^\d{2,}:\d{2}\.\d {2}")  # format_event's "mm:ss.s  "
MAX_JOURNAL_STREAM_CHARS = 64

Formatter = Callable[[dict[str, Any]], str | None]


def priority(record: Mapping[str, Any]) -> int:
    """The record's syslog level: errors 3, faults and warnings 4, state changes 5."""
    kind = record.get("kind")
    if kind in _ERRORS:
        return ERR
    if kind in _WARNINGS:
        return WARNING
    if kind == "transition" and record.get("new") == "faulted":
        return WARNING
    if kind in _NOTICES:
        return NOTICE
    return INFO


def journal_line(level: int, line: str) -> str:
    """Each physical line prefixed (journald reads the prefix per line), no timestamp."""
    return "\n".join(f"<{level}>{_TIMESTAMP.sub('', part, count=1)}" for part in line.split("\n"))


def journal_formatter(inner: Formatter) -> Formatter:
    """`inner`'s lines for the journal: same records shown, prefixed, unstamped."""

    def fmt(record: dict[str, Any]) -> str | None:
        line = inner(record)
        return None if line is None else journal_line(priority(record), line)

    return fmt


def goes_to_journal(env: Mapping[str, str], fd: int) -> bool:
    """True when `fd` is the stream systemd connected to journald: JOURNAL_STREAM is
    "device:inode" of that stream, compared as systemd advises (a redirected stream,
    e.g. `serve > file` in a unit's ExecStart shell, is not the journal)."""
    value = env.get("JOURNAL_STREAM", "")
    if not value or len(value) > MAX_JOURNAL_STREAM_CHARS:
        return False
    dev_text, sep, ino_text = value.partition(":")
    if not sep or not dev_text.isdigit() or not ino_text.isdigit():
        return False
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    return st.st_dev == int(dev_text) and st.st_ino == int(ino_text)
