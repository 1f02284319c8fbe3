"""JSON-lines event log written by a thread, so the control loop never waits on the disk.

Sinks (`add_sink`) receive every record in the writing thread, as it is written: a sink
must only hand the record on (an append to a queue), never block. A sink's error never
reaches the writer (the control loop).
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

_STOP = object()


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
            "kind": kind,
            **fields,
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
            if self._file is not None:
                self._file.write(json.dumps(item, separators=(",", ":")) + "\n")
            if self._echo is not None and self._formatter is not None:
                line = self._formatter(item)
                if line is not None:
                    self._echo.write(line + "\n")
            if self._queue.empty():
                if self._file is not None:
                    self._file.flush()
                if self._echo is not None:
                    self._echo.flush()
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=5)
            self._thread = None
        if self._file is not None:
            self._file.close()
            self._file = None
