"""Drive register maps as data: one TOML file per drive family, or a user-written one.

A map says how to command the drive (control word values, speed reference and
its scaling), how to read it (status bits, output frequency, fault code and its
text) and how to arm its own comm-loss watchdog. Addresses are Modbus PDU
addresses (the manual's "40002" is PDU address 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pydantic import Field, model_validator

from treadctl.config.errors import ConfigError
from treadctl.config.loader import load_model, read_toml
from treadctl.config.machine import Strict

Register = int


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


class FaultRegister(Strict):
    address: Register = _reg()
    codes: dict[str, str] = Field(default_factory=dict)


class WatchdogParams(Strict):
    timeout_address: Register = _reg()
    timeout_counts_per_s: float = Field(gt=0)
    action_address: Register = _reg()
    action_stop_value: int = Field(ge=0, le=0xFFFF)
    action_text: str
    enable_address: Register | None = Field(default=None, ge=0, le=0xFFFF)
    enable_value: int = Field(default=1, ge=0, le=0xFFFF)
    settle_s: float = Field(default=0.0, ge=0, le=1.0)  # pause after a parameter write


class RegisterMap(Strict):
    name: str = Field(min_length=1)
    description: str = ""
    notes: str = ""
    control: ControlWords
    reference: SpeedReference
    status: StatusBits
    output: OutputFrequency
    fault: FaultRegister
    watchdog: WatchdogParams
    max_hz: float = Field(default=60.0, gt=0, le=400)
    command_gap_s: float = Field(default=0.0, ge=0, le=0.1)  # Yaskawa: >= 5 ms between commands

    @model_validator(mode="after")
    def _distinct(self) -> RegisterMap:
        c = self.control
        if c.stop in (c.run_forward, c.run_reverse):
            raise ValueError("control.stop must differ from the run words")
        if c.run_forward == c.run_reverse and not self.reference.signed_reverse:
            raise ValueError("control.run_forward equals run_reverse: set reference.signed_reverse")
        for code in self.fault.codes:
            if not code.isdigit():
                raise ValueError(f"fault.codes key {code!r} is not a decimal code")
        return self

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
        return self.fault.codes.get(str(code), f"fault code {code} (not in the map)")

    def decode_status(self, status: int, output: int, fault_code: int) -> DecodedStatus:
        s = self.status
        out = output - 0x10000 if self.output.signed and output & 0x8000 else output
        hz = abs(out) / self.output.counts_per_hz
        reverse = status & s.reverse_mask == s.reverse_value if s.reverse_mask else out < 0
        faulted = fault_code != 0 or bool(s.fault_mask and status & s.fault_mask)
        ready = not faulted and (s.ready_mask == 0 or status & s.ready_mask == s.ready_value)
        running = status & s.running_mask == s.running_value
        return DecodedStatus(ready, running, reverse, hz, fault_code)

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
