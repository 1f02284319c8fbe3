"""`report`: the clinician report of one recorded session, from a real database.

Sessions are recorded by the real loop on the simulator and the virtual clock (as in
tests/store/records.py), each on a day of its own (the virtual clock's wall start), so
the progression has distinct session dates.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from records import DEMO, DEMO_SHORT, ROOT, SIM, connect  # type: ignore[import-not-found]

from treadctl.app import build_sim_session, load_session
from treadctl.cli.database import sessions_report as report_verb
from treadctl.clock import VirtualClock
from treadctl.config.loader import load_model
from treadctl.config.patient import PatientConfig
from treadctl.config.profile import SegmentKind
from treadctl.protocol import energy
from treadctl.sim.operator import ScriptedOperator
from treadctl.sim.scenario import Scenario
from treadctl.store import queries
from treadctl.store.db import open_db
from treadctl.store.eventlog import EventLog
from treadctl.store.recorder import SessionInfo, SessionRecorder
from treadctl.store.report import NO_BODY_MASS, write_report

ESTOP = ROOT / "src/treadctl/samples/scenarios" / "estop-backward.toml"
DAY0 = 1_741_000_000.0  # 2025-03-03 UTC: the first recorded session's wall start
DAY_S = 86_400.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
VOID = frozenset({"meta", "img", "br", "hr", "link", "input", "col", "wbr"})


@pytest.fixture(scope="module", autouse=True)
def _matplotlib_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """matplotlib keeps its font cache in MPLCONFIGDIR: a fresh one, so neither a read-only
    home nor another version's cache can make it warn (warnings are errors here)."""
    old = os.environ.get("MPLCONFIGDIR")
    os.environ["MPLCONFIGDIR"] = str(tmp_path_factory.mktemp("mplconfig"))
    yield
    if old is None:
        os.environ.pop("MPLCONFIGDIR", None)
    else:
        os.environ["MPLCONFIGDIR"] = old


# --- recording -----------------------------------------------------------------------


async def _record(
    tmp_path: Path,
    db: Path,
    day: int,
    scenario: Path | None = None,
    profile: Path = DEMO_SHORT,
    patient: Path = DEMO,
) -> None:
    """One session on the simulator, recorded as `treadctl simulate --db` records it."""
    files = load_session(SIM, profile, patient)
    clock = VirtualClock(wall_start=DAY0 + day * DAY_S)
    events = EventLog(tmp_path / f"events-{day}-{db.stem}.jsonl")
    info = SessionInfo(
        "simulate",
        files.profile.name,
        files.machine.name,
        files.plan.segments,
        files.patient,
        profile.read_text(encoding="utf-8"),
    )
    recorder = SessionRecorder(db, info, events, clock, files.machine.limits.standstill_kmh)
    sc = Scenario.load(scenario) if scenario is not None else None
    operator = sc.operator_for() if sc is not None else ScriptedOperator()
    session = build_sim_session(
        files, clock, events, operator, sc, end_on_fault=True, recorder=recorder
    )
    try:
        await session.loop.run()
    finally:
        recorder.close()
        events.close()


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three demo-short sessions of DEMO-001 on three days: completed, e-stop, completed."""
    tmp = tmp_path_factory.mktemp("history")
    db = tmp / "records.sqlite"
    asyncio.run(_record(tmp, db, day=0))
    asyncio.run(_record(tmp, db, day=2, scenario=ESTOP))
    asyncio.run(_record(tmp, db, day=5))
    return db


# --- reading the report ----------------------------------------------------------------


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(self.texts) + "".join(c.text() for c in self.children)

    def walk(self) -> Iterator[Node]:
        yield self
        for c in self.children:
            yield from c.walk()

    def find(self, element_id: str) -> Node:
        found = [n for n in self.walk() if n.attrs.get("id") == element_id]
        assert len(found) == 1, f"id {element_id!r}: {len(found)} elements"
        return found[0]

    def all(self, tag: str) -> list[Node]:
        return [n for n in self.walk() if n.tag == tag]


class TreeParser(HTMLParser):
    """html.parser into a tree; every end tag must close the element it belongs to."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]
        self.doctype = ""

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].texts.append(data)


