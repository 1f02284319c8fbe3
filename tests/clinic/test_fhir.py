"""FHIR export: every resource validated by fhir.resources' R4B models; the PA IG's codes;
pseudonym only; the same session from the treadmill's file and the clinic's records."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from clinic_kit import DEMO_SHORT, demo_files, simulate_into  # type: ignore[import-not-found]
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation

from treadctl.clinic.export import clinic_bundle, local_bundle
from treadctl.clinic.fhir import SampleStats, session_observations
from treadctl.clinic.ship import Shipper
from treadctl.store.db import DatabaseError

HR_BPM = 96.0


def record_with_heart_rate(db: Path) -> int:
    sid = asyncio.run(simulate_into(db, demo_files(), DEMO_SHORT))
    conn = sqlite3.connect(db)
    # the strap's readings: a steady 96/min, a peak of 120, and a bad reading left out
    conn.execute("UPDATE samples SET heart_rate_bpm = ?", (HR_BPM,))
    conn.execute(
        "UPDATE samples SET heart_rate_bpm = 120 WHERE rowid = (SELECT max(rowid) FROM samples "
        "WHERE actual_kmh > 0.05)"
    )
    conn.execute(
        "UPDATE samples SET heart_rate_bpm = 900 WHERE rowid = (SELECT min(rowid) FROM samples "
        "WHERE actual_kmh > 0.05)"
    )
    conn.execute("UPDATE patients SET notes = 'Jane Example'")
    conn.commit()
    conn.close()
    return sid


def by_code(b: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["resource"]["code"]["coding"][0]["code"]: e["resource"] for e in b["entry"]}


def validate(b: dict[str, Any]) -> None:
    text = json.dumps(b)
    Bundle.model_validate_json(text)
    for e in b["entry"]:
        Observation.model_validate(e["resource"])


def test_a_session_exports_as_valid_observations_with_the_pa_ig_codes(tmp_path: Path) -> None:
    db = tmp_path / "tm.sqlite"
    sid = record_with_heart_rate(db)
    b = local_bundle(db, [sid], "tm-a")
    validate(b)
    obs = by_code(b)
    assert set(obs) == {
        "73985-4", "55411-3", "55430-3", "55425-3", "55426-1", "belt-speeds",
    }  # fmt: skip
    assert obs["73985-4"]["valueCodeableConcept"]["coding"][0]["code"] == "LA11834-1"
    duration = obs["55411-3"]["valueQuantity"]
    assert (duration["code"], duration["system"]) == ("min", "http://unitsofmeasure.org")
    assert 0.5 < duration["value"] < 1.5  # demo-short: a minute on the belt
    assert obs["55426-1"]["valueQuantity"]["value"] == 120.0  # the 900 is no heart rate
    assert HR_BPM <= obs["55425-3"]["valueQuantity"]["value"] < 97
    parts = {
        c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"]
        for c in obs["belt-speeds"]["component"]
    }
    assert 0.9 <= parts["backward-max-kmh"] <= 1.05
    assert 1.9 <= parts["forward-max-kmh"] <= 2.05
    for o in obs.values():
        assert o["status"] == "final"
        assert o["subject"] == {
            "identifier": {"system": "urn:treadctl:patient-pseudonym", "value": "DEMO-001"}
        }
        assert [c["coding"][0]["code"] for c in o["category"]] == ["activity", "PhysicalActivity"]
    assert "Jane" not in json.dumps(b)


def test_a_session_without_heart_rate_has_no_heart_rate_observation(tmp_path: Path) -> None:
    db = tmp_path / "tm.sqlite"
    sid = asyncio.run(simulate_into(db, demo_files(), DEMO_SHORT))
    b = local_bundle(db, [sid], "tm-a")
    validate(b)
    assert "55425-3" not in by_code(b)
    with pytest.raises(DatabaseError, match="no session 99"):
        local_bundle(db, [99], "tm-a")


def test_non_finite_figures_are_left_out_and_a_running_session_is_preliminary() -> None:
    session = {
        "id": 7, "uuid": "ab" * 16, "patient": "P-1", "status": "running",
        "started": "2025-03-03T09:00:00.000+00:00", "ended": None, "profile_name": "p",
    }  # fmt: skip
    stats = SampleStats.from_row([float("nan"), float("inf"), 1.0, float("nan"), None, 2.0])
    obs = session_observations(session, [{"moving_s": 60.0, "distance_m": 20.0}], stats, "tm")
    b = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": o} for o in obs]}
    validate(b)
    assert {o["status"] for o in obs} == {"preliminary"}
    assert "55425-3" not in by_code(b)
    parts = [c["code"]["coding"][0]["code"] for c in by_code(b)["belt-speeds"]["component"]]
    assert parts == ["backward-mean-kmh", "forward-max-kmh"]
    assert session_observations({**session, "patient": None}, [], stats, "tm") == []


def test_the_clinic_exports_a_patients_sessions_from_every_treadmill(
    tmp_path: Path, clinic_url: str
) -> None:
    for name in ("tm-a", "tm-b"):
        db = tmp_path / f"{name}.sqlite"
        record_with_heart_rate(db)
        shipper = Shipper(db, clinic_url, name)
        try:
            shipper.ship_once()
        finally:
            shipper.close()
    central = clinic_bundle(clinic_url, "DEMO-001")
    validate(central)
    devices = sorted({e["resource"]["device"]["display"] for e in central["entry"]})
    assert devices == ["treadmill tm-a", "treadmill tm-b"]
    assert len(central["entry"]) == 12
    # the same session read from its file gives the same figures
    local = local_bundle(tmp_path / "tm-a.sqlite", [1], "tm-a")
    mine = {
        e["resource"]["identifier"][0]["value"]: e["resource"].get("valueQuantity")
        for e in local["entry"]
    }
    theirs = {
        e["resource"]["identifier"][0]["value"]: e["resource"].get("valueQuantity")
        for e in central["entry"]
        if e["resource"]["device"]["display"] == "treadmill tm-a"
    }
    assert theirs == mine


def test_the_validator_has_teeth(tmp_path: Path) -> None:
    """A broken observation (no status, a quantity with a text value) is refused."""
    db = tmp_path / "tm.sqlite"
    sid = asyncio.run(simulate_into(db, demo_files(), DEMO_SHORT))
    good = local_bundle(db, [sid], "tm-a")["entry"][1]["resource"]
    Observation.model_validate(good)
    with pytest.raises(ValueError, match="status"):
        Observation.model_validate({k: v for k, v in good.items() if k != "status"})
    broken = {**good, "valueQuantity": {**good["valueQuantity"], "value": "ninety"}}
    with pytest.raises(ValueError, match="value"):
        Observation.model_validate(broken)
