"""`treadctl plan`: the resolved plan, the pre-start checklist and the energy estimate."""

from __future__ import annotations

from pathlib import Path

import pytest

from treadctl.cli import main
from treadctl.store.timeline import format_event

ROOT = Path(__file__).resolve().parents[2]


def test_plan_shows_segments_checklist_and_energy(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "plan",
            "--machine",
            str(ROOT / "machines/sim.toml"),
            "--profile",
            str(ROOT / "profiles/incline-backward.toml"),
            "--patient",
            str(ROOT / "patients/demo.toml"),
        ]
    )
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0] == "Backward incline steps: 7 segments, 15.0 min"
    assert any(
        "backward  1.12 km/h   2.0 min  rails until_confident, incline 7.5 %" in x for x in out
    )
    assert (
        "  [ ] safety key clipped to the walker (it must be clipped for every backward segment)"
        in out
    )
    assert any(x.startswith("  [ ] chest harness on") for x in out)
    assert out[-1] == "  total about 39 kcal at 70 kg"


def test_plan_without_body_mass_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    main(
        [
            "plan",
            "--machine",
            str(ROOT / "machines/sim.toml"),
            "--profile",
            str(ROOT / "profiles/demo-short.toml"),
        ]
    )
    assert capsys.readouterr().out.splitlines()[-1] == (
        "energy: no estimate (no body_mass_kg in the patient file)"
    )


def test_a_segment_with_incline_tells_the_operator_to_set_it_by_hand() -> None:
    line = format_event(
        {
            "t_s": 65.0,
            "kind": "segment",
            "index": 2,
            "label": "steps/backward 5 %",
            "segment_kind": "backward",
            "target_kmh": 1.12,
            "duration_s": 120.0,
            "incline_pct": 5.0,
            "cadence_spm": 90.0,
        }
    )
    assert line == (
        "01:05.0  segment   #2 steps/backward 5 %: backward 1.12 km/h for 02:00.0; "
        "metronome cue 90 steps/min; INCLINE 5 %: set it by hand (treadctl does not drive it)"
    )
