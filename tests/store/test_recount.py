"""Sessions recorded before schema 6 on a turn-round treadmill, recomputed at the upgrade.

`data/demo-short-v5.sqlite.gz` was written by treadctl at schema 5 (commit 6ae9098):
`treadctl simulate demo-short --patient demo --db ...` on `sim-turn` (session 1, whose
backward segment was recorded as 0 s) and then on `sim` (session 2, recorded right).
"""

from __future__ import annotations

import gzip
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from treadctl.store import queries
from treadctl.store.db import open_db
from treadctl.store.history import past_session
from treadctl.store.recount import RECOMPUTED, RECOUNT_NOTES, UNKNOWN
from treadctl.store.report import write_report
from treadctl.store.schema import SCHEMA_VERSION, current_version

V5 = Path(__file__).parent / "data" / "demo-short-v5.sqlite.gz"
TURN, REVERSING = 1, 2


def _v5_copy(tmp_path: Path) -> Path:
    db = tmp_path / "old.sqlite"
    with gzip.open(V5) as src, db.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return db


def _raw(db: Path) -> sqlite3.Connection:
    """The file as it is, without the upgrade open_db applies."""
    return sqlite3.connect(db, isolation_level=None)


def _by_kind(segs: list[dict[str, object]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for g in segs:
        out[str(g["kind"])] = out.get(str(g["kind"]), 0.0) + float(str(g["moving_s"]))
    return out


def test_the_fixture_holds_the_defect(tmp_path: Path) -> None:
    db = _v5_copy(tmp_path)
    with _raw(db) as conn:
        assert current_version(conn) == 5
        back = conn.execute(
            "SELECT session_id, moving_s FROM segment_results WHERE kind = 'backward'"
        ).fetchall()
    assert dict(back)[TURN] == 0.0  # the turn-round session: 0 s backward
    assert dict(back)[REVERSING] > 30.0


def test_the_upgrade_recomputes_a_turn_round_session_from_its_samples(tmp_path: Path) -> None:
    db = _v5_copy(tmp_path)
    with _raw(db) as conn:
        before = conn.execute(
            "SELECT session_id, idx, moving_s, distance_m FROM segment_results ORDER BY 1, 2"
        ).fetchall()
    conn = open_db(db, create=False)
    try:
        assert current_version(conn) == SCHEMA_VERSION
        turn = queries.session(conn, TURN)
        reversing = queries.session(conn, REVERSING)
        assert turn is not None
        assert reversing is not None
        assert turn["segments_recount"] == RECOMPUTED
        assert reversing["segments_recount"] is None  # recorded right: left as it was
        after = conn.execute(
            "SELECT session_id, idx, moving_s, distance_m FROM segment_results ORDER BY 1, 2"
        ).fetchall()
        assert [r for r in after if r[0] == REVERSING] == [r for r in before if r[0] == REVERSING]
        turned = _by_kind(queries.segments(conn, TURN))
        # the same profile on both machines: the same walking, within a sample
        assert turned["backward"] == pytest.approx(
            _by_kind(queries.segments(conn, REVERSING))["backward"], abs=0.2
        )
        summary = turn["summary"]
        assert summary is not None
        assert any(line.startswith("  backward: 00:31.4") for line in summary["lines"])
        assert turned["backward"] == pytest.approx(31.4, abs=0.2)
        past = past_session(conn, turn, 0.05)
        assert past.backward_s == pytest.approx(31.4, abs=0.2)
        # the clinic's copy ships again: the session row changed
        version, shipped = conn.execute(
            "SELECT version, shipped_version FROM outbox WHERE session_id = ?", (TURN,)
        ).fetchone()
        assert version != shipped
    finally:
        conn.close()
    # upgrading is done once: opening again changes nothing
    conn = open_db(db, create=False)
    try:
        again = conn.execute(
            "SELECT session_id, idx, moving_s, distance_m FROM segment_results ORDER BY 1, 2"
        ).fetchall()
        assert again == after
    finally:
        conn.close()


def _lose_backward_samples(db: Path) -> None:
    """Samples lost while the backward segment ran, as a failing writer drops them."""
    with _raw(db) as conn:
        conn.execute("DELETE FROM samples WHERE session_id = ? AND t_s BETWEEN 40 AND 45", (TURN,))


def test_incomplete_samples_are_marked_unknown_never_zero(tmp_path: Path) -> None:
    db = _v5_copy(tmp_path)
    _lose_backward_samples(db)
    conn = open_db(db, create=False)
    try:
        turn = queries.session(conn, TURN)
        assert turn is not None
        assert turn["segments_recount"] == UNKNOWN
        past = past_session(conn, turn, 0.05)
        # the backward time the samples hold (31.4 s less the 5 s lost), said so
        assert past.backward_s == pytest.approx(26.4, abs=0.3)
        assert any("segment times unknown" in n for n in past.notes)
    finally:
        conn.close()
    shown = subprocess.run(
        [sys.executable, "-m", "treadctl", "sessions", "show", str(TURN), "--db", str(db)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    backward_row = next(line for line in shown.splitlines() if "demo/backward" in line)
    assert "unknown" in backward_row
    assert "00:00.0" not in backward_row
    assert f"NOTE: {RECOUNT_NOTES[UNKNOWN]}" in shown
    html = write_report(db, TURN, tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'id="segments-recount"' in html
    assert 'id="directions-from-samples"' in html
    row = html.split('<tr id="direction-backward">', 1)[1].split("</tr>", 1)[0]
    seconds = float(row.split('data-value="', 1)[1].split('"', 1)[0])
    assert seconds == pytest.approx(26.4, abs=0.3)


def test_show_and_report_say_what_the_upgrade_did(tmp_path: Path) -> None:
    db = _v5_copy(tmp_path)
    shown = subprocess.run(
        [sys.executable, "-m", "treadctl", "sessions", "show", str(TURN), "--db", str(db)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"NOTE: {RECOUNT_NOTES[RECOMPUTED]}" in shown
    backward_row = next(line for line in shown.splitlines() if "demo/backward" in line)
    assert "00:31." in backward_row
    html = write_report(db, TURN, tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'id="segments-recount"' in html
    row = html.split('<tr id="direction-backward">', 1)[1].split("</tr>", 1)[0]
    share = row.rsplit('data-value="', 1)[1].split('"', 1)[0]
    assert float(share) == pytest.approx(48.3, abs=1.0)  # was 0 % before the upgrade
