"""The event log with hostile text and a failing disk: every line JSON, nothing silent."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest

from treadctl.store.eventlog import EventLog


def test_surrogates_and_non_finite_numbers_are_written_as_json(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl")
    seen: list[dict[str, object]] = []
    log.add_sink(seen.append)
    log.write(1.0, 0.0, "sim_input", value=math.inf, client="\ud800dash", nested=[math.nan])
    log.write(2.0, 0.0, "note\udfff", text="x" * 10_000)
    log.close()
    lines = (tmp_path / "events.jsonl").read_bytes().decode("utf-8").splitlines()
    records = [json.loads(line, parse_constant=pytest.fail) for line in lines]
    assert records[0]["value"] == "inf"
    assert records[0]["client"] == "\\ud800dash"
    assert records[0]["nested"] == ["nan"]
    assert records[1]["kind"] == "note\\udfff"
    assert len(records[1]["text"]) == 2000
    assert seen[0]["client"] == "\\ud800dash"  # the sinks (database, clients) get it clean
    with sqlite3.connect(tmp_path / "db.sqlite") as db:  # and SQLite takes it as it is
        db.execute("create table t (s text)")
        db.execute("insert into t values (?)", (seen[0]["client"],))
    assert log.write_errors == 0


def test_a_write_error_is_reported_and_the_log_goes_on(capsys: pytest.CaptureFixture[str]) -> None:
    log = EventLog(Path("/dev/full"))  # every write fails: no space left on device
    for i in range(5):
        log.write(float(i), 0.0, "command", command="stop")
    log.close()
    assert log.write_errors >= 1
    err = capsys.readouterr().err
    assert "event log /dev/full: could not write a " in err
    assert "No space left on device" in err
    assert err.count("could not write") == 1  # said once per run of failures, all counted
    assert len(log.records) == 5
