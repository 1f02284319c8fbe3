"""The pre-start checklist of the segment about to start, on both kinds of machine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from treadctl.config.loader import load_model
from treadctl.config.machine import MachineConfig
from treadctl.config.patient import PatientConfig
from treadctl.config.profile import ProfileConfig
from treadctl.protocol.checklist import ONLY_STOP, SIDES_SWAPPED, checklist, segment_words
from treadctl.protocol.plan import Plan, build_plan

REPO = Path(__file__).resolve().parents[2]
BELT = load_model(REPO / "src/treadctl/samples/machines/sim.toml", MachineConfig)
TURN = load_model(REPO / "src/treadctl/samples/machines/sim-turn.toml", MachineConfig)
DEMO = load_model(REPO / "src/treadctl/samples/patients/demo.toml", PatientConfig)


def plan_of(machine: MachineConfig, *segments: dict[str, Any], **profile: Any) -> Plan:
    spec = {"name": "t", "blocks": [{"name": "", "segments": list(segments)}], **profile}
    return build_plan(ProfileConfig.model_validate(spec), machine, DEMO)


FWD = {"direction": "forward", "duration_s": 10, "speed_kmh": 2.0}
BWD = {"direction": "backward", "duration_s": 10, "speed_kmh": 1.0}
REST = {"direction": "rest", "duration_s": 60}


def test_the_machine_files_declare_their_kind() -> None:
    assert not BELT.walker_turns
    assert TURN.walker_turns


def test_a_turn_round_backward_segment_faces_away_and_the_key_is_the_only_stop() -> None:
    plan = plan_of(TURN, FWD, {**BWD, "rail_policy": "until_confident"})
    items = checklist(TURN, plan, 1)
    assert items[0].startswith("walker faces AWAY from the console")
    assert "walker turned round at standstill, and the turn confirmed" in items
    assert ONLY_STOP in items
    assert "their ONLY stop" in ONLY_STOP
    assert SIDES_SWAPPED in items
    assert any(i.startswith("hands on the handrails until confident") for i in items)


def test_the_first_segment_has_no_turn_and_faces_the_console() -> None:
    plan = plan_of(TURN, FWD, BWD)
    items = checklist(TURN, plan, 0)
    assert items[0] == "walker faces the console, walks forward"
    assert not any("turn" in i for i in items)
    assert ONLY_STOP not in items


def test_turning_back_to_forward_is_a_turn_too() -> None:
    plan = plan_of(TURN, FWD, BWD, FWD)
    items = checklist(TURN, plan, 2)
    assert items[0] == "walker faces the console, walks forward"
    assert "walker turned back round at standstill, and the turn confirmed" in items
    assert SIDES_SWAPPED not in items


def test_a_reversing_belt_keeps_the_walker_facing_the_console() -> None:
    plan = plan_of(BELT, FWD, BWD)
    items = checklist(BELT, plan, 1)
    assert items[0] == "walker faces the console, walks backward (belt runs backward)"
    assert "walker stays facing the console: only the belt turns" in items
    assert ONLY_STOP not in items
    assert SIDES_SWAPPED not in items
    assert "safety key clipped to the walker (every backward segment)" in items


def test_the_checklist_is_the_segments_own_not_the_first_one() -> None:
    plan = plan_of(
        TURN,
        {**FWD, "rail_policy": "advisory"},
        {**BWD, "rail_policy": "hold_to_run", "cadence_spm": 90},
    )
    first, second = checklist(TURN, plan, 0), checklist(TURN, plan, 1)
    assert "handrails within reach (advisory: not checked)" in first
    assert not any("metronome" in i for i in first)
    assert "hands on both handrails: this segment does not start or run without them" in second
    assert "metronome audible (90 steps/min, a cue)" in second


@pytest.mark.parametrize("machine", [BELT, TURN], ids=["belt", "turn"])
def test_harness_when_the_profile_requires_one(machine: MachineConfig) -> None:
    plan = plan_of(machine, FWD, BWD, requires_harness=True)
    for i in (0, 1):
        assert (
            "chest harness on and attached to the safety arch: the profile requires it"
            in checklist(machine, plan, i)
        )
    plain = plan_of(machine, FWD, BWD)
    assert not any("harness" in i for i in checklist(machine, plain, 1))


def test_a_steep_segment_names_its_incline() -> None:
    plan = plan_of(TURN, FWD, {**BWD, "incline_pct": 5.0})
    items = checklist(TURN, plan, 1)
    assert "chest harness on and attached to the safety arch: incline 5 % (required from 5 %)" in (
        items
    )
    assert "incline set by hand to 5 % (treadctl does not drive it)" in items
    first = checklist(TURN, plan, 0)
    assert (
        "chest harness on and attached to the safety arch: the profile's incline reaches 5 %"
        in first
    )


def test_a_rest_between_directions_is_where_the_walker_turns() -> None:
    plan = plan_of(TURN, FWD, REST, BWD)
    assert checklist(TURN, plan, 1) == [
        "rest 1:00: the belt stays stopped",
        "the walker turns round during the rest, with the belt at standstill",
        "the checks of segment 3/3 BACKWARD at 1.00 km/h come before its start",
    ]
    # the backward segment after the rest still knows the walker turned
    assert "walker turned round at standstill, and the turn confirmed" in checklist(TURN, plan, 2)


def test_out_of_range_is_empty_and_words_are_one_based() -> None:
    plan = plan_of(BELT, FWD, BWD)
    assert checklist(BELT, plan, 2) == []
    assert checklist(BELT, plan, -1) == []
    assert segment_words(plan.segments[1], 2) == "segment 2/2 BACKWARD at 1.00 km/h"
