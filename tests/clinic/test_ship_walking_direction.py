"""The clinic's records speak in the walker's direction too: a turn-round session shipped
with its backward time, the belt's own direction beside it, and a session recomputed at
the treadmill file's upgrade to schema 6 shipped with what the upgrade did."""

from __future__ import annotations

import asyncio
import gzip
import io
import shutil
from pathlib import Path

from clinic_kit import (  # type: ignore[import-not-found]
    DEMO,
    DEMO_SHORT,
    SAMPLES,
    clinic_rows,
    simulate_into,
)

from treadctl.app import load_session
from treadctl.clinic.reads import sessions_show
from treadctl.clinic.ship import Shipper
from treadctl.store.recount import RECOMPUTED, RECOUNT_NOTES

SIM_TURN = SAMPLES / "machines/sim-turn.toml"
V5 = Path(__file__).resolve().parents[1] / "store" / "data" / "demo-short-v5.sqlite.gz"


def _ship(db: Path, url: str) -> None:
    shipper = Shipper(db, url, "tm-turn")
    try:
        report = shipper.ship_once()
    finally:
        shipper.close()
    assert report.failed == {}


def _backward_s(url: str, local_id: int) -> float:
    rows = clinic_rows(
        url,
        "SELECT sum(g.moving_s) FROM segment_results g JOIN sessions s ON s.id = g.session_id "
        "WHERE s.local_id = %s AND g.kind = 'backward'",
        (local_id,),
    )
    return float(rows[0][0])


def test_a_turn_round_session_arrives_with_its_backward_time(
    tmp_path: Path, clinic_url: str
) -> None:
    db = tmp_path / "turn.sqlite"
    files = load_session(SIM_TURN, DEMO_SHORT, DEMO)
    local_id = asyncio.run(simulate_into(db, files, DEMO_SHORT))
    _ship(db, clinic_url)
    assert 31.0 < _backward_s(clinic_url, local_id) < 32.0
    pairs = dict(
        clinic_rows(
            clinic_url,
            "SELECT direction || '/' || belt_direction, count(*) FROM samples "
            "WHERE actual_kmh > 0.05 GROUP BY 1",
        )
    )
    # the walker walked both ways; the belt ran forward throughout
    assert set(pairs) == {"forward/forward", "backward/forward"}


def test_a_session_recomputed_at_the_upgrade_ships_as_recomputed(
    tmp_path: Path, clinic_url: str
) -> None:
    db = tmp_path / "old.sqlite"
    with gzip.open(V5) as src, db.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    _ship(db, clinic_url)  # the shipper opens the file: schema 6's upgrade runs first
    assert 31.0 < _backward_s(clinic_url, 1) < 32.0
    recount = dict(clinic_rows(clinic_url, "SELECT local_id, segments_recount FROM sessions"))
    assert recount == {1: RECOMPUTED, 2: None}
    clinic_id = clinic_rows(clinic_url, "SELECT id FROM sessions WHERE local_id = 1")[0][0]
    out = io.StringIO()
    assert sessions_show(clinic_url, int(clinic_id), out) == 0
    assert f"NOTE: {RECOUNT_NOTES[RECOMPUTED]}" in out.getvalue()
