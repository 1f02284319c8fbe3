"""Machine file: the treadmill, its drive, the loop rate and every safety limit."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from treadctl.config.errors import FieldError
from treadctl.config.heartrate import ADDRESS_RE, HeartRateSourceConfig, SimSourceConfig
from treadctl.config.metronome import MetronomeConfig
from treadctl.units import mps2_to_kmh_per_s


class Strict(BaseModel):
    # strict: TOML values are typed, so "12" or true where a number is due is an error,
    # not a number; enum-valued fields opt out (Field(strict=False)) to accept their names.
    # allow_inf_nan=False: TOML has inf and nan literals, and neither is ever a limit.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class RampLimits(Strict):
    """Ramp limits for one belt direction."""

    accel_mps2: float = Field(gt=0, le=2.0)
    decel_mps2: float = Field(gt=0, le=2.0)
    jerk_mps3: float = Field(gt=0, le=10.0)

    @property
    def accel_kmh_per_s(self) -> float:
        return mps2_to_kmh_per_s(self.accel_mps2)

    @property
    def decel_kmh_per_s(self) -> float:
        return mps2_to_kmh_per_s(self.decel_mps2)

    @property
    def jerk_kmh_per_s2(self) -> float:
        return mps2_to_kmh_per_s(self.jerk_mps3)


class Limits(Strict):
    max_forward_kmh: float = Field(gt=0, le=25.0)
    max_backward_kmh: float = Field(gt=0, le=12.0)
    reverse_start_cap_kmh: float = Field(gt=0)
    reverse_start_hold_s: float = Field(ge=0, default=10.0)
    forward: RampLimits
    backward: RampLimits
    quick_stop_decel_mps2: float = Field(gt=0, le=5.0)
    standstill_kmh: float = Field(gt=0, le=0.5, default=0.05)
    standstill_dwell_s: float = Field(ge=0, le=10.0, default=1.0)
    speed_tolerance_kmh: float = Field(gt=0, le=3.0, default=0.6)
    runaway_time_s: float = Field(gt=0, le=5.0, default=1.0)
    overspeed_margin_kmh: float = Field(gt=0, le=3.0, default=0.5)
    rail_grace_s: float = Field(ge=0, le=10.0, default=2.0)
    rail_release_cap_kmh: float = Field(ge=0, default=1.0)
    hr_timeout_s: float = Field(gt=0, le=30.0, default=5.0)
    hr_lost_cap_kmh: float = Field(ge=0, le=2.0, default=2.0)
    hr_lost_end_s: float = Field(gt=0, le=60.0, default=60.0)
    # Chest straps send 0 bpm when they lose skin contact: outside this range is no reading.
    hr_plausible_min_bpm: float = Field(gt=0, le=60.0, default=25.0)
    hr_plausible_max_bpm: float = Field(ge=150.0, le=300.0, default=250.0)

    @property
    def quick_stop_decel_kmh_per_s(self) -> float:
        return mps2_to_kmh_per_s(self.quick_stop_decel_mps2)

    @model_validator(mode="after")
    def _consistent(self) -> Limits:
        if self.max_backward_kmh > self.max_forward_kmh:
            raise ValueError("max_backward_kmh must not exceed max_forward_kmh")
        if self.reverse_start_cap_kmh > self.max_backward_kmh:
            raise ValueError("reverse_start_cap_kmh must not exceed max_backward_kmh")
        for name, ramp in (("forward", self.forward), ("backward", self.backward)):
            if self.quick_stop_decel_mps2 < ramp.decel_mps2:
                raise ValueError(f"quick_stop_decel_mps2 must be at least {name}.decel_mps2")
        if self.backward.accel_mps2 > self.forward.accel_mps2:
            raise ValueError("backward.accel_mps2 must not exceed forward.accel_mps2")
        return self


# The maximum age of a reading (issue 27; PROFIsafe's watchdog time). Within it the last
# good safety-input reading stands and a missed drive status trips nothing; past it the
# interlock trips, so the software's worst-case reaction to a silent input is its maximum
# age plus one cycle (docs/safety.md). Left out of the machine file, a maximum age is
# DEFAULT_MAX_AGE_CYCLES of the file's own loop period (0.1 s at 50 Hz); set, it must
# cover MIN_MAX_AGE_CYCLES periods and stay at or below MAX_AGE_LIMIT_S.
DEFAULT_MAX_AGE_CYCLES = 5
MIN_MAX_AGE_CYCLES = 2
MAX_AGE_LIMIT_S = 2.0


class Watchdog(Strict):
    """The controller's watchdogs and the drive's own.

    `drive_read_timeout_s` and `input_read_timeout_s` are the maximum ages of the drive's
    status and of the safety inputs' reading. A machine file that leaves one out gets
    DEFAULT_MAX_AGE_CYCLES loop periods (`MachineConfig` fills it in from `[loop]`), an
    FTMS drive's status FTMS_MIN_READ_TIMEOUT_S; the defaults below are those at the
    default 50 Hz, for a `Watchdog` made on its own."""

    drive_read_timeout_s: float = Field(gt=0, le=MAX_AGE_LIMIT_S, default=0.1)
    input_read_timeout_s: float = Field(gt=0, le=MAX_AGE_LIMIT_S, default=0.1)
    drive_comm_loss_s: float = Field(gt=0, le=5.0, default=0.5)
    # An operator's reset first pulses the drive's fault reset, then waits this long
    # at most for the drive to report clear before the interlock judges the reset.
    fault_reset_wait_s: float = Field(gt=0, le=2.0, default=0.5)
    # With the drive unreachable, standstill cannot be verified: after the drive's own
    # watchdog time plus this long, a faulted session may end (saying so) instead of hanging.
    unreachable_exit_s: float = Field(gt=0, le=60.0, default=10.0)


class SimBelt(Strict):
    """Belt physics of the built-in simulator."""

    drive_ramp_kmh_per_s: float = Field(gt=0, default=6.0)
    belt_time_constant_s: float = Field(gt=0, le=2.0, default=0.12)
    person_load_kmh: float = Field(ge=0, le=0.5, default=0.04)
    cadence_steps_per_min: float = Field(gt=0, default=100.0)
    coast_decel_kmh_per_s: float = Field(gt=0, default=3.0)


class SimDriveConfig(Strict):
    kind: Literal["sim"] = "sim"
    belt: SimBelt = SimBelt()


class TcpLink(Strict):
    kind: Literal["tcp"]
    host: str = Field(min_length=1)
    port: int = Field(default=502, ge=1, le=65535)
    timeout_s: float = Field(default=0.05, gt=0, le=1.0)
    connect_timeout_s: float = Field(default=2.0, gt=0, le=30.0)  # before the loop runs


class SerialLink(Strict):
    kind: Literal["rtu"]
    port: str = Field(min_length=1)
    baudrate: Literal[9600, 19200, 38400, 57600, 115200] = 19200
    parity: Literal["N", "E", "O"] = "E"
    stopbits: Literal[1, 2] = 1
    timeout_s: float = Field(default=0.05, gt=0, le=1.0)
    connect_timeout_s: float = Field(default=2.0, gt=0, le=30.0)  # before the loop runs
    # time a device takes to start answering, per transaction [check the drive's manual]
    response_delay_s: float = Field(default=0.002, ge=0, le=0.05)


Link = Annotated[TcpLink | SerialLink, Field(discriminator="kind")]


class ModbusDriveConfig(Strict):
    kind: Literal["modbus"]
    link: Link
    device_id: int = Field(default=1, ge=1, le=247)
    map: str = Field(min_length=1, description="built-in map name or path of a map file")
    kmh_per_hz: float = Field(gt=0, le=1.0, description="belt calibration: km/h per motor Hz")
    retries: int = Field(default=0, ge=0, le=1)
    has_comm_watchdog: bool = True  # False only for a drive that truly has none


FTMS_MIN_READ_TIMEOUT_S = 1.0
"""The least maximum age of an FTMS treadmill's status (`watchdog.drive_read_timeout_s`),
and its default. Not the fieldbus's few cycles, because the status comes differently: the
treadmill notifies Treadmill Data at a rate of its own choosing (the emulator every
0.1 s), over a Bluetooth link with 7.5-50 ms connection intervals and link-layer
retransmissions, and each cycle reads the latest notification (`drives/ftms.py`, itself
no reading past `stale_after_s`). A maximum age of a few 20 ms cycles would trip the
interlock on an ordinary radio hiccup or between two notifications. The price: a status
up to `stale_after_s` plus this old, and no comm-loss watchdog in the treadmill, whose
own safety key is the stop that does not depend on treadctl (docs/ftms.md)."""


class FtmsDriveConfig(Strict):
    """A treadmill with the Bluetooth Fitness Machine Service (docs/ftms.md): forward only,
    no comm-loss watchdog (the treadmill's own safety key is the stop that stays)."""

    kind: Literal["ftms"]
    # The treadmill's address as `treadctl hr scan` lists it ("/P": a public address).
    address: str = Field(max_length=20)
    # A bumble transport spec: "usb:0", "hci-socket:0", "serial:/dev/ttyACM0" ...
    transport: str = Field(default="usb:0", min_length=1, max_length=200)
    # Our own (random static) address on the air; not the heart-rate source's.
    own_address: str = Field(default="C0:7E:AD:C7:00:02", max_length=20)
    connect_timeout_s: float = Field(default=10.0, gt=0, le=120.0)  # before the loop runs
    answer_timeout_s: float = Field(default=2.0, gt=0, le=10.0)  # a control point request
    # Treadmill Data older than this is no reading (a comm-loss fault, never a stale speed).
    stale_after_s: float = Field(default=1.0, gt=0, le=3.0)

    @field_validator("address", "own_address")
    @classmethod
    def _address(cls, value: str) -> str:
        if not ADDRESS_RE.match(value):
            raise ValueError("a Bluetooth address: six hex pairs, e.g. F7:1A:33:0C:52:9E")
        return value


class SimInputsConfig(Strict):
    kind: Literal["sim"] = "sim"


class ModbusInputsConfig(Strict):
    """A digital-input module read with function 0x02; 1 = healthy / contact."""

    kind: Literal["modbus"]
    link: Literal["drive"] | Link = "drive"  # "drive": on the drive's bus
    device_id: int = Field(default=2, ge=1, le=247)
    estop_chain_input: int = Field(default=0, ge=0, le=0xFFFF)
    key_input: int = Field(default=1, ge=0, le=0xFFFF)
    rail_left_input: int = Field(default=2, ge=0, le=0xFFFF)
    rail_right_input: int = Field(default=3, ge=0, le=0xFFFF)

    @model_validator(mode="after")
    def _distinct(self) -> ModbusInputsConfig:
        inputs = (
            self.estop_chain_input,
            self.key_input,
            self.rail_left_input,
            self.rail_right_input,
        )
        if len(set(inputs)) != len(inputs):
            raise ValueError("the four inputs must have four different addresses")
        return self


LOOP_MAX_RATE_HZ = 500.0


class LoopConfig(Strict):
    rate_hz: float = Field(gt=0, le=LOOP_MAX_RATE_HZ, default=50.0)
    # share of a period the bus may be busy with one cycle's transactions (RTU)
    wire_budget_fraction: float = Field(gt=0, le=0.9, default=0.75)
    # SCHED_FIFO priority of the controller process's loop thread (Linux); 0: normal
    # scheduling. A busy screen or broker on the same cores then waits for the loop.
    realtime_priority: int = Field(default=0, ge=0, le=49)
    # Commands taken from the clients' queue in one cycle (equal ones in a row count once):
    # a flood from any number of clients never lengthens a cycle. A stop never waits.
    max_commands_per_cycle: int = Field(default=8, ge=1, le=64)
    # Commands waiting for a cycle; more are refused at once (answered: busy). Stops wait
    # in a lane of their own, as many again, and are never refused while one is waiting.
    max_queued_commands: int = Field(default=64, ge=1, le=1024)

    @property
    def period_s(self) -> float:
        return 1.0 / self.rate_hz


class HeartRateConfig(Strict):
    present: bool = False
    # Where the reading comes from (docs/heart-rate.md): the simulator's panel, a strap
    # over Bluetooth, or a gateway's MQTT topic. A real source needs `present = true`.
    source: HeartRateSourceConfig = SimSourceConfig()

    @model_validator(mode="after")
    def _source_needs_present(self) -> HeartRateConfig:
        if not self.present and not isinstance(self.source, SimSourceConfig):
            raise FieldError(
                "source.kind",
                f'a "{self.source.kind}" heart-rate source needs heart_rate.present = true '
                "(without it nothing reads the strap)",
            )
        return self


class SimInclineConfig(Strict):
    """The simulator's own incline actuator (in-process, or `treadctl sim`)."""

    kind: Literal["sim"] = "sim"
    travel_pct_per_s: float = Field(default=1.0, gt=0, le=5.0)  # the lift's own travel rate


class RelayInclineConfig(Strict):
    """Up/down relays (Modbus coils, function 05) and a position sensor (an input register,
    function 04: a potentiometer through an analog input module). The usual treadmill lift."""

    kind: Literal["relay"]
    link: Literal["drive"] | Link = "drive"  # "drive": on the drive's bus
    device_id: int = Field(default=3, ge=1, le=247)
    up_coil: int = Field(default=0, ge=0, le=0xFFFF)
    down_coil: int = Field(default=1, ge=0, le=0xFFFF)
    position_register: int = Field(default=0, ge=0, le=0xFFFF)
    # calibration: sensor counts at the range's two ends (either order: a reversed pot)
    counts_at_min: int = Field(default=0, ge=0, le=0xFFFF)
    counts_at_max: int = Field(default=10000, ge=0, le=0xFFFF)

    @model_validator(mode="after")
    def _distinct(self) -> RelayInclineConfig:
        if self.up_coil == self.down_coil:
            raise ValueError("up_coil and down_coil must be two different coils")
        if self.counts_at_min == self.counts_at_max:
            raise ValueError("counts_at_min and counts_at_max must differ")
        return self


class PositionInclineConfig(Strict):
    """A lift with its own position controller (FTMS-like, drive-integrated): target % in a
    holding register, actual % in another, both signed 16-bit in units of `pct_per_count`."""

    kind: Literal["position"]
    link: Literal["drive"] | Link = "drive"
    device_id: int = Field(default=4, ge=1, le=247)
    target_register: int = Field(default=0, ge=0, le=0xFFFF)
    actual_register: int = Field(default=1, ge=0, le=0xFFFF)
    pct_per_count: float = Field(default=0.1, gt=0, le=1.0)

    @model_validator(mode="after")
    def _distinct(self) -> PositionInclineConfig:
        if self.target_register == self.actual_register:
            raise ValueError("target_register and actual_register must differ")
        return self


InclineActuator = Annotated[
    SimInclineConfig | RelayInclineConfig | PositionInclineConfig, Field(discriminator="kind")
]


class InclineRange(Strict):
    """The powered incline's range and, with `actuator`, how treadctl drives it. Without
    this table a machine has no incline (profiles asking for one are refused); without
    `actuator` the operator sets it by hand."""

    min_pct: float = Field(default=0.0, ge=-25.0, le=0.0)
    max_pct: float = Field(gt=0.0, le=40.0)
    actuator: InclineActuator | None = None
    rate_pct_per_s: float = Field(default=1.0, gt=0, le=5.0)  # the profile's travel rate
    # measured travel faster than this (window of rate_window_s): latched runaway fault
    max_rate_pct_per_s: float = Field(default=2.0, gt=0, le=10.0)
    rate_window_s: float = Field(default=0.5, gt=0, le=5.0)
    # a move with no position change of stall_change_pct within this: latched stall fault
    stall_time_s: float = Field(default=2.0, gt=0, le=10.0)
    stall_change_pct: float = Field(default=0.1, gt=0, le=2.0)
    tolerance_pct: float = Field(default=0.2, gt=0, le=2.0)  # "reached" within this
    soft_min_pct: float | None = Field(default=None, ge=-25.0, le=40.0)  # None: min_pct
    soft_max_pct: float | None = Field(default=None, ge=-25.0, le=40.0)  # None: max_pct
    position_timeout_s: float = Field(default=0.5, gt=0, le=5.0)  # no reading: latched fault
    belt_stop_on_fault: bool = True  # an incline fault also stops the belt (controlled)
    return_to_zero: bool = False  # allow an explicit "incline home" command to 0 %

    @property
    def soft_min(self) -> float:
        return self.min_pct if self.soft_min_pct is None else self.soft_min_pct

    @property
    def soft_max(self) -> float:
        return self.max_pct if self.soft_max_pct is None else self.soft_max_pct

    @model_validator(mode="after")
    def _soft_inside(self) -> InclineRange:
        if not self.min_pct <= self.soft_min <= self.soft_max <= self.max_pct:
            raise ValueError(
                "soft limits must lie inside the range: min_pct <= soft_min_pct <= "
                "soft_max_pct <= max_pct"
            )
        if self.max_rate_pct_per_s < self.rate_pct_per_s:
            raise ValueError("max_rate_pct_per_s must be at least rate_pct_per_s")
        if self.return_to_zero and not self.soft_min <= 0.0 <= self.soft_max:
            raise ValueError("return_to_zero needs 0 % inside the soft limits")
        return self


class OperatorConfig(Strict):
    """The operator's console (dashboard) as a safety function.

    A profile that requires supervision stops the belt (controlled stop) when the
    supervising dashboard has not shown a sign of life for presence_timeout_s: a crashed,
    frozen or unplugged screen never leaves a moving belt unwatched.
    """

    presence_timeout_s: float = Field(default=2.0, ge=0.5, le=10.0)


class RemoteCommands(Strict):
    """Remote commands (MQTT) the machine accepts besides stop and pause, which are always
    accepted. Each one enabled here still needs the local operator's confirmation."""

    start: bool = False
    speed: bool = False
    direction: bool = False


class MachineConfig(Strict):
    name: str = Field(min_length=1)
    # How backward walking is done. "belt_reverses": the belt runs backward and the walker
    # keeps facing the console (Woodway, Bertec, h/p/cosmos with the option).
    # "walker_turns": the belt always runs forward and the walker turns round to face away
    # from the console; most clinic treadmills, every FTMS one. The default is the one
    # that never reverses a drive: a machine that can reverse must say so.
    backward_walking: Literal["belt_reverses", "walker_turns"] = "walker_turns"
    drive: Annotated[
        SimDriveConfig | ModbusDriveConfig | FtmsDriveConfig, Field(discriminator="kind")
    ] = SimDriveConfig()
    safety_inputs: Annotated[SimInputsConfig | ModbusInputsConfig, Field(discriminator="kind")] = (
        SimInputsConfig()
    )
    loop: LoopConfig = LoopConfig()
    limits: Limits
    watchdog: Watchdog = Watchdog()
    heart_rate: HeartRateConfig = HeartRateConfig()
    incline: InclineRange | None = None  # optional: None = no powered incline
    metronome: MetronomeConfig = MetronomeConfig()  # the cadence cue's sound (off by default)
    speed_step_kmh: float = Field(gt=0, le=1.0, default=0.1)
    operator: OperatorConfig = OperatorConfig()
    remote_commands: RemoteCommands = RemoteCommands()

    @property
    def walker_turns(self) -> bool:
        return self.backward_walking == "walker_turns"

    @model_validator(mode="before")
    @classmethod
    def _default_max_ages(cls, data: Any) -> Any:
        """A maximum age the file leaves out: DEFAULT_MAX_AGE_CYCLES of its own loop's
        period (at most MAX_AGE_LIMIT_S), an FTMS drive's status FTMS_MIN_READ_TIMEOUT_S.
        Anything not as it should be is left for the fields' own checks to name."""
        if not isinstance(data, dict):
            return data
        rate = _loop_rate_hz(data.get("loop"))
        watchdog = data.get("watchdog", {})
        if rate is None or not isinstance(watchdog, dict | Watchdog):
            return data
        given = set(watchdog) if isinstance(watchdog, dict) else watchdog.model_fields_set
        derived = min(DEFAULT_MAX_AGE_CYCLES / rate, MAX_AGE_LIMIT_S)
        update: dict[str, float] = {}
        if "input_read_timeout_s" not in given:
            update["input_read_timeout_s"] = derived
        if "drive_read_timeout_s" not in given:
            ftms = _drive_kind(data.get("drive")) == "ftms"
            update["drive_read_timeout_s"] = FTMS_MIN_READ_TIMEOUT_S if ftms else derived
        if not update:
            return data
        if isinstance(watchdog, Watchdog):
            return {**data, "watchdog": watchdog.model_copy(update=update)}
        return {**data, "watchdog": {**watchdog, **update}}

    @model_validator(mode="after")
    def _watchdog_fits_loop(self) -> MachineConfig:
        period = self.loop.period_s
        least = MIN_MAX_AGE_CYCLES * period
        why = f"must cover at least two loop periods ({least:g} s at {self.loop.rate_hz:g} Hz)"
        if self.watchdog.drive_read_timeout_s < least:
            raise FieldError("watchdog.drive_read_timeout_s", why)
        if self.watchdog.input_read_timeout_s < least:
            raise FieldError("watchdog.input_read_timeout_s", why)
        if isinstance(self.drive, FtmsDriveConfig):
            self._ftms_fits()
        if (
            isinstance(self.safety_inputs, ModbusInputsConfig)
            and not isinstance(self.drive, ModbusDriveConfig)
            and self.safety_inputs.link == "drive"
        ):
            raise FieldError("safety_inputs.link", '"drive" needs a Modbus drive')
        act = self.incline.actuator if self.incline is not None else None
        if (
            isinstance(act, RelayInclineConfig | PositionInclineConfig)
            and act.link == "drive"
            and not isinstance(self.drive, ModbusDriveConfig)
        ):
            raise FieldError("incline.actuator.link", '"drive" needs a Modbus drive')
        return self

    def _ftms_fits(self) -> None:
        if not self.walker_turns:
            raise FieldError(
                "backward_walking",
                'an FTMS treadmill runs forward only: it needs "walker_turns" '
                "(the walker turns round for backward segments)",
            )
        if self.watchdog.drive_read_timeout_s < FTMS_MIN_READ_TIMEOUT_S:
            raise FieldError(
                "watchdog.drive_read_timeout_s",
                f"an FTMS treadmill is read over Bluetooth: use at least "
                f"{FTMS_MIN_READ_TIMEOUT_S:g} s (connection intervals and retransmissions "
                "make a fieldbus timeout trip on an ordinary radio hiccup)",
            )


def _loop_rate_hz(loop: Any) -> float | None:
    """The loop rate a machine file's `[loop]` asks for (the default when it says none),
    or None when it is not a rate the loop would take."""
    if isinstance(loop, LoopConfig):
        return loop.rate_hz
    if loop is None:
        loop = {}
    if not isinstance(loop, dict):
        return None
    rate = loop.get("rate_hz", LoopConfig.model_fields["rate_hz"].default)
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        return None
    return float(rate) if 0 < rate <= LOOP_MAX_RATE_HZ else None  # NaN is neither


def _drive_kind(drive: Any) -> object:
    """The `[drive]` table's kind ("sim" when the table is left out)."""
    if drive is None:
        return "sim"
    if isinstance(drive, dict):
        return drive.get("kind")
    return getattr(drive, "kind", None)
