"""Property-based tests of the interlock and the setpoint generator, chained as in the loop.

A hypothesis state machine drives the real `Interlock.step` and `step_setpoint` exactly
as `control/loop.py` chains them (interlock target -> `step_setpoint` with the ramp of
`out.direction`; the quick-stop rate when `out.decel` is QUICK or the drive is disabled)
against the simulated belt `BeltSim` (drive ramp, inertia, STO coasting on e-stop/key,
drive comm-loss watchdog), advanced by one loop period per cycle. Limits come from
samples/machines/sim.toml, optionally with a patient's personal caps.

Random sequences mix time steps, e-stop chain, safety key, handrails, safety-input read
failures, drive bus failures (reads failing, bus silent, garbage readings), drive fault
codes, heart-rate values and loss, profile segment changes (forward/backward/rest, every
rail policy, optional heart-rate rules) and operator commands (start, stop, pause, reset,
set_speed with out-of-range and non-finite values, set_direction). A "healthy start"
(clear every fault input, wait for standstill, reset, turn, start, run on) is part of most
sequences' setup and offered as a rule, so the belt actually runs.

Every control cycle is recorded; after every rule each invariant checks every cycle that
rule ran:

  inv1  while FAULTED the speed command never increases
  inv2  setpoint change per period within the ramp of out.direction, except quick stop
  inv3a direction changes only with the belt's actual speed <= standstill_kmh
  inv3b direction changes only with a zero setpoint             (KNOWN BUG, see below)
  inv4a setpoint and target never above min(machine, patient, direction) cap
  inv4b dynamic caps (rails, heart rate lost, reverse start): see its docstring
  inv5  after a stop (or power-on) the belt moves again only after an accepted start
  inv6  reverse start: first reverse setpoint and the whole hold at or below the cap
  inv7  never RUNNING (indeed FAULTED) while a latched fault input is present

Checks listed in KNOWN_BUGS are violated by src/ today: the main test records them (as a
hypothesis event) without failing, and a strict-xfail test replays each bug.

Examples: the "ci" profile of tests/conftest.py (10,000 sequences, the default) or "dev"
(200): `HYPOTHESIS_PROFILE=dev .venv/bin/pytest tests/safety/test_properties.py`. Add
`--hypothesis-show-statistics` to see how many sequences reached which states.

PYTEST_DONT_REWRITE: every assert here carries its own message, and pytest's assertion
rewriting slows the per-cycle checks (a sequence runs hundreds of cycles).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from treadctl.config.loader import load_model
from treadctl.config.machine import MachineConfig, SimDriveConfig
from treadctl.config.patient import PatientConfig
from treadctl.config.profile import RailPolicy
from treadctl.control.setpoint import Ramp, Setpoint, step_setpoint
from treadctl.safety.interlock import Interlock, InterlockConfig
from treadctl.safety.types import (
    Command,
    CommandKind,
    Decel,
    Direction,
    DriveStatus,
    InterlockState,
    Mode,
    Reason,
    SafetyInputs,
    SafetyIO,
    SafetyOutputs,
    SegmentPolicy,
)
from treadctl.sim.world import BeltSim

MACHINE_FILE = Path(__file__).resolve().parents[2] / "src/treadctl/samples/machines" / "sim.toml"
MACHINE = load_model(MACHINE_FILE, MachineConfig)
LIMITS = MACHINE.limits
WATCHDOG = MACHINE.watchdog
CONFIG_PRESENCE_S = MACHINE.operator.presence_timeout_s
PERIOD_S = MACHINE.loop.period_s
assert isinstance(MACHINE.drive, SimDriveConfig), (
    "src/treadctl/samples/machines/sim.toml must declare the sim drive"
)
BELT = MACHINE.drive.belt
RAMPS = {
    Direction.FORWARD: Ramp.from_config(LIMITS.forward),
    Direction.BACKWARD: Ramp.from_config(LIMITS.backward),
}
QUICK_DECEL = LIMITS.quick_stop_decel_kmh_per_s
EPS = 1e-9  # float slack on every comparison of speeds
INF = math.inf


# Checks that src/ is known to violate. The main property test does not assert them (so the
# other invariants keep guarding every run); each has a strict-xfail regression test below
# that replays the minimal failing example. Fix the bug, then delete the entry.
KNOWN_BUGS: dict[str, str] = {}  # BUG-1 (inv3b) is fixed; its replay is a regression test


class KnownBugError(AssertionError):
    """A check listed in KNOWN_BUGS failed while those checks were enforced."""


def _ceil_cycles(seconds: float) -> int:
    return math.ceil(seconds / PERIOD_S)


# --------------------------------------------------------------------------- strategies

SPEEDS = st.one_of(
    st.sampled_from([0.01, 0.05, 0.3, 1.0, 1.5, 2.0, 3.0, 4.5, 5.0, 8.0, 12.0, 25.0]),
    st.floats(min_value=0.01, max_value=25.0),
)
# Segment shapes: direction, rail policy, heart rate required, heart-rate limit. One draw
# picks a shape (cheaper than four: data generation is most of the cost of a sequence).
SEGMENT_SHAPES = [
    (direction, rails, hr_required, hr_max)
    for direction in Direction
    for rails in RailPolicy
    for hr_required in (False, True)
    for hr_max in (None, 60.0, 120.0, 180.0)
]


def _segment(
    shape: tuple[Direction, RailPolicy, bool, float | None], target_kmh: float, moving: bool
) -> SegmentPolicy:
    direction, rails, hr_required, hr_max = shape
    return SegmentPolicy(
        index=-1,  # numbered when it becomes current
        moving=moving,
        direction=direction,
        target_kmh=target_kmh if moving else 0.0,
        rail_policy=rails,
        hr_required=hr_required,
        hr_max_bpm=hr_max,
    )


MOVING_SEGMENTS = st.builds(_segment, st.sampled_from(SEGMENT_SHAPES), SPEEDS, st.just(True))
REST_SEGMENTS = st.builds(_segment, st.sampled_from(SEGMENT_SHAPES), st.just(0.0), st.just(False))
RUN_CYCLES = st.sampled_from([0, 1, 5, 25, 50, 100, 250])  # run on after a healthy start
DEFAULT_SEGMENT = SegmentPolicy(-1, True, Direction.FORWARD, 3.0, RailPolicy.ADVISORY, False, None)
SEGMENTS = st.one_of(st.none(), MOVING_SEGMENTS, REST_SEGMENTS)

COMMAND_SPEEDS = st.one_of(
    SPEEDS,
    st.sampled_from([None, 0.0, -1.0, 5.0 + 1e-6, 12.0 + 1e-6, math.nan, math.inf, -math.inf]),
    st.floats(allow_nan=True, allow_infinity=True),
)
SOURCES = st.sampled_from(["operator", "profile"])
COMMANDS = st.one_of(
    st.builds(
        Command,
        kind=st.sampled_from(
            [CommandKind.START, CommandKind.STOP, CommandKind.PAUSE, CommandKind.RESET]
        ),
        source=SOURCES,
    ),
    st.builds(
        Command, kind=st.just(CommandKind.SET_SPEED), source=SOURCES, speed_kmh=COMMAND_SPEEDS
    ),
    st.builds(
        Command,
        kind=st.just(CommandKind.SET_DIRECTION),
        source=SOURCES,
        direction=st.one_of(st.none(), st.sampled_from(Direction)),
    ),
    st.builds(
        Command,
        kind=st.just(CommandKind.CONFIRM_TURN),
        source=SOURCES,
        direction=st.one_of(st.none(), st.sampled_from(Direction)),
    ),
)

HOSTILE_COMMANDS = st.one_of(
    st.sampled_from(
        [
            Command(CommandKind.RESET),
            Command(CommandKind.START),
            Command(CommandKind.SET_DIRECTION, direction=Direction.FORWARD),
            Command(CommandKind.SET_DIRECTION, direction=Direction.BACKWARD),
        ]
    ),
    COMMANDS,
)


@st.composite
def patients(draw: st.DrawFn) -> PatientConfig | None:
    if draw(st.booleans()):
        return None
    fwd = draw(st.one_of(st.none(), st.floats(min_value=0.5, max_value=14.0)))
    bwd = draw(st.one_of(st.none(), st.floats(min_value=0.3, max_value=6.0)))
    if fwd is not None and bwd is not None and bwd > fwd:
        bwd = fwd
    return PatientConfig(
        pseudonym="P-test",
        comfortable_forward_kmh=3.0,
        max_forward_kmh=fwd,
        max_backward_kmh=bwd,
    )


# ----------------------------------------------------------------------------- records

_SAFETY_IO: dict[tuple[bool, bool, bool, bool], SafetyIO] = {}  # immutable, so shared


@dataclass(slots=True)  # not frozen: a frozen dataclass is slow to build, once per cycle
class Cycle:
    """One control cycle, with what the model needs to judge it."""

    now: float
    inputs: SafetyInputs
    belt_speed_kmh: float  # true belt speed when the inputs were read
    prev_mode: Mode
    prev_direction: Direction  # out.direction of the previous cycle
    prev_sp_kmh: float  # setpoint written last cycle (= inputs.commanded_kmh)
    prev2_sp_kmh: float  # setpoint written the cycle before that
    sp: Setpoint
    out: SafetyOutputs
    start_accepted: bool
    reverse_hold_from: float | None  # time of the last accepted backward start
    dynamic_cap_kmh: float  # rails/until_confident, heart rate lost, reverse start
    latched_fault_inputs: tuple[str, ...]

    def where(self) -> str:
        o = self.out
        return (
            f"t={self.now:.2f}s mode {self.prev_mode.value}->{o.mode.value} "
            f"dir {self.prev_direction.value}->{o.direction.value} "
            f"setpoint {self.prev_sp_kmh!r}->{self.sp.speed_kmh!r} (quick={self.sp.quick}) "
            f"target {o.target_kmh!r} belt {self.belt_speed_kmh!r} reasons "
            f"{[r.value for r in o.reasons]} decisions "
            f"{[(d.command.kind.value, d.accepted, d.detail) for d in o.decisions]}"
        )


# ------------------------------------------------------------------------ state machine


class InterlockMachine(RuleBasedStateMachine):
    enforce_known_bugs = False  # the regression tests of KNOWN_BUGS set this

    def __init__(self) -> None:
        super().__init__()
        self.interlock: Interlock | None = None
        self.static_caps: dict[Direction, float] = {}
        self.state = InterlockState()
        self.sp = Setpoint()
        self.prev_sp_kmh = 0.0
        self.prev_mode = self.state.mode
        self.prev_direction = self.state.direction
        self.belt = BeltSim(BELT)
        self.belt.watchdog_s = WATCHDOG.drive_comm_loss_s  # armed as ControlLoop.connect does
        self.k = 0  # cycle count; now = k * period
        self.io_fails = False
        self.io_ok_at = 0.0
        self.drive_bus = "ok"  # ok | read_fails | silent | garbage
        self.garbage_kmh = math.nan
        self.drive_ok_at = 0.0
        self.write_ok = True
        self.hr_bpm: float | None = None
        self.hr_ok_at: float | None = None
        self.segment: SegmentPolicy | None = None
        self.console = "unsupervised"  # unsupervised | alive | frozen (the dashboard)
        self.console_seen_at: float | None = None
        self.segment_count = 0
        self.reverse_hold_from: float | None = None
        self.cycles: list[Cycle] = []
        self.seen: set[str] = set()
        self.long_waits: set[str] = set()  # the costly waits, each at most once a sequence
        self.walker_turns = False  # a turn-round machine: the belt never reverses
        self.facing = Direction.FORWARD  # the walker's confirmed orientation (model's own)
        self.drive_directions: set[Direction] = set()  # every direction the drive was told

    # ---------------------------------------------------------------- the control cycle

    @property
    def out_mode(self) -> Mode:
        return self.prev_mode

    def _cycle(self, commands: tuple[Command, ...] = ()) -> SafetyOutputs:
        """One cycle of ControlLoop.run: read, interlock, setpoint, write; then physics."""
        assert self.interlock is not None
        now = self.k * PERIOD_S
        belt, panel = self.belt, self.belt.panel
        belt_speed = belt.speed_kmh

        # 1. read inputs (a failed read is "no reading"; ages grow from the last good one)
        io: SafetyIO | None = None
        if not self.io_fails:
            key = (panel.estop_chain_ok, panel.key_present, panel.rail_left, panel.rail_right)
            io = _SAFETY_IO.get(key)
            if io is None:
                io = _SAFETY_IO[key] = SafetyIO(*key)
            self.io_ok_at = now
        drive: DriveStatus | None = None
        if self.drive_bus in ("ok", "garbage"):
            speed = belt.speed_kmh if self.drive_bus == "ok" else self.garbage_kmh
            drive = DriveStatus(belt.ready, belt.fault_code, speed, belt.direction)
            if self.write_ok:
                self.drive_ok_at = now
        if self.hr_bpm is not None:
            self.hr_ok_at = now
        operator_age: float | None = None
        if self.console == "alive":
            self.console_seen_at = now
        if self.console != "unsupervised":
            seen = self.console_seen_at
            operator_age = math.inf if seen is None else now - seen
        inputs = SafetyInputs(
            io=io,
            io_age_s=now - self.io_ok_at,
            drive=drive,
            drive_age_s=now - self.drive_ok_at,
            commanded_kmh=self.sp.speed_kmh,
            segment=self.segment,
            heart_rate_bpm=self.hr_bpm,
            heart_rate_age_s=None if self.hr_ok_at is None else now - self.hr_ok_at,
            commands=commands,
            operator_age_s=operator_age,
        )

        # 3. interlock, 5. setpoint: exactly as control/loop.py chains them (the quick-stop
        # rate on a quick stop, and whenever the drive is disabled: nothing follows then)
        self.state, out = self.interlock.step(self.state, inputs, now)
        quick = out.decel is Decel.QUICK
        sp = step_setpoint(
            self.sp,
            out.target_kmh,
            RAMPS[out.direction],
            PERIOD_S,
            QUICK_DECEL if quick or not out.drive_enable else None,
        )

        # 6. write (a silent bus takes no writes; the drive's own watchdog then trips)
        if self.drive_bus == "silent":
            self.write_ok = False
        else:
            # the loop writes the belt's direction (forward always on a turn-round machine)
            belt.command(out.drive_enable, out.belt_direction, sp.speed_kmh, quick)
            self.drive_directions.add(out.belt_direction)
            self.write_ok = True
        walking = self.prev_direction  # the model's own record, in decision order
        for d in out.decisions:
            if not d.accepted:
                continue
            kind, wanted = d.command.kind, d.command.direction
            if kind is CommandKind.SET_DIRECTION and wanted is not None:
                walking = wanted
                if not self.walker_turns:
                    self.facing = walking  # the walker does not turn: the belt does
            elif kind is CommandKind.CONFIRM_TURN:
                self.facing = wanted or walking
                self.seen.add("walker's turn confirmed")
            elif kind is CommandKind.START and self.walker_turns:
                assert self.facing is walking, f"started a walker facing the wrong way: {d}"

        # model bookkeeping
        start_accepted = bool(out.decisions) and any(
            d.accepted and d.command.kind is CommandKind.START for d in out.decisions
        )
        if start_accepted:
            self.reverse_hold_from = now if out.direction is Direction.BACKWARD else None
        cycle = Cycle(
            now=now,
            inputs=inputs,
            belt_speed_kmh=belt_speed,
            prev_mode=self.prev_mode,
            prev_direction=self.prev_direction,
            prev_sp_kmh=self.sp.speed_kmh,
            prev2_sp_kmh=self.prev_sp_kmh,
            sp=sp,
            out=out,
            start_accepted=start_accepted,
            reverse_hold_from=self.reverse_hold_from,
            dynamic_cap_kmh=self._dynamic_cap(now, inputs, out),
            latched_fault_inputs=self._latched_fault_inputs(inputs),
        )
        self.cycles.append(cycle)
        self._note(cycle)
        self.prev_sp_kmh = self.sp.speed_kmh
        self.sp = sp
        self.prev_mode = out.mode
        self.prev_direction = out.direction

        # physics up to the next cycle
        self.k += 1
        belt.advance(belt.now_s + PERIOD_S)  # one sim substep per cycle
        return out

    def _dynamic_cap(self, now: float, inputs: SafetyInputs, out: SafetyOutputs) -> float:
        """The dynamic caps in force this cycle, worked out from the inputs, not the interlock."""
        seg = inputs.segment
        if out.mode is not Mode.RUNNING or seg is None:
            return INF
        cap = INF
        io = inputs.io
        if (
            seg.rail_policy is RailPolicy.UNTIL_CONFIDENT
            and io is not None
            and not (io.rail_left or io.rail_right)
        ):
            cap = min(cap, LIMITS.rail_release_cap_kmh)
        bpm = inputs.heart_rate_bpm
        hr_fresh = (
            bpm is not None
            and LIMITS.hr_plausible_min_bpm <= bpm <= LIMITS.hr_plausible_max_bpm
            and inputs.heart_rate_age_s is not None
            and inputs.heart_rate_age_s <= LIMITS.hr_timeout_s
        )
        if seg.hr_required and not hr_fresh:
            cap = min(cap, LIMITS.hr_lost_cap_kmh)
        if (
            out.direction is Direction.BACKWARD
            and self.reverse_hold_from is not None
            and now - self.reverse_hold_from < LIMITS.reverse_start_hold_s
        ):
            cap = min(cap, LIMITS.reverse_start_cap_kmh)
        return cap

    @staticmethod
    def _latched_fault_inputs(inputs: SafetyInputs) -> tuple[str, ...]:
        """Inputs that must hold the interlock in FAULTED in the very cycle they are seen."""
        found: list[str] = []
        io = inputs.io
        if io is None:
            found.append("safety inputs unreadable (io None)")
        else:
            if not io.estop_chain_ok:
                found.append("e-stop chain open")
            if not io.key_present:
                found.append("safety key out")
        if inputs.io_age_s > WATCHDOG.input_read_timeout_s:
            found.append("safety inputs stale")
        if inputs.drive_age_s > WATCHDOG.drive_read_timeout_s:
            found.append("drive reading stale")
        drive = inputs.drive
        if (
            drive is not None
            and math.isfinite(drive.actual_speed_kmh)
            and drive.actual_speed_kmh >= 0
            and drive.fault_code != 0
        ):
            found.append(f"drive fault code {drive.fault_code}")
        return tuple(found)

    def _note(self, c: Cycle) -> None:
        """Coverage: what this sequence reached (reported as hypothesis events)."""
        out = c.out
        if out.mode is Mode.RUNNING:
            self.seen.add("reached RUNNING")
            if out.direction is Direction.BACKWARD:
                self.seen.add("reached backward RUNNING")
                if c.reverse_hold_from is not None and (
                    c.now - c.reverse_hold_from >= LIMITS.reverse_start_hold_s
                ):
                    self.seen.add("backward RUNNING past the reverse start hold")
            if c.sp.speed_kmh > c.dynamic_cap_kmh + EPS:
                self.seen.add("setpoint above a lowered dynamic cap")
        if c.sp.speed_kmh > 1.0:
            self.seen.add("setpoint above 1 km/h")
        if c.sp.speed_kmh >= self.static_caps[out.direction] - 0.01:
            self.seen.add("setpoint at the static cap")
        if out.mode is Mode.FAULTED and c.prev_sp_kmh > 0:
            self.seen.add("faulted while moving")
            if c.sp.quick:
                self.seen.add("quick stop while moving")
        if out.direction is not c.prev_direction:
            self.seen.add("direction changed")
        if Reason.HEART_RATE_LOST in out.reasons:
            self.seen.add("session ended: heart rate lost")

    def _run(self, cycles: int) -> None:
        for _ in range(cycles):
            self._cycle()

    def _run_until_standstill(self, limit: int) -> bool:
        return any(self._cycle().at_standstill for _ in range(limit))

    def _set_segment(self, segment: SegmentPolicy | None) -> None:
        if segment is not None:
            self.segment_count += 1
            segment = replace(segment, index=self.segment_count)
        self.segment = segment

    def _violated(self, check: str, message: str) -> None:
        """Fail `check`, unless it is a known bug and this run does not enforce those."""
        if check not in KNOWN_BUGS:
            raise AssertionError(message)
        if self.enforce_known_bugs:
            raise KnownBugError(f"{KNOWN_BUGS[check]}\n{message}")
        self.seen.add(f"known bug hit: {check}")

    def _begin(self) -> None:
        self.cycles = []

    def teardown(self) -> None:
        for name in sorted(self.seen):
            event(name)

    # ------------------------------------------------------------------------- setup

    @initialize(
        patient=patients(),
        segment=SEGMENTS,
        start=st.one_of(st.none(), *[st.tuples(MOVING_SEGMENTS, st.booleans(), RUN_CYCLES)] * 3),
        walker_turns=st.booleans(),
    )
    def setup(
        self,
        patient: PatientConfig | None,
        segment: SegmentPolicy | None,
        start: tuple[SegmentPolicy, bool, int] | None,
        walker_turns: bool = False,
    ) -> None:
        """Power on; then, unless `start` is None, a healthy start (not subject to swarm
        testing, which disables random rules per sequence, so most sequences run the belt)."""
        self._begin()
        self.walker_turns = walker_turns
        if walker_turns:
            self.seen.add("turn-round machine")
        config = InterlockConfig.from_config(
            LIMITS, WATCHDOG, patient, MACHINE.operator, walker_turns=walker_turns
        )
        self.interlock = Interlock(config)
        self.state = self.interlock.initial_state()
        self.prev_mode, self.prev_direction = self.state.mode, self.state.direction
        # Worked out here from the config files, not taken from InterlockConfig.
        fwd, bwd = LIMITS.max_forward_kmh, LIMITS.max_backward_kmh
        if patient is not None and patient.max_forward_kmh is not None:
            fwd = min(fwd, patient.max_forward_kmh)
        if patient is not None and patient.max_backward_kmh is not None:
            bwd = min(bwd, patient.max_backward_kmh)
        self.static_caps = {Direction.FORWARD: fwd, Direction.BACKWARD: bwd}
        self._set_segment(segment)
        if start is not None:
            self._healthy_start(*start)

    # ------------------------------------------------------------------------- rules

    @rule(cycles=st.sampled_from([1, 2, 3, 5, 8, 13, 25, 50, 100]))
    def wait(self, cycles: int) -> None:
        self._begin()
        self._run(cycles)

    @rule(commands=st.lists(COMMANDS, min_size=1, max_size=3))
    def operator_commands(self, commands: list[Command]) -> None:
        self._begin()
        self._cycle(tuple(commands))

    @rule(ok=st.booleans())
    def estop_chain(self, ok: bool) -> None:
        self._begin()
        self.belt.panel.estop_chain_ok = ok

    @rule(present=st.booleans())
    def safety_key(self, present: bool) -> None:
        self._begin()
        self.belt.panel.key_present = present

    @rule(held=st.sampled_from([(True, True), (True, False), (False, True), (False, False)]))
    def handrails(self, held: tuple[bool, bool]) -> None:
        self._begin()
        self.belt.panel.rail_left, self.belt.panel.rail_right = held

    @rule(fails=st.booleans())
    def safety_input_reads(self, fails: bool) -> None:
        self._begin()
        self.io_fails = fails

    @rule(
        bus=st.sampled_from(
            [
                ("ok", 0.0),
                ("read_fails", 0.0),  # reads fail, writes still reach the drive
                ("silent", 0.0),  # nothing gets through: the drive's own watchdog trips
                ("garbage", math.nan),  # reads "succeed" with an impossible speed
                ("garbage", math.inf),
                ("garbage", -0.5),
            ]
        )
    )
    def drive_bus_state(self, bus: tuple[str, float]) -> None:
        self._begin()
        self.drive_bus, self.garbage_kmh = bus

    @rule(code=st.sampled_from([0, 1, 54, 65535]))
    def drive_fault_code(self, code: int) -> None:
        self._begin()
        self.belt.trip(code)

    @rule(
        bpm=st.one_of(
            st.none(),
            st.floats(min_value=30.0, max_value=230.0),
            st.sampled_from([0.0, 24.9, 250.1, math.nan]),  # implausible: no reading
        )
    )
    def heart_rate(self, bpm: float | None) -> None:
        self._begin()
        self.hr_bpm = bpm

    @rule(console=st.sampled_from(["unsupervised", "alive", "frozen"]))
    def operator_console(self, console: str) -> None:
        self._begin()
        self.console = console

    @rule(segment=SEGMENTS)
    def profile_segment(self, segment: SegmentPolicy | None) -> None:
        self._begin()
        self._set_segment(segment)

    def _healthy_start(self, segment: SegmentPolicy | None, together: bool, run: int) -> None:
        """Clear every fault input, come to standstill, reset, turn if needed, start, run."""
        panel = self.belt.panel
        panel.estop_chain_ok = panel.key_present = True
        panel.rail_left = panel.rail_right = True
        self.io_fails = False
        self.drive_bus = "ok"
        self.belt.reset_fault()
        if self.console == "frozen":
            self.console = "alive"
        if segment is None and (self.segment is None or not self.segment.moving):
            segment = DEFAULT_SEGMENT
        if segment is not None:
            self._set_segment(segment)
        seg = self.segment
        assert seg is not None
        if seg.hr_required or seg.hr_max_bpm is not None:
            self.hr_bpm = 55.0 if seg.hr_max_bpm is None else seg.hr_max_bpm - 5.0
        if self.out_mode is Mode.RUNNING:
            self._cycle((Command(CommandKind.STOP),))
        # worst case: 25 km/h at the forward decel, plus the standstill dwell
        limit = _ceil_cycles(25.0 / RAMPS[Direction.FORWARD].decel_kmh_per_s + 3.0)
        if not self._run_until_standstill(limit):
            return
        commands = []
        if self.out_mode is Mode.FAULTED:
            commands.append(Command(CommandKind.RESET))
        if self.prev_direction is not seg.direction:
            commands.append(Command(CommandKind.SET_DIRECTION, direction=seg.direction))
        if self.walker_turns:  # the walker has turned (harmless when nothing is pending)
            commands.append(Command(CommandKind.CONFIRM_TURN, direction=seg.direction))
        commands.append(Command(CommandKind.START))
        if together:
            self._cycle(tuple(commands))
        else:
            for command in commands:
                self._cycle((command,))
        self._run(run)

    def _not_running(self) -> bool:
        return self.out_mode is not Mode.RUNNING

    @precondition(_not_running)
    @rule(
        segment=st.one_of(st.none(), MOVING_SEGMENTS),
        together=st.booleans(),
        run=RUN_CYCLES,
    )
    def healthy_start(self, segment: SegmentPolicy | None, together: bool, run: int) -> None:
        self._begin()
        self._healthy_start(segment, together, run)

    def _backward_run_in_hold(self) -> bool:
        return (
            self.out_mode is Mode.RUNNING
            and self.prev_direction is Direction.BACKWARD
            and self.reverse_hold_from is not None
            and "reverse hold" not in self.long_waits
        )

    def _running_without_heart_rate(self) -> bool:
        return (
            self.out_mode is Mode.RUNNING
            and self.segment is not None
            and self.segment.hr_required
            and self.hr_bpm is None
            and "heart rate" not in self.long_waits
        )

    @precondition(_backward_run_in_hold)
    @rule(extra=st.integers(0, 25))
    def wait_out_reverse_start_hold(self, extra: int) -> None:
        """Run until the reverse start hold is over (at most once a sequence: 500 cycles)."""
        self._begin()
        self.long_waits.add("reverse hold")
        assert self.reverse_hold_from is not None
        left = self.reverse_hold_from + LIMITS.reverse_start_hold_s - self.k * PERIOD_S
        self._run(max(0, _ceil_cycles(left)) + extra)

    @precondition(_running_without_heart_rate)
    @rule(go=st.sampled_from([True, False, False, False]))
    def wait_out_heart_rate_loss(self, go: bool) -> None:
        """Run until the lost heart rate ends the session. At most once a sequence, and
        only one time in four when offered: it costs 3,250 cycles."""
        self._begin()
        self.long_waits.add("heart rate")
        if go:
            self._run(_ceil_cycles(LIMITS.hr_lost_end_s) + 5)

    def _running_fast(self) -> bool:
        seg = self.segment
        return (
            self.out_mode is Mode.RUNNING
            and self.sp.speed_kmh > 1.2
            and seg is not None
            and seg.moving
        )

    @precondition(_running_fast)
    @rule(cap=st.sampled_from(["rails", "heart rate"]), cycles=st.sampled_from([1, 25, 100]))
    def lower_a_dynamic_cap(self, cap: str, cycles: int) -> None:
        """While running above the rail release cap: release both handrails on an
        until_confident segment, or lose the heart rate on a heart-rate segment."""
        self._begin()
        seg = self.segment
        assert seg is not None
        if cap == "rails":
            if seg.rail_policy is not RailPolicy.UNTIL_CONFIDENT:
                self._set_segment(replace(seg, rail_policy=RailPolicy.UNTIL_CONFIDENT))
            self.belt.panel.rail_left = self.belt.panel.rail_right = False
        else:
            if not seg.hr_required:
                self._set_segment(replace(seg, hr_required=True))
            self.hr_bpm = None
        self._run(cycles)

    def _belt_moving_not_running(self) -> bool:
        return self.out_mode is not Mode.RUNNING and (
            self.belt.speed_kmh > LIMITS.standstill_kmh or self.sp.speed_kmh > 0.0
        )

    @precondition(_belt_moving_not_running)
    @rule(commands=st.lists(HOSTILE_COMMANDS, min_size=1, max_size=3))
    def commands_while_coasting(self, commands: list[Command]) -> None:
        """Turn, reset and start while a stopped or faulted belt is still moving (the
        random operator_commands rarely land in that short window)."""
        self._begin()
        self._cycle(tuple(commands))

    # -------------------------------------------------------------------- invariants

    @invariant()
    def inv0_turn_round_never_reverses_the_drive(self) -> None:
        """0. On a turn-round machine no reverse command reaches the drive, in any state,
        and the belt never runs backward; a start is accepted only with the walker
        confirmed facing the way the session walks (the model's own record)."""
        if self.walker_turns:
            assert Direction.BACKWARD not in self.drive_directions, "reverse sent to the drive"
            assert self.belt.direction is Direction.FORWARD
        for c in self.cycles:
            if self.walker_turns:
                assert c.out.belt_direction is Direction.FORWARD, c.where()
            else:
                assert c.out.belt_direction is c.out.direction, c.where()

    @invariant()
    def inv1_faulted_speed_command_never_increases(self) -> None:
        """1. While faulted (out.mode is FAULTED) the setpoint speed never increases."""
        for c in self.cycles:
            if c.out.mode is Mode.FAULTED:
                assert c.sp.speed_kmh <= c.prev_sp_kmh, f"faulted, setpoint rose: {c.where()}"

    @invariant()
    def inv2_acceleration_within_direction_ramp_except_quick_stop(self) -> None:
        """2. The setpoint change per period stays within the ramp of out.direction
        (accel when rising, decel when falling), except on the quick-stop path
        (setpoint.quick), which may only fall, at no more than the quick-stop rate."""
        for c in self.cycles:
            delta = c.sp.speed_kmh - c.prev_sp_kmh
            ramp = RAMPS[c.out.direction]
            if c.sp.quick:
                assert delta <= 0, f"quick stop raised the setpoint: {c.where()}"
                assert -delta <= QUICK_DECEL * PERIOD_S + EPS, f"quick stop too hard: {c.where()}"
            elif delta > 0:
                assert delta <= ramp.accel_kmh_per_s * PERIOD_S + EPS, (
                    f"acceleration {delta / PERIOD_S:.4f} km/h/s above "
                    f"{ramp.accel_kmh_per_s:.4f}: {c.where()}"
                )
            else:
                assert -delta <= ramp.decel_kmh_per_s * PERIOD_S + EPS, (
                    f"deceleration {-delta / PERIOD_S:.4f} km/h/s above "
                    f"{ramp.decel_kmh_per_s:.4f}: {c.where()}"
                )

    @invariant()
    def inv3a_direction_changes_only_with_belt_at_standstill(self) -> None:
        """3a. out.direction changes only at standstill, part one: in the cycle it changes,
        the belt's actual speed is at or below standstill_kmh."""
        for c in self.cycles:
            if c.out.direction is not c.prev_direction:
                assert c.belt_speed_kmh <= LIMITS.standstill_kmh, (
                    f"direction changed with the belt moving: {c.where()}"
                )

    @invariant()
    def inv3b_direction_changes_only_with_zero_setpoint(self) -> None:
        """3b. out.direction changes only at standstill, part two: in the cycle it changes,
        the setpoint (the speed written last cycle, the drive's current command) is zero."""
        for c in self.cycles:
            if c.out.direction is not c.prev_direction and c.prev_sp_kmh != 0.0:
                self._violated(
                    "inv3b_direction_changes_only_with_zero_setpoint",
                    f"direction changed with a non-zero setpoint: {c.where()}",
                )

    @invariant()
    def inv4a_speed_command_within_static_caps(self) -> None:
        """4a. The setpoint and the interlock's target never exceed min(machine, patient)
        cap of the current direction (worked out from the config files here)."""
        for c in self.cycles:
            cap = self.static_caps[c.out.direction]
            assert c.sp.speed_kmh <= cap + EPS, f"setpoint above static cap {cap}: {c.where()}"
            assert c.out.target_kmh <= cap + EPS, f"target above static cap {cap}: {c.where()}"

    @invariant()
    def inv4b_speed_command_within_dynamic_caps(self) -> None:
        """4b. Dynamic caps (rail release cap under until_confident with both rails
        released, heart-rate-lost cap, reverse start cap), combined as C, computed from the
        inputs for every cycle that ends RUNNING. Precise form tested:
          (i)  the interlock's target never exceeds C in that cycle;
          (ii) the setpoint exceeds C only while decreasing towards it: setpoint > C implies
               setpoint < previous setpoint, or setpoint == previous setpoint for a single
               cycle (the S-curve easing to zero acceleration) after a decrease.
        """
        for c in self.cycles:
            cap = c.dynamic_cap_kmh
            if cap == INF:
                continue
            assert c.out.target_kmh <= cap + EPS, f"target above dynamic cap {cap}: {c.where()}"
            sp = c.sp.speed_kmh
            if sp > cap + EPS:
                assert sp < c.prev_sp_kmh or (
                    sp == c.prev_sp_kmh and c.prev_sp_kmh < c.prev2_sp_kmh
                ), f"setpoint above dynamic cap {cap} and not decreasing: {c.where()}"

    @invariant()
    def inv5_belt_moves_after_stop_only_on_accepted_start(self) -> None:
        """5. After any stop (and from power-on) the belt moves again only after an
        accepted start: entering RUNNING needs an accepted START in that cycle, and in any
        cycle that does not end RUNNING the setpoint does not rise."""
        for c in self.cycles:
            if c.out.mode is Mode.RUNNING and c.prev_mode is not Mode.RUNNING:
                assert c.start_accepted, f"RUNNING without an accepted start: {c.where()}"
            if c.out.mode is not Mode.RUNNING:
                assert c.sp.speed_kmh <= c.prev_sp_kmh, (
                    f"setpoint rose while not running: {c.where()}"
                )

    @invariant()
    def inv6_reverse_start_capped(self) -> None:
        """6. The first reverse setpoint after standstill, and every setpoint during
        reverse_start_hold_s after a backward start, is at or below the reverse start cap."""
        cap = LIMITS.reverse_start_cap_kmh
        for c in self.cycles:
            if c.out.direction is not Direction.BACKWARD:
                continue
            sp = c.sp.speed_kmh
            if c.prev_sp_kmh <= LIMITS.standstill_kmh and sp > c.prev_sp_kmh:
                assert sp <= cap + EPS, f"first reverse setpoint above {cap}: {c.where()}"
            held = c.reverse_hold_from
            if held is not None and c.now - held < LIMITS.reverse_start_hold_s:
                assert sp <= cap + EPS, f"reverse start hold: setpoint above {cap}: {c.where()}"

    @invariant()
    def inv7_never_running_with_latched_fault_input(self) -> None:
        """7. Never RUNNING (indeed FAULTED) in a cycle whose inputs show a latched fault:
        e-stop open, key out, io None, stale reads, drive fault code."""
        for c in self.cycles:
            if c.latched_fault_inputs:
                assert c.out.mode is not Mode.RUNNING, (
                    f"RUNNING with {c.latched_fault_inputs}: {c.where()}"
                )
                assert c.out.mode is Mode.FAULTED, (
                    f"not FAULTED with {c.latched_fault_inputs}: {c.where()}"
                )

    @invariant()
    def inv8_never_running_without_a_supervising_console(self) -> None:
        """8. With a supervising console silent past the presence timeout, no start is
        accepted and the belt is not RUNNING (it stops in a controlled way)."""
        timeout = CONFIG_PRESENCE_S
        for c in self.cycles:
            age = c.inputs.operator_age_s
            if age is not None and not age <= timeout:
                assert c.out.mode is not Mode.RUNNING, f"RUNNING, console silent: {c.where()}"
                assert not c.start_accepted, f"start accepted, console silent: {c.where()}"


# max_examples and deadline come from the profile chosen in tests/conftest.py ("ci": 10,000
# sequences). 30 steps a sequence: data generation costs ~0.3 ms a step whatever the step
# does, so 40 steps took 3:10 for 10,000 sequences on the 2-core machine, 30 take ~2:40.
InterlockMachine.TestCase.settings = settings(settings.default, stateful_step_count=30)

# The profile's sequences run as SHARES test cases of an equal share each, each share with
# its own random seed: the same number of sequences in all (10,000 under "ci"), which the
# parallel run (scripts/test) spreads over its workers instead of one worker running them
# all for minutes. Serially the shares run one after another: the same work as before.
SHARES = 4
_SHARE = settings(
    InterlockMachine.TestCase.settings,
    max_examples=-(-settings.default.max_examples // SHARES),  # rounded up
)


class TestInterlockProperties1(InterlockMachine.TestCase):
    settings = _SHARE


class TestInterlockProperties2(InterlockMachine.TestCase):
    settings = _SHARE


class TestInterlockProperties3(InterlockMachine.TestCase):
    settings = _SHARE


class TestInterlockProperties4(InterlockMachine.TestCase):
    settings = _SHARE


# --------------------------------------------------------------- known bugs: regressions


def _check_all(machine: InterlockMachine) -> None:
    for name in sorted(dir(machine)):
        if re.match(r"inv\d", name):
            getattr(machine, name)()


def test_regression_bug1_no_turn_while_the_speed_command_is_not_zero() -> None:
    """BUG-1, fixed: inv3b's minimal failing example as hypothesis shrank it, replayed
    (hr_max_bpm=60.0 in the shrunk segment is irrelevant and dropped here):

        state.setup(patient=None, start=None, segment=_segment(
            (FORWARD, HOLD_TO_RUN, False, 60.0), 0.3, True))
        state.healthy_start(run=0, segment=None, together=False)
        state.drive_bus_state(bus=('ok', 0.0))
        state.estop_chain(ok=False)
        state.operator_commands(commands=[Command(SET_DIRECTION, source='profile',
                                                  direction=BACKWARD)])

    The belt has just been started forward (setpoint 0.00072 km/h, belt 0.00012 km/h).
    Standstill counts a command <= standstill_kmh as zero and its dwell timer ran on from
    before the start, so the interlock still reported verified standstill. The e-stop then
    opened and, in the same cycle, set_direction(backward) was accepted: the direction
    output flipped while the drive's speed command was not zero. Now a turn also needs the
    command at exactly zero.
    """
    machine = InterlockMachine()
    machine.enforce_known_bugs = True
    forward = SegmentPolicy(-1, True, Direction.FORWARD, 0.3, RailPolicy.HOLD_TO_RUN, False, None)
    machine.setup(patient=None, segment=forward, start=None)
    machine.healthy_start(segment=None, together=False, run=0)
    _check_all(machine)
    assert machine.out_mode is Mode.RUNNING
    assert machine.sp.speed_kmh > 0.0
    machine.estop_chain(ok=False)
    machine.operator_commands(
        [Command(CommandKind.SET_DIRECTION, source="profile", direction=Direction.BACKWARD)]
    )
    _check_all(machine)
