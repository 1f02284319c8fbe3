"""Loading a session's files and assembling a controller from the machine file."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from treadctl.clinic import read_history as clinic_history
from treadctl.clock import Clock
from treadctl.config.errors import ConfigError, ConfigProblem
from treadctl.config.heartrate import SimSourceConfig
from treadctl.config.loader import load_model
from treadctl.config.machine import (
    FtmsDriveConfig,
    MachineConfig,
    ModbusDriveConfig,
    ModbusInputsConfig,
    PositionInclineConfig,
    RelayInclineConfig,
    SerialLink,
    SimBelt,
    SimDriveConfig,
    SimInclineConfig,
)
from treadctl.config.patient import PatientConfig
from treadctl.config.profile import ProfileConfig
from treadctl.control.loop import ControlLoop, CycleRecorder, LoopParts
from treadctl.drives.base import Drive
from treadctl.drives.link import ModbusLink
from treadctl.drives.modbus import ModbusDrive, cycle_transfers
from treadctl.drives.regmap import RegisterMap, load_map
from treadctl.drives.wire import (
    CycleWire,
    read_registers_bytes,
    rtu_cycle,
    transaction_s,
    write_registers_bytes,
)
from treadctl.incline.factory import build_incline
from treadctl.inputs.base import HeartRateSource, SafetyInputSource
from treadctl.inputs.modbus import ModbusSafetyInputs
from treadctl.protocol.plan import Plan, build_plan
from treadctl.protocol.progression import Prescription
from treadctl.safety.interlock import InterlockConfig
from treadctl.service.hook import chain_cycle
from treadctl.sim.backends import SimDrive, SimHeartRate, SimSafetyInputs, sim_incline, sim_lift
from treadctl.sim.operator import ScriptedOperator
from treadctl.sim.scenario import FaultEvent, Injector, Scenario
from treadctl.sim.world import BeltSim, Panel
from treadctl.store.eventlog import EventLog
from treadctl.store.history import Progress, load_progress

if TYPE_CHECKING:  # the Bluetooth stack is imported only by a session that uses it
    from treadctl.drives.ble_link import HciLink


@dataclass(frozen=True)
class SessionFiles:
    machine: MachineConfig
    profile: ProfileConfig
    patient: PatientConfig | None
    plan: Plan
    machine_source: str = "machine"


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
    if machine is not None and isinstance(machine.drive, ModbusDriveConfig):
        try:
            regmap = load_map(machine.drive.map, f"{machine_path}: drive.map")
            problems += _wire_budget(machine, regmap, str(machine_path))
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    assert machine is not None
    assert profile is not None
    plan = build_plan(profile, machine, patient, profile_path)
    return SessionFiles(machine, profile, patient, plan, str(machine_path))


def apply_prescription(
    files: SessionFiles, profile_path: Path | str, prescription: Prescription
) -> SessionFiles:
    """The files with the plan built again with the prescription: checked like any plan.

    A prescription above a cap, or one that breaks any other rule, is refused with the
    problems (ConfigError), never clamped.
    """
    plan = build_plan(files.profile, files.machine, files.patient, profile_path, prescription)
    return replace(files, plan=plan)


def session_progress(
    files: SessionFiles, profile_path: Path, db: Path, kind: str, *, create: bool = False
) -> Progress:
    """The patient's recorded sessions of this profile (of this kind: "run" or "simulate")
    and the next prescription from them."""
    params = files.plan.progression
    if params is None:
        raise ConfigError.single(
            profile_path,
            "progression",
            "the profile has no [progression] section: there is nothing to prescribe",
        )
    if files.patient is None:
        raise ConfigError.single(
            profile_path,
            "progression",
            "a prescription is for one patient: give --patient",
        )
    try:
        # as the recorder hashes it: the text as read
        text = profile_path.read_text(encoding="utf-8")
        sha: str | None = hashlib.sha256(text.encode()).hexdigest()
    except (OSError, UnicodeDecodeError):
        sha = None
    return load_progress(
        db,
        params,
        files.patient.pseudonym,
        files.profile.name,
        kind,
        files.machine.limits.standstill_kmh,
        profile_sha256=sha,
        profile_source=str(profile_path),
        create=create,
        clinic=clinic_history,  # `db` may be the clinic's records' URL
    )


def _wire_budget(machine: MachineConfig, regmap: RegisterMap, source: str) -> list[ConfigProblem]:
    """Refuse a loop rate that the RTU baud rate cannot carry."""
    d = machine.drive
    assert isinstance(d, ModbusDriveConfig)
    if not isinstance(d.link, SerialLink):
        return []
    reads, writes = cycle_transfers(regmap)
    inputs: list[int] = []
    si = machine.safety_inputs
    if isinstance(si, ModbusInputsConfig) and (si.link == "drive" or si.link == d.link):  # noqa: PLR1714
        pins = (si.estop_chain_input, si.key_input, si.rail_left_input, si.rail_right_input)
        inputs = [max(pins) - min(pins) + 1]
    cycle = rtu_cycle(
        d.link.baudrate,
        d.link.response_delay_s,
        reads,
        writes,
        inputs,
        regmap.single_write_function,
    )
    cycle = _with_incline(cycle, machine, d.link)
    loop = machine.loop
    if cycle.seconds <= loop.period_s * loop.wire_budget_fraction:
        return []
    best = cycle.max_rate_hz(loop.wire_budget_fraction)
    return [
        ConfigProblem(
            source,
            "loop.rate_hz",
            f"{loop.rate_hz:g} Hz needs {cycle.seconds * 1e3:.1f} ms of Modbus RTU traffic per "
            f"cycle ({cycle.transactions} transactions at {d.link.baudrate} baud), more than "
            f"{loop.wire_budget_fraction:.0%} of the {loop.period_s * 1e3:.0f} ms period: use at "
            f"most {math.floor(best)} Hz or a higher baud rate",
        )
    ]


def write_coils_bytes(count: int) -> tuple[int, int]:
    """(request, response) bytes of function 15 (write multiple coils)."""
    return 9 + (count + 7) // 8, 8


SINGLE_COIL_BYTES = (8, 8)  # function 05, request and echo


def _with_incline(cycle: CycleWire, machine: MachineConfig, bus: SerialLink) -> CycleWire:
    """The cycle with the incline actuator's own traffic when it shares the drive's RTU
    bus: its position read each cycle (04 for the relay module's input register, 03 for a
    position controller) and its write (one 15 of both coils, or two 05 when the coils are
    not adjacent; one 06 of the target)."""
    act = machine.incline.actuator if machine.incline is not None else None
    if not isinstance(act, RelayInclineConfig | PositionInclineConfig):
        return cycle
    if act.link != "drive" and act.link != bus:  # noqa: PLR1714 - narrows the type
        return cycle
    pairs = [read_registers_bytes(1)]  # function 04 has the same frame sizes as 03
    if isinstance(act, RelayInclineConfig):
        if abs(act.up_coil - act.down_coil) == 1:
            pairs.append(write_coils_bytes(2))
        else:
            pairs += [SINGLE_COIL_BYTES, SINGLE_COIL_BYTES]
    else:
        pairs.append(write_registers_bytes(1))
    extra = sum(transaction_s(q, r, bus.baudrate) + bus.response_delay_s for q, r in pairs)
    return CycleWire(cycle.transactions + len(pairs), cycle.seconds + extra)


@dataclass
class Session:
    loop: ControlLoop
    events: EventLog
    belt: BeltSim | None  # the in-process simulated world, when the drive is simulated


def _bus_named_drive(machine: MachineConfig) -> MachineConfig:
    """The machine with an incline actuator that names the drive's own link written out
    as `link = "drive"`: one client on the bus, as the safety inputs share it."""
    rng = machine.incline
    act = rng.actuator if rng is not None else None
    if (
        rng is None
        or not isinstance(act, RelayInclineConfig | PositionInclineConfig)
        or not isinstance(machine.drive, ModbusDriveConfig)
        or act.link != machine.drive.link
    ):
        return machine
    shared = rng.model_copy(update={"actuator": act.model_copy(update={"link": "drive"})})
    return machine.model_copy(update={"incline": shared})


def _heart_rate(machine: MachineConfig, panel: Panel) -> HeartRateSource | None:
    """The machine file's heart-rate source (not started: the loop starts it)."""
    if not machine.heart_rate.present:
        return None
    source = machine.heart_rate.source
    if isinstance(source, SimSourceConfig):
        return SimHeartRate(panel)
    # only a real strap needs the Bluetooth stack, which takes about a second to import
    from treadctl.heartrate.factory import build_source  # noqa: PLC0415

    return build_source(source)


