"""`treadctl drive probe`: read a drive for commissioning. Reads only; writes nothing.

`read_drive` does the I/O: the monitor registers, the comm-loss watchdog parameters and
every `[[commission]]` parameter of the map, each read alone so that one the drive does
not have (exception 02) is "not readable" and the probe goes on. `report` turns what was
read into lines in commissioning terms, and ends with the findings that need action: a
comm-loss action that does not stop the belt or no comm-loss time, a parameter to set,
a serial setting that cannot carry the loop rate.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

from treadctl.config.errors import ConfigError
from treadctl.config.machine import (
    LoopConfig,
    MachineConfig,
    ModbusDriveConfig,
    ModbusInputsConfig,
    SerialLink,
    TcpLink,
)
from treadctl.drives.link import LinkError, ModbusLink
from treadctl.drives.modbus import ModbusDrive, cycle_transfers
from treadctl.drives.regmap import CommissionParam, RegisterMap
from treadctl.drives.wire import rtu_cycle


@dataclass(frozen=True)
class ProbeContext:
    """How the drive is reached and what the controller will ask of its link."""

    link: TcpLink | SerialLink
    device_id: int
    kmh_per_hz: float
    loop: LoopConfig = field(default_factory=LoopConfig)
    # Registers per read of the safety inputs on the drive's bus each cycle (function 02);
    # None: not known (no machine file given).
    input_reads: tuple[int, ...] | None = None
    machine_file: str = ""  # the link's settings are the machine file's, not defaults


def machine_context(
    machine: MachineConfig, source: str, rate_hz: float | None = None
) -> tuple[ProbeContext, str]:
    """The probe's context from a machine file (link, device id, calibration, loop rate,
    the safety inputs' read if on the drive's bus) and its map name."""
    d = machine.drive
    if not isinstance(d, ModbusDriveConfig):
        raise ConfigError.single(source, "drive.kind", 'drive probe needs kind = "modbus"')
    loop = machine.loop
    if rate_hz is not None:
        loop = loop.model_copy(update={"rate_hz": rate_hz})
    inputs: tuple[int, ...] = ()
    si = machine.safety_inputs
    if isinstance(si, ModbusInputsConfig) and (si.link == "drive" or si.link == d.link):  # noqa: PLR1714
        pins = (si.estop_chain_input, si.key_input, si.rail_left_input, si.rail_right_input)
        inputs = (max(pins) - min(pins) + 1,)
    return ProbeContext(d.link, d.device_id, d.kmh_per_hz, loop, inputs, source), d.map


@dataclass
class Readings:
    """What the drive answered: a value per address, or why there is none."""

    monitor: tuple[int, int, int, int] | None = None
    values: dict[int, int] = field(default_factory=dict)
    missing: dict[int, str] = field(default_factory=dict)
    error: str = ""  # the link failed: nothing (more) was read


def _not_readable(reason: str) -> str:
    if "exception code 2 " in reason:
        return "not readable (exception 02: the drive has no such address)"
    if "exception code" in reason:
        return "not readable (" + reason.split("device answered ", 1)[-1] + ")"
    return f"not read ({reason})"


async def _wait_trusted(link: ModbusLink) -> None:
    """After a refused read the link holds off for its timeout: wait it out, then go on."""
    end = time.monotonic() + link.cfg.timeout_s + 0.1
    while not link.trusted() and time.monotonic() < end:
        await asyncio.sleep(0.005)


def addresses(regmap: RegisterMap) -> list[int]:
    """The parameters read, in order: the watchdog's, then the commissioning list."""
    wd = regmap.watchdog
    out = [wd.timeout_address, wd.action_address]
    if wd.enable_address is not None:
        out.append(wd.enable_address)
    return out + [p.address for p in regmap.commission if p.address not in out]


async def read_drive(link: ModbusLink, drive: ModbusDrive, regmap: RegisterMap) -> Readings:
    r = Readings()
    try:
        await link.open()
        r.monitor = await drive.read_monitor()
    except LinkError as exc:
        r.error = exc.reason
        return r
    for address in addresses(regmap):
        try:
            r.values[address] = (await link.read_registers(address, 1, drive.device_id))[0]
        except LinkError as exc:
            r.missing[address] = _not_readable(exc.reason)
            if "exception code" not in exc.reason:
                r.error = exc.reason  # no answer, or a broken line: stop here
                return r
            await _wait_trusted(link)
    return r


async def probe(
    link_cfg: TcpLink | SerialLink,
    regmap: RegisterMap,
    device_id: int,
    kmh_per_hz: float,
    ctx: ProbeContext | None = None,
) -> list[str]:
    ctx = ctx or ProbeContext(link_cfg, device_id, kmh_per_hz)
    link = ModbusLink(link_cfg)
    link.users += 1
    drive = ModbusDrive(link, regmap, device_id, kmh_per_hz)
    try:
        readings = await read_drive(link, drive, regmap)
    finally:
        link.close()
    return [f"drive {drive.name}", *report(regmap, ctx, readings)]


