"""The powered incline in the session record and the report: a simulated Bruce test
recorded through the CLI keeps the incline's target and measured % with the 10 Hz
samples, and its report plots them under the speed (shared time axis) with a table per
segment; a session without incline keeps the report it had."""

from __future__ import annotations

import io
import itertools
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_report import (  # type: ignore[import-not-found]
    Node,
    parse,
    png_of,
    png_size,
    rows,
)

from treadctl.cli import main
from treadctl.cli.common import EXIT_NOT_COMPLETED, EXIT_OK
from treadctl.store import plots
from treadctl.store.report import write_report

BRUCE_GRADES = (10.0, 12.0, 14.0, 16.0, 18.0, 20.0, 22.0)
TOLERANCE_PCT = 0.2  # sim-incline.toml's tolerance_pct
INCLINE_RGB = (0x00, 0x9E, 0x73)


@pytest.fixture(scope="module", autouse=True)
def _matplotlib_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    old = os.environ.get("MPLCONFIGDIR")
    os.environ["MPLCONFIGDIR"] = str(tmp_path_factory.mktemp("mplconfig"))
    yield
    if old is None:
        os.environ.pop("MPLCONFIGDIR", None)
    else:
        os.environ["MPLCONFIGDIR"] = old


def simulate_into(db: Path, tmp: Path, *args: str) -> int:
    return main(["simulate", *args, "--quiet", "--db", str(db), "--events", str(tmp / "e.jsonl")])


@pytest.fixture(scope="module")
def bruce_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("bruce")
    db = tmp / "t.sqlite"
    assert simulate_into(db, tmp, "bruce", "--machine", "sim-incline") == EXIT_OK
    return db


def incline_pixels(png: bytes) -> tuple[int, int, int]:
    """Pixels of the incline's colour in the upper and lower half, and the image height."""
    from matplotlib.image import imread  # noqa: PLC0415 - only this test needs it

    img = imread(io.BytesIO(png), format="png")
    rgb = (img[:, :, :3] * 255).round().astype(int)
    match = (abs(rgb - INCLINE_RGB).sum(axis=2) <= 6).astype(int)
    height = match.shape[0]
    return int(match[: height // 2].sum()), int(match[height // 2 :].sum()), height


def test_samples_keep_the_incline_target_and_actual(bruce_db: Path) -> None:
    conn = sqlite3.connect(bruce_db)
    try:
        samples = conn.execute(
            "SELECT t_s, incline_target_pct, incline_pct FROM samples ORDER BY t_s"
        ).fetchall()
    finally:
        conn.close()
    assert len(samples) > 10 * 60 * 20  # 24 min at 10 Hz, less the start
    # the first sample is taken before the incline's first cycle (incline_cycle follows
    # cycle): from the second on every sample has both
    samples = samples[1:]
    assert all(tgt is not None and act is not None for _, tgt, act in samples)
    targets = {tgt for _, tgt, _ in samples}
    assert set(BRUCE_GRADES) <= targets
    for grade in BRUCE_GRADES:
        held = [act for _, tgt, act in samples if tgt == grade]
        # reached at the machine's rate and held within tolerance till the stage ends
        assert abs(held[-1] - grade) <= TOLERANCE_PCT
        assert max(held) <= grade + TOLERANCE_PCT
    # the lift travels at most at its rate: never faster than 1 %/s plus slack between samples
    for (t0, _, a0), (t1, _, a1) in itertools.pairwise(samples):
        assert abs(a1 - a0) <= 1.0 * (t1 - t0) + 0.05


def test_the_report_plots_the_incline_under_the_speed_and_tables_it(
    bruce_db: Path, tmp_path: Path
) -> None:
    doc = parse(write_report(bruce_db, 1, tmp_path / "r.html"))
    png = png_of(doc, "speed-plot")
    width, height = png_size(png)
    assert (width, height) == (
        round(plots.SPEED_INCLINE_SIZE_IN[0] * plots.DPI),
        round(plots.SPEED_INCLINE_SIZE_IN[1] * plots.DPI),
    )
    upper, lower, _ = incline_pixels(png)
    assert lower > 500  # the measured incline's line, in the lower axes
    assert upper < lower / 20  # (the legend's sample line is the only green up there)
    assert "incline" in doc.find("speed-plot").attrs["alt"]
    table = doc.find("incline")
    body = rows(table)
    assert len(body) == 8  # seven stages and the recovery walk
    asked = [float(r[2].text()) for r in body]
    assert asked == [*BRUCE_GRADES, 0.0]
    for r, grade in zip(body, BRUCE_GRADES, strict=False):
        assert abs(float(r[5].text()) - grade) <= TOLERANCE_PCT  # its highest reading
    assert "Incline fault" not in doc.text()


def test_a_latched_incline_fault_is_in_the_report(tmp_path: Path) -> None:
    db = tmp_path / "t.sqlite"
    code = simulate_into(
        db, tmp_path, "bruce", "--machine", "sim-incline", "--scenario", "incline-stall"
    )
    assert code == EXIT_NOT_COMPLETED
    doc = parse(write_report(db, 1, tmp_path / "r.html"))
    section = _section_of(doc, "incline")
    assert "Incline fault at 00:12" in section.text()
    assert "stalled" in section.text()


def test_a_session_without_incline_keeps_todays_report(tmp_path: Path) -> None:
    db = tmp_path / "t.sqlite"
    assert simulate_into(db, tmp_path, "demo-short", "--patient", "demo") == EXIT_OK
    conn = sqlite3.connect(db)
    try:
        (n, with_incline) = conn.execute(
            "SELECT count(*), count(incline_pct) + count(incline_target_pct) FROM samples"
        ).fetchone()
    finally:
        conn.close()
    assert n > 0
    assert with_incline == 0
    doc = parse(write_report(db, 1, tmp_path / "r.html"))
    png = png_of(doc, "speed-plot")
    assert png_size(png) == (
        round(plots.SPEED_SIZE_IN[0] * plots.DPI),
        round(plots.SPEED_SIZE_IN[1] * plots.DPI),
    )
    assert incline_pixels(png)[:2] == (0, 0)
    assert [n for n in doc.walk() if n.attrs.get("id") == "incline"] == []
    assert "incline" not in doc.find("speed-plot").attrs["alt"]


def _section_of(doc: Node, element_id: str) -> Node:
    for node in doc.walk():
        if node.tag == "section" and any(n.attrs.get("id") == element_id for n in node.walk()):
            return node
    raise KeyError(element_id)
