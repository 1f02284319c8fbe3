"""The machine file's heart-rate source in the sessions: a real source needs `present =
true`; `treadctl simulate` always reads the simulator's panel (virtual time has no place
for a strap); a real-time session builds the source the file names."""

from __future__ import annotations

from pathlib import Path

import pytest

from treadctl.app import build_session, build_sim_session, load_session
from treadctl.clock import VirtualClock
from treadctl.config.errors import ConfigError
from treadctl.heartrate.mqtt import MqttHeartRate
from treadctl.samples import folder
from treadctl.sim.backends import SimHeartRate
from treadctl.sim.operator import ScriptedOperator
from treadctl.store.eventlog import EventLog

SIM_HR = (folder("machine") / "sim-hr.toml").read_text()
DEMO_SHORT = folder("profile") / "demo-short.toml"
MQTT_SOURCE = """
[heart_rate.source]
kind = "mqtt"
topic = "gateway/BTtoMQTT/E1CA7248C4E8"
[heart_rate.source.broker]
host = "127.0.0.1"
port = 1883
"""


def machine_with(tmp: Path, present: bool) -> Path:
    text = SIM_HR.replace(
        "[heart_rate]\npresent = true", f"[heart_rate]\npresent = {str(present).lower()}"
    )
    assert f"present = {str(present).lower()}" in text
    # the source's table must follow [heart_rate]: put it right after the present line
    head, sep, tail = text.partition(f"present = {str(present).lower()}\n")
    path = tmp / "hr.toml"
    path.write_text(head + sep + MQTT_SOURCE + tail)
    return path


def test_a_real_source_without_present_is_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_session(machine_with(tmp_path, present=False), DEMO_SHORT, None)
    lines = [str(p) for p in caught.value.problems]
    assert any("heart_rate.source.kind" in line and "present = true" in line for line in lines)


async def test_simulate_reads_the_panel_whatever_the_file_names(tmp_path: Path) -> None:
    files = load_session(machine_with(tmp_path, present=True), DEMO_SHORT, None)
    events = EventLog(tmp_path / "events.jsonl")
    session = build_sim_session(files, VirtualClock(), events, ScriptedOperator())
    assert isinstance(session.loop.p.heart_rate, SimHeartRate)
    events.close()


async def test_a_real_time_session_builds_the_named_source(tmp_path: Path) -> None:
    files = load_session(machine_with(tmp_path, present=True), DEMO_SHORT, None)
    events = EventLog(tmp_path / "events.jsonl")
    session = build_session(files, VirtualClock(), events)
    assert isinstance(session.loop.p.heart_rate, MqttHeartRate)
    events.close()


async def test_the_panel_stays_the_default_source(tmp_path: Path) -> None:
    files = load_session(folder("machine") / "sim-hr.toml", DEMO_SHORT, None)
    events = EventLog(tmp_path / "events.jsonl")
    session = build_session(files, VirtualClock(), events)
    assert isinstance(session.loop.p.heart_rate, SimHeartRate)
    events.close()
