"""Drive register maps as data: one TOML file per drive family, or a user-written one.

A map says how to command the drive (control word values, speed reference and
its scaling, the function code for single writes), how to read it (status bits,
output frequency, fault and warning registers and their layout) and how to arm
its own comm-loss watchdog, and which parameters commissioning checks.
Addresses are Modbus PDU addresses (the manual's "40002" is PDU address 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from treadctl.config.errors import ConfigError
from treadctl.config.loader import load_model, read_toml
from treadctl.config.machine import Strict

Register = int
# The fault code reported when the status word says "fault" and the fault register says
# nothing: outside 16 bits, so no drive's own code can be mistaken for it.
STATUS_ONLY_FAULT = 0x10000


def _reg() -> int:
    return Field(ge=0, le=0xFFFF)  # type: ignore[no-any-return]


class ControlWords(Strict):
    address: Register = _reg()
    stop: int = Field(ge=0, le=0xFFFF)
    run_forward: int = Field(ge=0, le=0xFFFF)
    run_reverse: int = Field(ge=0, le=0xFFFF)
    quick_stop: int | None = Field(default=None, ge=0, le=0xFFFF)  # None: same as stop
    fault_reset_address: Register | None = Field(default=None, ge=0, le=0xFFFF)
    fault_reset: int = Field(ge=0, le=0xFFFF)
    fault_reset_idle: int = Field(default=0, ge=0, le=0xFFFF)


class SpeedReference(Strict):
    address: Register = _reg()
    counts_per_hz: float = Field(gt=0)
    signed_reverse: bool = False  # reverse by a negative reference (ABB drives profile)


class StatusBits(Strict):
    address: Register = _reg()
    running_mask: int = Field(ge=0, le=0xFFFF)
    running_value: int = Field(ge=0, le=0xFFFF)
    reverse_mask: int = Field(default=0, ge=0, le=0xFFFF)  # 0: direction from the output sign
    reverse_value: int = Field(default=0, ge=0, le=0xFFFF)
    fault_mask: int = Field(default=0, ge=0, le=0xFFFF)  # 0: fault from the fault register only
    ready_mask: int = Field(default=0, ge=0, le=0xFFFF)  # 0: ready when no fault
    ready_value: int = Field(default=0, ge=0, le=0xFFFF)
    idle_value: int = Field(default=0, ge=0, le=0xFFFF)  # bits shown at rest (simulator)


class OutputFrequency(Strict):
    address: Register = _reg()
    counts_per_hz: float = Field(gt=0)
    signed: bool = False


class CodeRegister(Strict):
    """A fault or warning register: a whole word, one byte of it, or a bit field.

    Keys of `codes` are decimal code numbers, or bit numbers (0-15) for "bits"."""

    address: Register = _reg()
    layout: Literal["word", "low_byte", "high_byte", "bits"] = "word"
    codes: dict[str, str] = Field(default_factory=dict)
    # A "last fault" parameter that keeps its code after a reset: the code counts only
    # while the status word's fault bit is set (ABB 0401 LAST FAULT).
    needs_status_fault_bit: bool = False

    def code(self, raw: int) -> int:
        if self.layout == "low_byte":
            return raw & 0xFF
        if self.layout == "high_byte":
            return (raw >> 8) & 0xFF
        return raw & 0xFFFF

    def text(self, code: int, what: str) -> str:
        if self.layout == "bits":
            names = [
                self.codes.get(str(bit), f"bit {bit} (not in the map)")
                for bit in range(16)
                if code >> bit & 1
            ]
            return ", ".join(names) or "none"
        return self.codes.get(str(code), f"{what} code {code} (not in the map)")


class WatchdogParams(Strict):
    timeout_address: Register = _reg()
    timeout_counts_per_s: float = Field(gt=0)
    action_address: Register = _reg()
    action_stop_value: int = Field(ge=0, le=0xFFFF)
    action_text: str
    enable_address: Register | None = Field(default=None, ge=0, le=0xFFFF)
    enable_value: int = Field(default=1, ge=0, le=0xFFFF)
    settle_s: float = Field(default=0.0, ge=0, le=1.0)  # pause after a parameter write
    # A write that makes the parameters take effect (Yaskawa's Enter command, H5-11 = 0).
    apply_address: Register | None = Field(default=None, ge=0, le=0xFFFF)
    apply_value: int = Field(default=0, ge=0, le=0xFFFF)
    # What the drive shows when its watchdog fires with the action we set: the code, and
    # whether it is in the fault or the warning register.
    comm_loss_code: int = Field(default=0, ge=0, le=0xFFFF)
    comm_loss_reports: Literal["fault", "warning"] = "fault"
    # Every value of the action parameter, in words, and which of them stop the belt:
    # `drive probe` flags a drive set to one that does not.
    actions: dict[str, str] = Field(default_factory=dict)
    stop_values: list[int] = Field(default_factory=list)

    def action_words(self, value: int) -> str:
        return self.actions.get(str(value), f"action code {value} (not in the map)")

    def stops_the_belt(self, value: int) -> bool:
        return value == self.action_stop_value or value in self.stop_values


class CommissionParam(Strict):
    """A drive parameter to set before first use, as `drive probe` reads and judges it."""

    name: str = Field(min_length=1)  # the manual's name: "P09-04", "H5-02", "5303"
    address: Register = _reg()
    what: str = Field(min_length=1)
    expect: list[int] = Field(default_factory=list)  # acceptable values; empty: report only
    values: dict[str, str] = Field(default_factory=dict)  # value -> meaning
    # What the value is, for the wire-time check: a baud rate (scaled, or coded by `bauds`)
    # or the drive's answer delay in seconds (value x unit_s).
    role: Literal["", "baud", "answer_delay", "station"] = ""
    baud_per_count: float = Field(default=0.0, ge=0)
    bauds: dict[str, int] = Field(default_factory=dict)
    unit_s: float = Field(default=0.0, ge=0)
    unverified: bool = False  # the address or a value is not confirmed against the manual

    def meaning(self, value: int) -> str:
        return self.values.get(str(value), "")

    def baud(self, value: int) -> int | None:
        if self.role != "baud":
            return None
        if self.bauds:
            return self.bauds.get(str(value))
        return round(value * self.baud_per_count) if self.baud_per_count else None


class RegisterMap(Strict):
    name: str = Field(min_length=1)
    description: str = ""
    notes: str = ""
    control: ControlWords
    reference: SpeedReference
    status: StatusBits
    output: OutputFrequency
    fault: CodeRegister
    warning: CodeRegister | None = None
    watchdog: WatchdogParams
    commission: list[CommissionParam] = Field(default_factory=list)
    max_hz: float = Field(default=60.0, gt=0, le=400)
    command_gap_s: float = Field(default=0.0, ge=0, le=0.1)  # Yaskawa: >= 5 ms between commands
    # Function code for a one-register write: 6, or 16 with a count of 1 for drives that
    # refuse 6 (Yaskawa MEMOBUS accepts only 03, 08 and 0x10).
    single_write_function: Literal[6, 16] = 6
    unverified: list[str] = Field(default_factory=list)  # points not yet confirmed
    # What to set at the drive's panel where the map has no readable [[commission]]
    # parameters (`drive probe` prints it).
    commission_notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _distinct(self) -> RegisterMap:
        c = self.control
        if c.stop in (c.run_forward, c.run_reverse):
            raise ValueError("control.stop must differ from the run words")
        if c.run_forward == c.run_reverse and not self.reference.signed_reverse:
            raise ValueError("control.run_forward equals run_reverse: set reference.signed_reverse")
        for name, reg in (("fault", self.fault), ("warning", self.warning)):
            if reg is None:
                continue
            for code in reg.codes:
                if not code.isdigit():
                    raise ValueError(f"{name}.codes key {code!r} is not a decimal code")
                if reg.layout == "bits" and int(code) > 15:
                    raise ValueError(f"{name}.codes key {code!r}: bit numbers are 0-15")
        for key in self.watchdog.actions:
            if not key.isdigit():
                raise ValueError(f"watchdog.actions key {key!r} is not a decimal value")
        return self

    def monitor_addresses(self) -> tuple[int, ...]:
        """Registers read every cycle: status, output frequency, fault (and warning)."""
        addrs = [self.status.address, self.output.address, self.fault.address]
        if self.warning is not None and self.warning.address not in addrs:
            addrs.append(self.warning.address)
        return tuple(addrs)

    # -- encoding, used by the controller ------------------------------------------------
    def command_word(self, run: bool, reverse: bool, quick: bool) -> int:
        c = self.control
        if quick:
            return c.quick_stop if c.quick_stop is not None else c.stop
        if not run:
            return c.stop
        return c.run_reverse if reverse else c.run_forward

    def reference_counts(self, hz: float, reverse: bool) -> int:
        """Speed reference as a 16-bit register value (two's complement when signed)."""
        counts = round(min(max(hz, 0.0), self.max_hz) * self.reference.counts_per_hz)
        if reverse and self.reference.signed_reverse:
            counts = -counts
        return counts & 0xFFFF

    def fault_text(self, code: int) -> str:
        if code == STATUS_ONLY_FAULT:
            return "fault bit set in the status word; the fault register names none"
        return self.fault.text(code, "fault")

    def warning_text(self, code: int) -> str:
        if self.warning is None:
            return f"warning code {code}"
        return self.warning.text(code, "warning")

    def decode_status(
        self, status: int, output: int, fault_raw: int, warning_raw: int = 0
    ) -> DecodedStatus:
        """Decode raw registers. `fault_raw`/`warning_raw`: the registers as read (a
        Delta's 0x2100 holds both: fault in the low byte, warning in the high byte)."""
        s = self.status
        out = output - 0x10000 if self.output.signed and output & 0x8000 else output
        hz = abs(out) / self.output.counts_per_hz
        reverse = status & s.reverse_mask == s.reverse_value if s.reverse_mask else out < 0
        fault_bit = bool(s.fault_mask and status & s.fault_mask)
        fault_code = self.fault.code(fault_raw)
        if self.fault.needs_status_fault_bit and not fault_bit:
            fault_code = 0
        elif fault_bit and fault_code == 0:
            fault_code = STATUS_ONLY_FAULT  # a fault the fault register does not name
        warning_code = self.warning.code(warning_raw) if self.warning is not None else 0
        faulted = fault_code != 0
        ready = not faulted and (s.ready_mask == 0 or status & s.ready_mask == s.ready_value)
        running = status & s.running_mask == s.running_value
        return DecodedStatus(ready, running, reverse, hz, fault_code, warning_code)

    # -- decoding, used by the simulator -----------------------------------------------
    def decode_command(self, word: int) -> tuple[bool, bool | None, bool]:
        """(run, reverse or None for "by reference sign", quick) for a control word."""
        c = self.control
        if c.quick_stop is not None and word == c.quick_stop and word != c.stop:
            return False, None, True
        if word == c.run_forward and word == c.run_reverse:
            return True, None, False
        if word == c.run_forward:
            return True, False, False
        if word == c.run_reverse:
            return True, True, False
        return False, None, False

    def encode_status(self, running: bool, reverse: bool, fault: bool, ready: bool) -> int:
        s = self.status
        word = s.running_value if running else s.idle_value
        if reverse and s.reverse_mask:
            word = (word & ~s.reverse_mask) | s.reverse_value
        if fault and s.fault_mask:
            word |= s.fault_mask
        if ready and s.ready_mask:
            word = (word & ~s.ready_mask) | s.ready_value
        return word & 0xFFFF

    def encode_output(self, hz: float, reverse: bool) -> int:
        counts = round(hz * self.output.counts_per_hz)
        if reverse and self.output.signed:
            counts = -counts
        return counts & 0xFFFF


@dataclass(frozen=True, slots=True)
class DecodedStatus:
    ready: bool
    running: bool
    reverse: bool
    output_hz: float
    fault_code: int
    warning_code: int = 0


BUILTIN_MAPS = ("delta-ms300", "yaskawa-a1000", "abb-acs355", "siemens-v20", "generic")


def load_map(name_or_path: str, source: str = "machine file: drive.map") -> RegisterMap:
    """A built-in map by name, or a user-written map file by path."""
    if name_or_path in BUILTIN_MAPS:
        text = resources.files("treadctl.drives.maps").joinpath(f"{name_or_path}.toml")
        with resources.as_file(text) as path:
            return load_model(Path(path), RegisterMap)
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        read_toml(path)
        return load_model(path, RegisterMap)
    raise ConfigError.single(
        source,
        "",
        f"unknown register map {name_or_path!r}: use one of {', '.join(BUILTIN_MAPS)} "
        "or the path of a map file (.toml)",
    )
