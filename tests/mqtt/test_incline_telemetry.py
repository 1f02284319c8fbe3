"""The powered incline in the published status (issue 14): target, actual and mode in
telemetry and the retained state, absent without an actuator, a latched fault news for
the retained state; on a real broker with a controller on the simulated lift."""

from __future__ import annotations

import json
from pathlib import Path

from mqtt_broker import Broker
from mqtt_rig import ROOT, Collector, bridge_config, running

from treadctl.api.messages import InclineStatus, Status
from treadctl.mqtt.bridge import MqttBridge
from treadctl.mqtt.payloads import Telemetry, any_payload, snapshot_fields, state_key

BASE = "treadctl/clinic/tm-01"
SIM_INCLINE = ROOT / "src/treadctl/samples/machines/sim-incline.toml"
LONGEST_FAULT = max(
    [
        "incline stalled: no position change while driven",
        "incline travels faster than its maximum rate (runaway)",
        "incline position reading outside the machine's range",
    ],
    key=len,
)


def a_status(**fields: object) -> Status:
    base: dict[str, object] = {
        "t_s": 1.0,
        "mode": "running",
        "direction": "backward",
        "reasons": [],
        "latched": False,
        "detail": "",
        "target_kmh": 1.0,
        "setpoint_kmh": 1.0,
        "actual_kmh": 1.0,
        "cap_kmh": 1.5,
        "at_standstill": False,
        "incline_pct": 3.0,
        "heart_rate_bpm": None,
        "cue_spm": 100.0,
        "segment": None,
        "next_segment": None,
        "segment_elapsed_s": 0.0,
        "segment_remaining_s": 0.0,
        "session_elapsed_s": 0.0,
        "session_remaining_s": 0.0,
        "indicators": [],
        "warnings": [],
        "operator_present": True,
    }
    return Status.model_validate(base | fields)


def telemetry(status: Status) -> Telemetry:
    return Telemetry(
        site="clinic",
        treadmill="tm-01",
        seq=1,
        sent_at=2.0,
        sampled_at=1.0,
        dropped_telemetry=0,
        dropped_events=0,
        **snapshot_fields(status),
    )


def test_the_incline_in_telemetry_and_what_makes_a_new_state() -> None:
    moving = InclineStatus(target_pct=3.0, goal_pct=3.0, actual_pct=1.23456, mode="moving up")
    tel = telemetry(a_status(incline=moving))
    assert tel.incline is not None
    assert (tel.incline.target_pct, tel.incline.actual_pct, tel.incline.mode) == (
        3.0,
        1.23,
        "moving up",
    )
    assert tel.incline.fault is None
    assert telemetry(a_status()).incline is None  # no actuator: absent
    # an older bridge's telemetry (no incline field) still decodes
    old = json.loads(telemetry(a_status()).model_dump_json())
    del old["incline"]
    assert any_payload.validate_json(json.dumps(old)).kind == "telemetry"
    # moving and holding are telemetry; a latched fault is a new retained state
    holding = moving.model_copy(update={"mode": "holding", "actual_pct": 3.0})
    assert state_key(a_status(incline=moving)) == state_key(a_status(incline=holding))
    stalled = moving.model_copy(update={"mode": "faulted", "faults": [LONGEST_FAULT] * 8})
    assert state_key(a_status(incline=stalled)) != state_key(a_status(incline=moving))
    # bounded: the first fault only, so the payload grows by a fixed amount at most
    big = telemetry(a_status(incline=stalled))
    assert big.incline is not None
    assert big.incline.fault == LONGEST_FAULT
    grown = len(big.model_dump_json()) - len(telemetry(a_status()).model_dump_json())
    assert grown < 200, grown


async def test_a_controller_on_the_simulated_lift_publishes_its_incline(
    broker: Broker, tmp_path: Path, short_dir: Path
) -> None:
    bridge = MqttBridge(bridge_config(tmp_path, broker))
    async with (
        Collector(broker, "desk", (f"{BASE}/#",)) as sub,
        running(tmp_path, short_dir, bridge, machine=SIM_INCLINE),
    ):
        rec = await sub.wait_for(
            lambda r: r.topic == f"{BASE}/telemetry" and r.json().get("mode") == "running",
            "telemetry of a running belt",
        )
        tel = Telemetry.model_validate_json(rec.payload)
        assert tel.incline is not None
        assert tel.incline.target_pct == 0.0  # the profile walks level
        assert tel.incline.actual_pct is not None
        assert abs(tel.incline.actual_pct) < 0.5
        assert tel.incline.mode in ("holding", "halted")
        assert tel.incline.fault is None


async def test_without_an_actuator_no_incline_is_published(
    broker: Broker, tmp_path: Path, short_dir: Path
) -> None:
    bridge = MqttBridge(bridge_config(tmp_path, broker))
    async with (
        Collector(broker, "desk", (f"{BASE}/#",)) as sub,
        running(tmp_path, short_dir, bridge),
    ):
        rec = await sub.wait_for(
            lambda r: r.topic == f"{BASE}/telemetry" and r.json().get("mode") == "running",
            "telemetry of a running belt",
        )
        assert Telemetry.model_validate_json(rec.payload).incline is None
