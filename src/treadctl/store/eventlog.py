"""JSON-lines event log written by a thread, so the control loop never waits on the disk.

Sinks (`add_sink`) receive every record in the writing thread, as it is written: a sink
must only hand the record on (an append to a queue), never block. A sink's error never
reaches the writer (the control loop).

Fields may carry text from outside (client names, refusal reasons, payload fragments):
each record is made safe as it is written (lone surrogates escaped, non-finite numbers
written as their names), so every line is valid JSON and valid UTF-8, and the database
and the clients downstream get the same clean record. A failed write is reported on
stderr and counted (`write_errors`), and the log goes on with the next record.
"""

from __future__ import annotations

import contextlib
import json
import math
import queue
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from treadctl.untrusted import printable

_STOP = object()
MAX_TEXT_CHARS = 2000  # one field's text; longer text is cut with an ellipsis
MAX_FIELD_DEPTH = 4


def safe_value(value: Any, depth: int = 0) -> Any:
    """A field value that JSON, UTF-8 and SQLite all take as it is."""
    if isinstance(value, str):
        return printable(value, MAX_TEXT_CHARS)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if value is None or isinstance(value, bool | int):
        return value
    if depth >= MAX_FIELD_DEPTH:
        return printable(repr(value), MAX_TEXT_CHARS)
    if isinstance(value, list | tuple):
        return [safe_value(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {printable(str(k), 200): safe_value(v, depth + 1) for k, v in value.items()}
    return printable(str(value), MAX_TEXT_CHARS)


class EventLog:
    def __init__(
        self,
        path: Path | None,
        echo: TextIO | None = None,
        formatter: Callable[[dict[str, Any]], str | None] | None = None,
    ) -> None:
        self.path = path
        self._echo = echo
        self._formatter = formatter
        self.records: list[dict[str, Any]] = []  # kept in memory for the summary and timeline
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._sinks: list[Callable[[dict[str, Any]], None]] = []
        self._thread: threading.Thread | None = None
        self._file: TextIO | None = None
        self.write_errors = 0  # records that could not be written (reported on stderr)
        self._failing = False
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")
        if self._file is not None or self._echo is not None:
            self._thread = threading.Thread(target=self._drain, name="eventlog", daemon=True)
            self._thread.start()

    def add_sink(self, sink: Callable[[dict[str, Any]], None]) -> None:
        """Also hand every later record to `sink` (e.g. the session database recorder)."""
        self._sinks.append(sink)

    def write(self, t_s: float, wall_s: float, kind: str, **fields: Any) -> dict[str, Any]:
        record: dict[str, Any] = {
            "t_s": round(t_s, 4),
            "wall": datetime.fromtimestamp(wall_s, UTC).isoformat(timespec="milliseconds"),
            "kind": printable(kind, 64),
            **{printable(k, 64): safe_value(v) for k, v in fields.items()},
        }
        self.records.append(record)
        if self._thread is not None:
            self._queue.put(record)
        for sink in self._sinks:
            with contextlib.suppress(Exception):
                sink(record)
        return record

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            assert isinstance(item, dict)
            try:
                self._write_one(item)
            except Exception as exc:  # a disk or encoding error never ends the log
                self._report(item, exc)
            else:
                self._failing = False
        if self._file is not None:
            try:
                self._file.flush()
            except (OSError, ValueError) as exc:
                self._report({"kind": "(final flush)"}, exc)

    def _write_one(self, item: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps(item, separators=(",", ":"), allow_nan=False) + "\n")
        if self._echo is not None and self._formatter is not None:
            line = self._formatter(item)
            if line is not None:
                self._echo.write(line + "\n")
        if self._queue.empty():
            if self._file is not None:
                self._file.flush()
            if self._echo is not None:
                self._echo.flush()

    def _report(self, item: dict[str, Any], exc: Exception) -> None:
        """Count every lost record; say so on stderr at the first of a run of failures."""
        self.write_errors += 1
        if self._failing:
            return
        self._failing = True
        with contextlib.suppress(Exception):
            sys.stderr.write(
                f"event log {self.path}: could not write a {item.get('kind')!r} record: "
                f"{printable(str(exc), 300)} (the log goes on; lost records are counted)\n"
            )
            sys.stderr.flush()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=5)
            self._thread = None
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:  # the last flush failed: say so, never raise at the end
                self._report({"kind": "(final flush)"}, exc)
            self._file = None
