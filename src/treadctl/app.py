"""Loading a session's files and assembling a controller around the simulated world."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from treadctl.config.errors import ConfigError, ConfigProblem
from treadctl.config.loader import load_model
from treadctl.config.machine import MachineConfig
from treadctl.config.patient import PatientConfig
from treadctl.config.profile import ProfileConfig
from treadctl.control.clock import Clock
from treadctl.control.loop import ControlLoop, LoopParts
from treadctl.control.operator import ScriptedOperator
from treadctl.drives.sim import SimDrive
from treadctl.inputs.sim import SimHeartRate, SimSafetyInputs
from treadctl.protocol.plan import Plan, build_plan
from treadctl.safety.interlock import InterlockConfig
from treadctl.sim.scenario import FaultEvent, Injector, Scenario
from treadctl.sim.world import BeltSim, Panel
from treadctl.store.eventlog import EventLog


@dataclass(frozen=True)
class SessionFiles:
    machine: MachineConfig
    profile: ProfileConfig
    patient: PatientConfig | None
    plan: Plan


def load_session(machine_path: Path, profile_path: Path, patient_path: Path | None) -> SessionFiles:
    """Load all three files, report every problem in all of them at once, then cross-check."""
    problems: list[ConfigProblem] = []
    machine = profile = patient = None
    try:
        machine = load_model(machine_path, MachineConfig)
    except ConfigError as exc:
        problems += exc.problems
    try:
        profile = load_model(profile_path, ProfileConfig)
    except ConfigError as exc:
        problems += exc.problems
    if patient_path is not None:
        try:
            patient = load_model(patient_path, PatientConfig)
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    assert machine is not None
    assert profile is not None
    plan = build_plan(profile, machine, patient, profile_path)
    return SessionFiles(machine, profile, patient, plan)


@dataclass
class SimSession:
    loop: ControlLoop
    belt: BeltSim
    events: EventLog


def build_sim_session(
    files: SessionFiles,
    clock: Clock,
    events: EventLog,
    operator: ScriptedOperator | None = None,
    scenario: Scenario | None = None,
    end_on_fault: bool = False,
) -> SimSession:
    machine = files.machine
    panel = Panel()
    if machine.heart_rate.present:
        panel.heart_rate_bpm = 90.0
    belt = BeltSim(machine.drive.belt, panel)
    drive = SimDrive(belt, clock)
    injector = None
    if scenario is not None:

        def log_fault(event: FaultEvent) -> None:
            events.write(
                clock.now() - loop.t0,
                clock.wall_time(),
                "fault_injected",
                action=event.action.value,
                code=event.code,
                value=event.value,
            )

        injector = Injector(scenario, belt, log_fault)

    parts = LoopParts(
        machine=machine,
        plan=files.plan,
        interlock_config=InterlockConfig.from_config(
            machine.limits, machine.watchdog, files.patient
        ),
        drive=drive,
        inputs=SimSafetyInputs(panel),
        heart_rate=SimHeartRate(panel) if machine.heart_rate.present else None,
        clock=clock,
        events=events,
        operator=operator,
        patient_name=files.patient.pseudonym if files.patient else "-",
        end_on_fault=end_on_fault,
        max_session_s=files.plan.total_s * 3 + 600,
        on_cycle=injector.poll if injector is not None else None,
    )
    loop = ControlLoop(parts)
    return SimSession(loop, belt, events)


__all__ = ["SessionFiles", "SimSession", "build_sim_session", "load_session"]
