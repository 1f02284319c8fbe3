"""Exporting one session: its samples as CSV, or everything as one JSON document."""

from __future__ import annotations

import csv
import json
import sqlite3
from typing import Any, TextIO

from treadctl.store import queries


def _cell(value: Any) -> Any:
    return "" if value is None else value


def write_csv(conn: sqlite3.Connection, session_id: int, out: TextIO) -> int:
    """Write the samples, one row each, with a header; return the number of rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(queries.SAMPLE_COLUMNS)
    n = 0
    for row in queries.samples(conn, session_id):
        writer.writerow([_cell(v) for v in row])
        n += 1
    return n


def session_document(conn: sqlite3.Connection, session: dict[str, Any]) -> dict[str, Any]:
    """The session row, its segment results, its events and its samples."""
    session_id = session["id"]
    rails = (queries.SAMPLE_COLUMNS.index("rail_left"), queries.SAMPLE_COLUMNS.index("rail_right"))
    samples = []
    for row in queries.samples(conn, session_id):
        values = list(row)
        for i in rails:
            if values[i] is not None:
                values[i] = bool(values[i])
        samples.append(dict(zip(queries.SAMPLE_COLUMNS, values, strict=True)))
    return {
        "session": session,
        "segments": queries.segments(conn, session_id),
        "events": queries.events(conn, session_id),
        "samples": samples,
    }


def write_json(conn: sqlite3.Connection, session: dict[str, Any], out: TextIO) -> None:
    json.dump(session_document(conn, session), out, indent=1)
    out.write("\n")