def parse(path: Path) -> Node:
    p = TreeParser()
    p.feed(path.read_text(encoding="utf-8"))
    p.close()
    assert p.stack == [p.root], "unclosed elements"
    assert p.doctype.lower() == "doctype html"
    return p.root


def rows(table: Node, part: str = "tbody") -> list[list[Node]]:
    (section,) = [n for n in table.children if n.tag == part]
    return [[c for c in tr.children if c.tag in ("td", "th")] for tr in section.all("tr")]


def value(cell: Node) -> float:
    return float(cell.attrs["data-value"])


def png_of(doc: Node, element_id: str) -> bytes:
    img = doc.find(element_id)
    assert img.tag == "img"
    assert img.attrs["alt"]
    prefix = "data:image/png;base64,"
    assert img.attrs["src"].startswith(prefix)
    return base64.b64decode(img.attrs["src"][len(prefix) :], validate=True)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, after checking the signature and the CRC."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height = struct.unpack(">II", data[16:24])
    (crc,) = struct.unpack(">I", data[29:33])
    assert crc == zlib.crc32(data[12:29])
    assert data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82"
    return width, height


def assert_reasonable_png(data: bytes) -> tuple[int, int]:
    width, height = png_size(data)
    assert 800 <= width <= 3000
    assert 300 <= height <= 2000
    assert 5_000 < len(data) < 1_000_000
    return width, height


