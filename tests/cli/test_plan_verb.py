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
            str(ROOT / "src/treadctl/samples/machines/sim.toml"),
            "--profile",
            str(ROOT / "profiles/incline-backward.toml"),
            "--patient",
            str(ROOT / "src/treadctl/samples/patients/demo.toml"),
        ]
    )
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0] == "Backward incline steps: 7 segments, 15.0 min"
    assert any(
        "backward  1.12 km/h   2.0 min  rails until_confident, incline 7.5 %" in x for x in out
    )
    assert out[1] == "Simulated treadmill: backward walking on a reversing belt"
    # each segment with its own checklist, numbered from 1
    first = out.index(next(x for x in out if x.startswith("    1/7 ")))
    assert out[first + 1] == "        [ ] walker faces the console, walks forward"
    assert "        [ ] safety key clipped to the walker (every backward segment)" in out
    assert any(x.startswith("        [ ] chest harness on") for x in out)
    assert "        [ ] incline set by hand to 7.5 % (treadctl does not drive it)" in out
    assert out[-1] == "  total about 39 kcal at 70 kg"


def test_plan_without_body_mass_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    main(
        [
            "plan",
            "--machine",
            str(ROOT / "src/treadctl/samples/machines/sim.toml"),
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
        "01:05.0  segment   3 steps/backward 5 %: backward 1.12 km/h for 02:00.0; "
        "metronome cue 90 steps/min; INCLINE 5 %: set it by hand (treadctl does not drive it)"
    )


def test_a_segment_is_numbered_from_one_of_the_plan() -> None:
    record = {
        "t_s": 15.0,
        "kind": "segment",
        "index": 1,
        "label": "demo/backward",
        "segment_kind": "backward",
        "target_kmh": 1.0,
        "duration_s": 30.0,
    }
    assert format_event(record, 3) == (
        "00:15.0  segment   2/3 demo/backward: backward 1.00 km/h for 00:30.0"
    )
    assert format_event({**record, "of": 4}, 3) == (
        "00:15.0  segment   2/4 demo/backward: backward 1.00 km/h for 00:30.0"
    )


def test_plan_on_a_turn_round_machine_says_who_turns_and_the_keys_only_stop(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        [
            "plan",
            "--machine",
            str(ROOT / "src/treadctl/samples/machines/sim-turn.toml"),
            "--profile",
            str(ROOT / "profiles/demo-short.toml"),
        ]
    )
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert "backward walking by turning round" in out[1]
    backward = out.index(next(x for x in out if x.startswith("    2/3 demo/backward")))
    assert out[backward + 1] == (
        "        [ ] walker faces AWAY from the console, walks backward (belt runs forward)"
    )
    assert out[backward + 2] == (
        "        [ ] walker turned round at standstill, and the turn confirmed"
    )
    assert "their ONLY stop" in out[backward + 3]
    assert out[backward + 4].startswith("        [ ] sides swapped")