def _modbus_parts(
    files: SessionFiles,
) -> tuple[Drive, SafetyInputSource | None, ModbusLink]:
    machine = files.machine
    assert isinstance(machine.drive, ModbusDriveConfig)
    d = machine.drive
    link = ModbusLink(d.link, d.retries)
    link.users += 1
    drive = ModbusDrive(link, load_map(d.map), d.device_id, d.kmh_per_hz, d.has_comm_watchdog)
    inputs: SafetyInputSource | None = None
    if isinstance(machine.safety_inputs, ModbusInputsConfig):
        si = machine.safety_inputs
        shared = si.link == "drive" or si.link == d.link  # noqa: PLR1714 - narrows the type
        in_link = link if shared or isinstance(si.link, str) else ModbusLink(si.link, 0)
        in_link.users += 1
        inputs = ModbusSafetyInputs(in_link, si)
    return drive, inputs, link


def ftms_drive(cfg: FtmsDriveConfig, link: HciLink | None = None) -> Drive:
    """The machine file's FTMS treadmill, on its dongle or on `link` (the tests' and the
    simulator's virtual radio). Not connected: the loop connects it."""
    # only a Bluetooth drive needs the Bluetooth stack, which takes about a second to import
    from treadctl.drives.ble_link import TransportLink  # noqa: PLC0415
    from treadctl.drives.ftms import FtmsDrive  # noqa: PLC0415

    if link is None:
        link = TransportLink(cfg.transport, cfg.own_address, cfg.connect_timeout_s)
    return FtmsDrive(
        link, cfg.address, cfg.connect_timeout_s, cfg.answer_timeout_s, cfg.stale_after_s
    )