def db_rows(db: Path, session_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    conn = open_db(db, create=False)
    try:
        s = queries.session(conn, session_id)
        assert s is not None
        return s, queries.segments(conn, session_id)
    finally:
        conn.close()


# --- the tests -----------------------------------------------------------------------


def test_report_of_an_estop_session_matches_the_database(history: Path, tmp_path: Path) -> None:
    out = write_report(history, 2, tmp_path / "s2.html")
    doc = parse(out)
    s, segs = db_rows(history, 2)
    assert s["status"] == "faulted"

    facts = doc.all("dl")[0].text()
    assert "DEMO-001" in facts
    assert "Demo: short backward bout" in facts
    assert "treadctl demo" in facts  # the profile's source line
    assert "Simulated treadmill" in facts
    assert "2025-03-05" in facts  # DAY0 + 2 days
    assert "faulted" in facts
    assert "interrupted by latched fault" in facts
    assert "demo patient" not in out.read_text(encoding="utf-8")  # the patient's notes: left out

    # segments, planned against done: the database's values exactly
    table = rows(doc.find("segments"))
    assert len(table) == len(segs) == 3
    for cells, g in zip(table, segs, strict=True):
        assert cells[1].text() == g["label"]
        assert cells[2].text() == g["kind"]
        assert value(cells[3]) == g["target_kmh"]
        assert value(cells[4]) == g["planned_s"]
        assert value(cells[5]) == g["moving_s"]
        assert value(cells[6]) == g["distance_m"]
        assert cells[7].text() == ("yes" if g["completed"] else "no")
    assert [c.text() for c in table[1][5:8]] == [
        f"00:{segs[1]['moving_s']:04.1f}",
        f"{segs[1]['distance_m']:.1f}",
        "no",
    ]

    # per direction: the segments' sums, which are the summary's totals
    for kind in ("forward", "backward"):
        cells = rows(doc.find("directions"))[0 if kind == "forward" else 1]
        assert cells[0].text() == kind
        moving = sum(g["moving_s"] for g in segs if g["kind"] == kind)
        metres = sum(g["distance_m"] for g in segs if g["kind"] == kind)
        assert value(cells[1]) == pytest.approx(moving, rel=1e-12)
        assert value(cells[2]) == pytest.approx(metres, rel=1e-12)
        assert metres == pytest.approx(s["summary"]["totals"][kind]["metres"], abs=1e-6)
    assert 0 < metres < 30  # backward: 10 s at 1 km/h before the e-stop

    # the energy estimate: protocol/energy.py at the actual moving time and mean speed
    mass = load_model(DEMO, PatientConfig).body_mass_kg
    assert mass is not None
    assert s["patient_file"]["body_mass_kg"] == mass
    expected = 0.0
    for g in segs:
        speed = g["distance_m"] / g["moving_s"] * 3.6 if g["moving_s"] > 0 else 0.0
        expected += energy.kcal(
            energy.mets(SegmentKind(g["kind"]), speed, 0.0), mass, g["moving_s"]
        )
    total = doc.find("energy-total")
    assert value(total) == pytest.approx(expected, rel=1e-12)
    assert total.text() == f"about {expected:.0f}"
    energy_text = doc.find("energy").text()
    assert "Total (estimate)" in energy_text
    assert "kcal (estimate)" in energy_text
    assert f"at {mass:g} kg" in energy_text

    # every stop, with its reason, as the session summary lists them
    stops = rows(doc.find("stops"))
    listed = s["summary"]["stops"]
    assert len(stops) == len(listed) == 2
    for cells, want in zip(stops, listed, strict=True):
        assert value(cells[1]) == pytest.approx(want["at_s"], abs=1e-3)
        assert cells[2].text() == want["kind"]
        assert cells[3].text() == ", ".join(want["reasons"])
        assert value(cells[5]) == want["belt_kmh"]
    assert stops[0][3].text() == "profile asks the belt to stop"
    assert stops[0][6].text() == "yes"  # the turnaround is the profile's own stop
    assert stops[1][2].text() == "latched fault"
    assert stops[1][3].text().startswith("emergency-stop chain open")
    assert stops[1][6].text() == "no"

    assert "2 stop(s) marked, 1 of them latched faults" in doc.find("speed-plot").attrs["alt"]
    assert_reasonable_png(png_of(doc, "speed-plot"))
    assert_reasonable_png(png_of(doc, "progression-plot"))


def test_progression_across_three_sessions(history: Path, tmp_path: Path) -> None:
    doc = parse(write_report(history, 3, tmp_path / "s3.html"))
    table = rows(doc.find("progression"))
    assert [c[0].text() for c in table] == ["2025-03-03", "2025-03-05", "2025-03-08"]
    assert [c[1].text() for c in table] == ["1", "2", "3"]
    assert [c[2].text() for c in table] == ["completed", "faulted", "completed"]
    for i, cells in enumerate(table, start=1):
        _, segs = db_rows(history, i)
        back = [g for g in segs if g["kind"] == "backward"]
        assert value(cells[3]) == max(g["target_kmh"] for g in back)
        achieved = sum(g["distance_m"] for g in back) / sum(g["moving_s"] for g in back) * 3.6
        assert value(cells[4]) == pytest.approx(achieved, rel=1e-12)
        assert 0.5 < achieved < 1.0  # below the 1 km/h target: ramps count as moving time
    assert [c[5].text() for c in table] == ["0", "1", "0"]  # unplanned stops
    assert [c[6].text() for c in table] == ["0", "1", "0"]  # latched faults
    width, height = assert_reasonable_png(png_of(doc, "progression-plot"))
    assert width > height

    # an earlier session's report shows the sessions up to it only
    first = parse(write_report(history, 1, tmp_path / "s1.html"))
    assert [c[1].text() for c in rows(first.find("progression"))] == ["1"]
    assert "No stops" not in first.text()  # the turnarounds and the end are stops too


def test_interrupted_session(tmp_path: Path) -> None:
    """What a SIGKILLed controller leaves: the session still 'running', no summary, a stale
    heartbeat. Opening the database marks it interrupted; the report says so."""
    db = tmp_path / "records.sqlite"
    asyncio.run(_record(tmp_path, db, day=0, scenario=ESTOP))
    with connect(db) as conn:
        conn.execute(
            "UPDATE sessions SET status = 'running', ended = NULL, outcome = NULL, "
            "summary_json = NULL, heartbeat = '2025-03-03T00:00:00.000+00:00'"
        )
        last = conn.execute("SELECT max(t_s) FROM samples").fetchone()[0]
    out = write_report(db, 1, tmp_path / "r.html")
    doc = parse(out)
    facts = doc.all("dl")[0].text()
    assert "interrupted" in facts
    warning = [p for p in doc.all("p") if "warning" in p.attrs.get("class", "")]
    assert len(warning) == 1
    assert warning[0].text().startswith("Interrupted: the controller ended without closing")
    assert f"{last:04.1f}" in warning[0].text()
    # without a summary, the stops still come from the events
    reasons = [c[3].text() for c in rows(doc.find("stops"))]
    assert reasons[0] == "profile asks the belt to stop"
    assert reasons[1].startswith("emergency-stop chain open")
    assert_reasonable_png(png_of(doc, "speed-plot"))


def test_no_body_mass_no_estimate(tmp_path: Path) -> None:
    text = DEMO.read_text(encoding="utf-8")
    patient = tmp_path / "no-mass.toml"
    patient.write_text(re.sub(r"(?m)^body_mass_kg.*$", "", text), encoding="utf-8")
    db = tmp_path / "records.sqlite"
    asyncio.run(_record(tmp_path, db, 0, patient=patient))
    doc = parse(write_report(db, 1, tmp_path / "r.html"))
    assert doc.find("energy-none").text() == NO_BODY_MASS == "no estimate: no body mass"
    assert not [n for n in doc.walk() if n.attrs.get("id") == "energy"]


def test_stored_strings_are_escaped(tmp_path: Path) -> None:
    """A profile name with markup (and a matplotlib math `$`) is shown as written."""
    name = 'Demo <script>alert(1)</script> & "quotes" $x_1$'
    text = DEMO_SHORT.read_text(encoding="utf-8")
    profile = tmp_path / "odd.toml"
    profile.write_text(
        text.replace('name = "Demo: short backward bout"', f"name = '{name}'"), encoding="utf-8"
    )
    assert load_session(SIM, profile, DEMO).profile.name == name
    db = tmp_path / "records.sqlite"
    asyncio.run(_record(tmp_path, db, 0, profile=profile))
    out = write_report(db, 1, tmp_path / "r.html")
    raw = out.read_text(encoding="utf-8")
    assert "<script" not in raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot; $x_1$" in raw
    doc = parse(out)
    assert name in doc.all("dl")[0].text()
    assert name in doc.all("title")[0].text()
    assert_reasonable_png(png_of(doc, "progression-plot"))  # its title has the name


def test_report_verb(history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.sqlite"
    assert report_verb(missing, 1, None) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"treadctl: {missing}: no such database file\n"
    assert not missing.exists()

    assert report_verb(history, 99, tmp_path / "x.html") == 2
    _, err = capsys.readouterr()
    assert err == f"treadctl: {history}: no session 99\n"
    assert not (tmp_path / "x.html").exists()

    target = tmp_path / "nowhere" / "x.html"
    assert report_verb(history, 1, target) == 2
    _, err = capsys.readouterr()
    assert err.startswith(f"treadctl: {target}: cannot write the report: ")

    out_file = tmp_path / "s2.html"
    assert report_verb(history, 2, out_file) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"session 2 report written to {out_file}\n"
    parse(out_file)

    default = history.parent / "session-3-report.html"
    assert report_verb(history, 3, None) == 0
    assert default.is_file()
    default.unlink()


def test_energy_with_incline_and_rest(tmp_path: Path) -> None:
    """The profile's inclines count (from the stored profile text), a rest segment at 1 MET
    for its time; the total is protocol/energy.py's figure for the same inputs."""
    profile = ROOT / "profiles" / "incline-backward.toml"
    db = tmp_path / "records.sqlite"
    asyncio.run(_record(tmp_path, db, 0, profile=profile))
    doc = parse(write_report(db, 1, tmp_path / "r.html"))
    s, segs = db_rows(db, 1)
    assert s["status"] == "completed"
    plan = load_session(SIM, profile, DEMO).plan
    mass = s["patient_file"]["body_mass_kg"]
    expected = 0.0
    table = rows(doc.find("energy"))
    assert len(table) == len(segs) == len(plan.segments)
    for cells, g, planned in zip(table, segs, plan.segments, strict=True):
        kind = SegmentKind(g["kind"])
        assert value(cells[3]) == planned.incline_pct
        if kind is SegmentKind.REST:
            seconds, speed = g["planned_s"], 0.0  # the rest ran its whole length
        else:
            seconds = g["moving_s"]
            speed = g["distance_m"] / seconds * 3.6
        assert value(cells[5]) == pytest.approx(seconds, abs=0.05)
        expected += energy.kcal(energy.mets(kind, speed, planned.incline_pct), mass, seconds)
    assert {p.incline_pct for p in plan.segments} == {0.0, 2.5, 5.0, 7.5}
    assert SegmentKind.REST in {p.kind for p in plan.segments}
    assert value(doc.find("energy-total")) == pytest.approx(expected, rel=1e-3)
    assert "Incline unknown" not in doc.text()
