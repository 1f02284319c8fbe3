"""Log lines for the journal: priority prefixes, no timestamps of ours, and only when
stdout really is the stream JOURNAL_STREAM names."""

from __future__ import annotations

import os
import time
from pathlib import Path

from service_kit import DEADLINE_S, start_serve, stop_serve

from treadctl.service.journal import goes_to_journal, journal_formatter, journal_line, priority
from treadctl.store.timeline import format_event


def test_priorities() -> None:
    assert priority({"kind": "controller_error"}) == 3
    assert priority({"kind": "drive_fault"}) == 4
    assert priority({"kind": "transition", "new": "faulted"}) == 4
    assert priority({"kind": "transition", "new": "running"}) == 5
    assert priority({"kind": "session_start"}) == 5
    assert priority({"kind": "notice"}) == 6
    assert priority({}) == 6


def test_lines_lose_our_timestamp_and_each_line_gets_a_prefix() -> None:
    assert journal_line(5, "01:02.3  command   stop") == "<5>command   stop"
    assert journal_line(6, "no stamp here") == "<6>no stamp here"
    assert journal_line(4, "00:00.0  a\n00:00.0  b") == "<4>a\n<4>b"
    fmt = journal_formatter(lambda r: format_event(r, 3))
    line = fmt({"kind": "controller_error", "t_s": 61.0, "error": "boom"})
    assert line is not None
    assert line.startswith("<3>")
    assert "01:01" not in line
    assert journal_formatter(lambda _r: None)({"kind": "x"}) is None


def test_only_the_stream_journal_stream_names(tmp_path: Path) -> None:
    f = tmp_path / "out"
    with f.open("w") as out:
        st = os.fstat(out.fileno())
        assert goes_to_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, out.fileno())
        assert not goes_to_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"}, out.fileno())
        for bad in ("", "1", "a:b", ":", "1:2:3", "9" * 100 + ":1"):
            assert not goes_to_journal({"JOURNAL_STREAM": bad}, out.fileno()), bad
        assert not goes_to_journal({}, out.fileno())


def run_serve_to_file(tmp: Path, short_dir: Path, journal: bool) -> list[str]:
    out_path = tmp / ("journal.txt" if journal else "plain.txt")
    api = short_dir / ("j.sock" if journal else "p.sock")
    with out_path.open("w") as out:
        st = os.fstat(out.fileno())
        env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"} if journal else {}
        proc = start_serve(api, tmp, env, stdout=out)
        try:
            deadline = time.monotonic() + DEADLINE_S
            while "segment" not in out_path.read_text():
                assert proc.poll() is None, out_path.read_text()
                assert time.monotonic() < deadline, out_path.read_text()
                time.sleep(0.05)
        finally:
            stop_serve(proc)
    return out_path.read_text().splitlines()


def test_serve_writes_journal_lines_when_stdout_is_the_journal(
    tmp_path: Path, short_dir: Path
) -> None:
    lines = run_serve_to_file(tmp_path, short_dir, journal=True)
    events = [ln for ln in lines if ln.startswith("<")]
    print("\n" + "\n".join(events))
    assert any(ln.startswith("<5>connect ") for ln in events), lines
    assert any(ln.startswith("<5>command   stop from signal") for ln in events), lines
    assert not any(ln[3:5].isdigit() and ln[5:6] == ":" for ln in events)  # no "mm:ss"
    plain = run_serve_to_file(tmp_path, short_dir, journal=False)
    assert any(ln.startswith("00:00.0  connect ") for ln in plain), plain
    assert not any(ln.startswith("<") for ln in plain)