def build_session(
    files: SessionFiles,
    clock: Clock,
    events: EventLog,
    operator: ScriptedOperator | None = None,
    scenario: Scenario | None = None,
    end_on_fault: bool = False,
    recorder: CycleRecorder | None = None,
    supervised: bool = False,
    on_cycle: Callable[[float], None] | None = None,
    ble_link: HciLink | None = None,
) -> Session:
    """The controller for the machine file's drive. `supervised`: a remote operator console
    is attached and the profile requires supervision (its heartbeats are a safety input).
    `on_cycle`: called after each cycle, after the scenario's fault injection (the
    service's watchdog pings); it must return at once and never raise. `ble_link`: the
    Bluetooth controller of an FTMS drive instead of the machine file's transport."""
    machine = files.machine
    panel = Panel()
    if machine.heart_rate.present:
        panel.heart_rate_bpm = 90.0
    belt: BeltSim | None = None
    drive: Drive
    inputs: SafetyInputSource | None = None
    drive_link: ModbusLink | None = None
    if isinstance(machine.drive, SimDriveConfig):
        belt = BeltSim(machine.drive.belt, panel)
        drive = SimDrive(belt, clock)
    else:
        if scenario is not None and scenario.event:
            raise ConfigError.single(
                files.machine_source,
                "drive.kind",
                "scenario fault events need the built-in simulated drive; with a Modbus "
                "drive inject them in the simulator (treadctl sim --scenario)",
            )
        if isinstance(machine.drive, FtmsDriveConfig):
            drive = ftms_drive(machine.drive, ble_link)
        else:
            drive, inputs, drive_link = _modbus_parts(files)
    if inputs is None:
        inputs = SimSafetyInputs(panel)
    drive.reverse_allowed = not machine.walker_turns  # the drive's own last line
    # the simulated lift lives beside the simulated belt, where the scenario reaches it
    lift = sim_lift(machine) if belt is not None else None
    incline = sim_incline(machine, clock, lift) or build_incline(
        _bus_named_drive(machine), drive_link=drive_link
    )

    injector = None
    if scenario is not None and belt is not None:
        world = belt

        def log_fault(event: FaultEvent) -> None:
            events.write(
                clock.now() - loop.t0,
                clock.wall_time(),
                "fault_injected",
                action=event.action.value,
                code=event.code,
                value=event.value,
            )

        injector = Injector(scenario, world, log_fault, lift)

    parts = LoopParts(
        machine=machine,
        plan=files.plan,
        interlock_config=InterlockConfig.from_config(
            machine.limits,
            machine.watchdog,
            files.patient,
            machine.operator,
            walker_turns=machine.walker_turns,
        ),
        drive=drive,
        inputs=inputs,
        heart_rate=_heart_rate(machine, panel),
        clock=clock,
        events=events,
        operator=operator,
        patient_name=files.patient.pseudonym if files.patient else "-",
        end_on_fault=end_on_fault,
        max_session_s=files.plan.total_s * 3 + 600,
        on_cycle=chain_cycle(injector.poll if injector is not None else None, on_cycle),
        recorder=recorder,
        supervised=supervised,
        incline=incline,
    )
    loop = ControlLoop(parts)
    return Session(loop, events, belt)


def build_sim_session(
    files: SessionFiles,
    clock: Clock,
    events: EventLog,
    operator: ScriptedOperator | None = None,
    scenario: Scenario | None = None,
    end_on_fault: bool = False,
    recorder: CycleRecorder | None = None,
) -> Session:
    """A session on the built-in simulator, whatever drive (and incline actuator) the
    machine file names: a Modbus actuator becomes the simulator's lift at the machine's
    profile rate."""
    machine = files.machine
    if not isinstance(machine.drive, SimDriveConfig):
        machine = machine.model_copy(update={"drive": SimDriveConfig(belt=SimBelt())})
    rng = machine.incline
    if (
        rng is not None
        and rng.actuator is not None
        and not isinstance(rng.actuator, SimInclineConfig)
    ):
        lift = SimInclineConfig(travel_pct_per_s=rng.rate_pct_per_s)
        machine = machine.model_copy(update={"incline": rng.model_copy(update={"actuator": lift})})
    # virtual time: minutes pass in seconds, so a real strap (Bluetooth, MQTT) has no place
    # here; the simulator's panel gives the heart rate, and scenarios set it
    if not isinstance(machine.heart_rate.source, SimSourceConfig):
        hr = machine.heart_rate.model_copy(update={"source": SimSourceConfig()})
        machine = machine.model_copy(update={"heart_rate": hr})
    if machine is not files.machine:
        files = SessionFiles(
            machine, files.profile, files.patient, files.plan, files.machine_source
        )
    return build_session(files, clock, events, operator, scenario, end_on_fault, recorder)


SimSession = Session  # the name the first tests used


__all__ = [
    "Session",
    "SessionFiles",
    "SimSession",
    "apply_prescription",
    "build_session",
    "build_sim_session",
    "ftms_drive",
    "load_session",
    "session_progress",
]