# -- the report ---------------------------------------------------------------------------


def report(regmap: RegisterMap, ctx: ProbeContext, r: Readings) -> list[str]:
    if r.monitor is None:
        return [f"  error: {r.error}"]
    findings: list[str] = []
    lines = _monitor(regmap, ctx, r.monitor)
    lines += _watchdog(regmap, r, findings)
    lines += _commission(regmap, ctx, r, findings)
    lines += _serial(regmap, ctx, r, findings)
    if r.error:
        lines.append(f"  error: {r.error}")
    lines.append("findings" if findings else "findings: none")
    lines += [f"  ! {f}" for f in findings]
    return lines


def _monitor(m: RegisterMap, ctx: ProbeContext, raw: tuple[int, int, int, int]) -> list[str]:
    status, output, fault, warning = raw
    d = m.decode_status(status, output, fault, warning)
    fault_text = m.fault_text(d.fault_code) if d.fault_code else "none"
    lines = [
        f"  status word    0x{status:04X}: {'running' if d.running else 'not running'}, "
        f"{'reverse' if d.reverse else 'forward'}, {'ready' if d.ready else 'NOT ready'}",
        f"  output         {d.output_hz:.2f} Hz = {d.output_hz * ctx.kmh_per_hz:.2f} km/h "
        f"at {ctx.kmh_per_hz} km/h per Hz",
        f"  fault          {d.fault_code}: {fault_text}",
    ]
    if d.warning_code:
        lines.append(f"  warning        {d.warning_code}: {m.warning_text(d.warning_code)}")
    return lines


def _watchdog(m: RegisterMap, r: Readings, findings: list[str]) -> list[str]:
    wd = m.watchdog
    name = wd.action_text.split(" = ")[0] if " = " in wd.action_text else "action"
    lines: list[str] = []
    timeout = r.values.get(wd.timeout_address)
    if timeout is None:
        lines.append(f"  comm-loss time {r.missing.get(wd.timeout_address, 'not read')}")
    else:
        seconds = timeout / wd.timeout_counts_per_s
        lines.append(f"  comm-loss time {seconds:g} s" + (" (off)" if timeout == 0 else ""))
        if timeout == 0:
            findings.append(
                "comm-loss time 0: the drive's own comm-loss stop is off as stored. treadctl "
                "writes the time and a stop action at every connect and reads them back; "
                "a value written to RAM only is gone after the drive's next power-up: "
                "set it at the panel too"
            )
    action = r.values.get(wd.action_address)
    if action is None:
        lines.append(f"  comm-loss act. {r.missing.get(wd.action_address, 'not read')}")
    else:
        lines.append(f"  comm-loss act. {name} = {action}: {wd.action_words(action)}")
        if not wd.stops_the_belt(action):
            stop = wd.action_stop_value
            findings.append(
                f"comm-loss action {name} = {action} ({wd.action_words(action)}) does NOT "
                f"stop the belt: set {stop} ({wd.action_words(stop)}); treadctl sets it at "
                "connect"
            )
    if wd.enable_address is not None:
        enable = r.values.get(wd.enable_address)
        if enable is None:
            lines.append(f"  comm-loss on   {r.missing.get(wd.enable_address, 'not read')}")
        else:
            on = enable == wd.enable_value
            lines.append(f"  comm-loss on   {enable}: {'detection on' if on else 'detection OFF'}")
            if not on:
                findings.append(
                    f"comm-loss detection off (register {wd.enable_address:#06x} = {enable}, "
                    f"on is {wd.enable_value}): treadctl sets it at connect"
                )
    return lines


def _values_text(p: CommissionParam) -> str:
    values = sorted(p.expect)
    if len(values) > 2 and values == list(range(values[0], values[-1] + 1)):
        first, last = p.meaning(values[0]), p.meaning(values[-1])
        span = f" ({first} .. {last})" if first and last else ""
        return f"{values[0]}..{values[-1]}{span}"
    words = [f"{v} ({p.meaning(v)})" if p.meaning(v) else str(v) for v in values]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _is_ascii(p: CommissionParam, value: int) -> bool:
    """A protocol setting below its lowest RTU code (Delta P09-04 < 12: Modbus ASCII)."""
    rtu = [int(v) for v, text in p.values.items() if text.startswith("RTU")]
    return bool(rtu) and value < min(rtu)


def _param_line(p: CommissionParam, ctx: ProbeContext, value: int, findings: list[str]) -> str:
    shown = str(value)
    baud = p.baud(value)
    if p.role == "baud":
        shown += f" = {baud} baud" if baud else " (baud rate not in the map)"
    elif p.role == "answer_delay":
        shown += f" = {value * p.unit_s * 1e3:g} ms"
    elif p.meaning(value):
        shown += f" ({p.meaning(value)})"
    notes = []
    if _is_ascii(p, value):
        notes.append("Modbus ASCII: treadctl speaks RTU")
    if p.role == "station" and value != ctx.device_id:
        notes.append(f"the probe asked device {ctx.device_id}")
    verdict = ""
    if p.expect:
        verdict = "OK" if value in p.expect else f"SET TO {_values_text(p)}"
    if (p.expect and value not in p.expect) or _is_ascii(p, value):
        findings.append(f"{p.name} ({p.what}) is {shown}: " + "; ".join([verdict, *notes[:1]]))
    return _row(p, shown, " ".join([verdict, *notes]))


