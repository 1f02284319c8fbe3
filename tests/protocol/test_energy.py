"""Energy estimates checked against figures worked out by hand.

The scaling (treadctl.protocol.energy): METs = 1 + (METs_ref - 1) * v / 5.632704 (3.5 mph
in km/h); backward grade adds 2.0 * (grade / 5) * (v / 5.632704); forward grade adds the
ACSM term 1.8 * (v * 1000 / 60) * (grade / 100) / 3.5. kcal = METs * kg * hours.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from treadctl.app import load_session
from treadctl.config.profile import SegmentKind
from treadctl.protocol.energy import (
    LABEL,
    REF_KMH,
    estimate_for_patient,
    estimate_plan,
    kcal,
    mets,
)

REPO = Path(__file__).resolve().parents[2]
SIM = REPO / "src/treadctl/samples/machines" / "sim.toml"
DEMO = REPO / "src/treadctl/samples/patients" / "demo.toml"
B, F, R = SegmentKind.BACKWARD, SegmentKind.FORWARD, SegmentKind.REST


def test_reference_speed_is_three_and_a_half_mph() -> None:
    assert round(REF_KMH, 6) == 5.632704  # 3.5 x 1.609344


def test_compendium_points_are_met_exactly_at_three_and_a_half_mph() -> None:
    assert mets(B, REF_KMH) == pytest.approx(6.0)  # 17320, backward level
    assert mets(B, REF_KMH, 5.0) == pytest.approx(8.0)  # 17325, backward 5 % grade
    assert mets(F, REF_KMH) == pytest.approx(4.3)  # 17200, forward brisk
    # forward 5 %: 4.3 + 1.8 * 93.8784 m/min * 0.05 / 3.5 = 4.3 + 2.414016
    assert mets(F, REF_KMH, 5.0) == pytest.approx(6.714016)


def test_linear_in_speed_from_rest() -> None:
    assert mets(B, 0.0) == 1.0
    assert mets(R, 0.0) == 1.0
    assert mets(F, REF_KMH / 2) == pytest.approx(1 + 3.3 / 2)  # 2.65
    # backward 1.28 km/h: 1 + 5 * 1.28 / 5.632704 = 1 + 1.136222 = 2.136222
    assert mets(B, 1.28) == pytest.approx(2.136222, abs=1e-6)
    # backward 1.12 km/h at 7.5 %: 1 + 5 * 0.198839 + 2 * 1.5 * 0.198839 = 2.590710
    assert mets(B, 1.12, 7.5) == pytest.approx(2.590710, abs=1e-6)
    # Bruce stage 1, 2.74 km/h at 10 %: 1 + 3.3 * 0.486444 + 1.8 * 45.6667 * 0.1 / 3.5
    #   = 1 + 1.605266 + 2.348571 = 4.953838
    assert mets(F, 2.74, 10.0) == pytest.approx(4.953838, abs=1e-5)


def test_a_decline_counts_as_level() -> None:
    assert mets(B, 2.0, -3.0) == mets(B, 2.0)
    assert mets(F, 2.0, -3.0) == mets(F, 2.0)


def test_kcal_is_mets_times_kg_times_hours() -> None:
    assert kcal(6.0, 70.0, 3600.0) == pytest.approx(420.0)
    # 2.136222 METs x 70 kg x 2 min (1/30 h) = 4.984517 kcal
    assert kcal(mets(B, 1.28), 70.0, 120.0) == pytest.approx(4.984517, abs=1e-5)


def test_intro_profile_for_the_demo_patient() -> None:
    """backward-intro-15min with samples/patients/demo.toml (70 kg), segment by segment."""
    files = load_session(SIM, REPO / "profiles" / "backward-intro-15min.toml", DEMO)
    est = estimate_for_patient(files.plan, files.patient)
    assert est is not None
    assert est.body_mass_kg == 70.0
    assert est.label == LABEL
    assert "estimate" in est.label
    rows = [(s.label, s.speed_kmh, round(s.mets, 4), round(s.kcal, 3)) for s in est.segments]
    # forward 2.56 km/h: 1 + 3.3 * 2.56 / 5.632704 = 2.4998 METs; x 70 x 150/3600 = 7.291 kcal
    # backward 1.28 km/h: 2.1362 METs; x 70 x 120/3600 = 4.985 kcal
    # forward 2.88 km/h: 1 + 3.3 * 2.88 / 5.632704 = 2.6873 METs; x 70 x 90/3600 = 4.703 kcal
    # forward 2.24 km/h: 1 + 3.3 * 2.24 / 5.632704 = 2.3123 METs; x 70 x 120/3600 = 5.395 kcal
    assert rows == [
        ("warm-up/forward", 2.56, 2.4998, 7.291),
        *[("intervals/backward", 1.28, 2.1362, 4.985), ("intervals/forward", 2.88, 2.6873, 4.703)]
        * 3,
        ("cool-down/forward", 2.24, 2.3123, 5.395),
    ]
    # 7.291 + 3 x (4.985 + 4.703) + 5.395 = 41.748 kcal
    assert est.total_kcal == pytest.approx(41.748, abs=2e-3)
    assert not est.extrapolated
    assert est.lines()[-1] == "  total about 42 kcal at 70 kg"


def test_no_body_mass_no_estimate() -> None:
    files = load_session(SIM, REPO / "profiles" / "demo-short.toml", None)
    assert estimate_for_patient(files.plan, None) is None
    assert estimate_plan(files.plan, None) is None


def test_rests_count_one_met_and_fast_segments_are_marked_extrapolated() -> None:
    stroke = load_session(SIM, REPO / "profiles" / "stroke-30min.toml", DEMO).plan
    est = estimate_plan(stroke, 60.0)
    assert est is not None
    rests = [s for s in est.segments if s.kind is R]
    assert all(s.mets == 1.0 for s in rests)
    assert rests[0].kcal == pytest.approx(1.0 * 60.0 / 60.0)  # 1 MET x 60 kg x 1 min = 1 kcal
    bruce = load_session(SIM, REPO / "profiles" / "bruce.toml", None).plan
    est = estimate_plan(bruce, 80.0)
    assert est is not None
    assert [s.extrapolated for s in est.segments] == [False, False, False] + [True] * 4 + [False]
    # stage 1: 4.953838 METs x 80 kg x 3 min (0.05 h) = 19.8154 kcal
    assert est.segments[0].kcal == pytest.approx(19.8154, abs=1e-3)
    assert "(extrapolated)" in est.lines()[4]