def _row(p: CommissionParam, shown: str, verdict: str) -> str:
    flag = " [unverified]" if p.unverified else ""
    return f"  {p.name:<8} {shown:<26} {(verdict + flag).strip():<24} {p.what}".rstrip()


def _commission(m: RegisterMap, ctx: ProbeContext, r: Readings, findings: list[str]) -> list[str]:
    if not m.commission:
        lines = [f"commissioning: the {m.name} map has no parameters to read; set at the panel:"]
        notes = m.commission_notes or ["see docs/drives.md"]
        return lines + [f"  - {note}" for note in notes]
    lines = ["commissioning parameters (read only)"]
    for p in m.commission:
        value = r.values.get(p.address)
        if value is None:
            lines.append(_row(p, r.missing.get(p.address, "not read"), ""))
        else:
            lines.append(_param_line(p, ctx, value, findings))
    return lines


def _role_value(m: RegisterMap, r: Readings, role: str) -> tuple[CommissionParam, int] | None:
    for p in m.commission:
        if p.role == role and p.address in r.values:
            return p, r.values[p.address]
    return None


def _serial_setting(
    m: RegisterMap, ctx: ProbeContext, r: Readings, findings: list[str]
) -> tuple[int, str, float, str] | None:
    """(baud, whose, answer delay s, whose): the drive's where read, else the link's."""
    link = ctx.link if isinstance(ctx.link, SerialLink) else None
    baud_read = _role_value(m, r, "baud")
    baud = baud_read[0].baud(baud_read[1]) if baud_read else None
    if baud_read and baud and link is not None and baud != link.baudrate:
        findings.append(
            f"{baud_read[0].name}: the drive is set to {baud} baud, the link runs at "
            f"{link.baudrate}: set one to the other"
        )
    if baud_read and baud:
        baud_source = baud_read[0].name
    elif link is not None:
        baud, baud_source = link.baudrate, "the link's"
    else:
        return None
    delay_read = _role_value(m, r, "answer_delay")
    if delay_read is None:
        delay = (
            link.response_delay_s if link else SerialLink.model_fields["response_delay_s"].default
        )
        return baud, baud_source, delay, "not read: the link's response_delay_s"
    param, value = delay_read
    delay = value * param.unit_s
    if ctx.machine_file and link is not None and delay > link.response_delay_s:
        findings.append(
            f"{param.name}: the drive waits {delay * 1e3:g} ms before answering, the machine "
            f"file's response_delay_s is {link.response_delay_s * 1e3:g} ms: the wire budget "
            f"check at start counts too little; set it to at least {delay:g}"
        )
    return baud, baud_source, delay, param.name


def _serial(m: RegisterMap, ctx: ProbeContext, r: Readings, findings: list[str]) -> list[str]:
    """Can the drive's serial setting carry one control cycle within the loop's budget?"""
    setting = _serial_setting(m, ctx, r, findings)
    if setting is None:
        return ["serial link", "  bus time       not checked: the drive's baud rate was not read"]
    baud, baud_source, delay, delay_source = setting
    reads, writes = cycle_transfers(m)
    inputs = list(ctx.input_reads or ())
    cycle = rtu_cycle(baud, delay, reads, writes, inputs, m.single_write_function)
    loop = ctx.loop
    budget = loop.period_s * loop.wire_budget_fraction
    what = "drive and safety inputs" if inputs else "drive only"
    if ctx.input_reads is None:
        what += "; the safety inputs' bus is not known without --machine"
    best = math.floor(cycle.max_rate_hz(loop.wire_budget_fraction))
    lines = [
        "serial link",
        f"  bus time       {baud} baud ({baud_source}), answer delay {delay * 1e3:g} ms "
        f"({delay_source}): {cycle.seconds * 1e3:.1f} ms per control cycle",
        f"                 ({cycle.transactions} transactions: {what})",
        f"                 {loop.rate_hz:g} Hz allows {budget * 1e3:.1f} ms "
        f"({loop.wire_budget_fraction:.0%} of {loop.period_s * 1e3:g} ms): "
        f"{baud} baud carries at most {best} Hz",
    ]
    if cycle.seconds > budget:
        findings.append(
            f"serial setting too slow for the loop: {baud} baud with a {delay * 1e3:g} ms "
            f"answer delay needs {cycle.seconds * 1e3:.1f} ms per cycle, {loop.rate_hz:g} Hz "
            f"allows {budget * 1e3:.1f} ms: at most {best} Hz at this baud rate; lower "
            "loop.rate_hz, or set a higher baud rate (both ends) or a shorter answer delay"
            + ("" if isinstance(ctx.link, SerialLink) else " (if the drive is run over RTU)")
        )
    return lines
