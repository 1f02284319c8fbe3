"""The Modbus drive backend: a register map over a Modbus link.

Parameters (the drive's own comm-loss watchdog) are written once, at connect,
and read back; the loop writes only the command word and the speed reference.
"""

from __future__ import annotations

import asyncio

from treadctl.drives.base import Drive, DriveCommand, DriveError, WatchdogSetting
from treadctl.drives.link import LinkError, ModbusLink
from treadctl.drives.regmap import RegisterMap
from treadctl.safety.types import Direction, DriveStatus

MAX_BLOCK_READ = 32  # read status, output and fault in one transaction when this close


def monitor_reads(regmap: RegisterMap) -> list[tuple[int, int]]:
    """(first address, count) of each read of a cycle: the monitored registers grouped
    into as few transactions as fit MAX_BLOCK_READ (a V20's ZSW and HIW are neighbours)."""
    reads: list[tuple[int, int]] = []
    for a in sorted(set(regmap.monitor_addresses())):
        if reads and a - reads[-1][0] < MAX_BLOCK_READ:
            reads[-1] = (reads[-1][0], a - reads[-1][0] + 1)
        else:
            reads.append((a, 1))
    return reads


def single_write(regmap: RegisterMap) -> bool:
    """Command word and reference in one write when they are adjacent."""
    return regmap.reference.address == regmap.control.address + 1


def cycle_transfers(regmap: RegisterMap) -> tuple[list[int], list[int]]:
    """Registers per read and per write of one control cycle (for the wire budget)."""
    reads = [count for _, count in monitor_reads(regmap)]
    writes = [2] if single_write(regmap) else [1, 1]
    return reads, writes


class ModbusDrive(Drive):
    def __init__(
        self,
        link: ModbusLink,
        regmap: RegisterMap,
        device_id: int,
        kmh_per_hz: float,
        has_comm_watchdog: bool = True,
    ) -> None:
        self.link = link
        self.map = regmap
        self.device_id = device_id
        self.kmh_per_hz = kmh_per_hz
        self.has_comm_watchdog = has_comm_watchdog
        self.name = f"{regmap.name}@{link.name}#{device_id}"
        self.monitor_reads = monitor_reads(regmap)
        self._single_write = single_write(regmap)
        self.last_fault_text = ""
        self.last_warning_text = ""

    async def _write(self, address: int, values: list[int], stop: bool = False) -> None:
        await self.link.write_registers(
            address,
            values,
            self.device_id,
            stop=stop,
            single_function=self.map.single_write_function,
        )

    def describe_fault(self, code: int) -> str:
        return self.map.fault_text(code)

    def describe_warning(self, code: int) -> str:
        return self.map.warning_text(code)

    def _error(self, exc: LinkError) -> DriveError:
        return DriveError(self.name, exc.reason)

    async def connect(self, comm_loss_timeout_s: float) -> WatchdogSetting:
        try:
            await self.link.open()
            # Never jump on connect: the first thing the drive hears is stop at zero.
            await self.write_command(DriveCommand(False, Direction.FORWARD, 0.0))
            if not self.has_comm_watchdog:
                return WatchdogSetting(0.0, "none: declared absent in the machine file", False)
            return await self._arm_watchdog(comm_loss_timeout_s)
        except LinkError as exc:
            raise self._error(exc) from exc

    async def _arm_watchdog(self, timeout_s: float) -> WatchdogSetting:
        wd = self.map.watchdog
        counts = round(timeout_s * wd.timeout_counts_per_s)
        if counts <= 0 or counts > 0xFFFF:
            raise DriveError(self.name, f"watchdog time {timeout_s} s cannot be encoded")
        writes = [(wd.action_address, wd.action_stop_value)]
        if wd.enable_address is not None:
            writes.append((wd.enable_address, wd.enable_value))
        writes.append((wd.timeout_address, counts))
        for address, value in writes:
            await self._write(address, [value])
            if wd.settle_s:
                await asyncio.sleep(wd.settle_s)
        if wd.apply_address is not None:
            # e.g. Yaskawa's Enter command: the values read back at once either way, but
            # take effect only after it (H5-11 = 0)
            await self._write(wd.apply_address, [wd.apply_value])
            if wd.settle_s:
                await asyncio.sleep(wd.settle_s)
        return await self.read_watchdog(expect=dict(writes))

    async def read_watchdog(self, expect: dict[int, int] | None = None) -> WatchdogSetting:
        """Read the drive's comm-loss watchdog back; with `expect`, refuse any difference."""
        wd = self.map.watchdog
        try:
            timeout = (await self.link.read_registers(wd.timeout_address, 1, self.device_id))[0]
            action = (await self.link.read_registers(wd.action_address, 1, self.device_id))[0]
            seen = {wd.timeout_address: timeout, wd.action_address: action}
            if wd.enable_address is not None:
                seen[wd.enable_address] = (
                    await self.link.read_registers(wd.enable_address, 1, self.device_id)
                )[0]
        except LinkError as exc:
            raise self._error(exc) from exc
        if expect is not None:
            for address, value in expect.items():
                if seen.get(address) != value:
                    raise DriveError(
                        self.name,
                        f"watchdog parameter at {address} read back {seen.get(address)}, "
                        f"wrote {value}",
                    )
        text = wd.action_text if action == wd.action_stop_value else wd.action_words(action)
        return WatchdogSetting(timeout / wd.timeout_counts_per_s, text)

    async def read_monitor(self) -> tuple[int, int, int, int]:
        """Raw status word, output frequency, fault and warning registers (0 when the map
        has none), in as few reads as `monitor_reads` groups them."""
        m = self.map
        got: dict[int, int] = {}
        for start, count in self.monitor_reads:
            regs = await self.link.read_registers(start, count, self.device_id)
            for i, value in enumerate(regs):
                got[start + i] = value
        warning = got[m.warning.address] if m.warning is not None else 0
        return got[m.status.address], got[m.output.address], got[m.fault.address], warning

    async def read_status(self) -> DriveStatus:
        m = self.map
        try:
            status, output, fault, warning = await self.read_monitor()
        except LinkError as exc:
            raise self._error(exc) from exc
        decoded = m.decode_status(status, output, fault, warning)
        self.last_fault_text = m.fault_text(decoded.fault_code) if decoded.fault_code else ""
        self.last_warning_text = (
            m.warning_text(decoded.warning_code) if decoded.warning_code else ""
        )
        return DriveStatus(
            ready=decoded.ready,
            fault_code=decoded.fault_code,
            actual_speed_kmh=decoded.output_hz * self.kmh_per_hz,
            direction=Direction.BACKWARD if decoded.reverse else Direction.FORWARD,
            warning_code=decoded.warning_code,
        )

    async def write_command(self, command: DriveCommand) -> None:
        command, refused = self.forward_only(command)
        m = self.map
        reverse = command.direction is Direction.BACKWARD
        word = m.command_word(command.run, reverse, command.quick_stop)
        reference = m.reference_counts(command.speed_kmh / self.kmh_per_hz, reverse)
        stop = not command.run  # the one command that still goes out on an untrusted line
        try:
            if self._single_write:
                await self._write(m.control.address, [word, reference], stop)
            else:
                await self._write(m.reference.address, [reference], stop)
                await self._write(m.control.address, [word], stop)
        except LinkError as exc:
            raise self._error(exc) from exc
        if refused:
            raise self.reverse_refused()

    async def reset_fault(self) -> None:
        c = self.map.control
        address = c.fault_reset_address if c.fault_reset_address is not None else c.address
        try:
            await self._write(address, [c.fault_reset])
            if self.map.command_gap_s:  # e.g. Yaskawa: >= 5 ms between control commands
                await asyncio.sleep(self.map.command_gap_s)
            await self._write(address, [c.fault_reset_idle])
        except LinkError as exc:
            raise self._error(exc) from exc

    def allow_reconnect(self, allowed: bool) -> None:
        self.link.reconnect_allowed = allowed

    async def close(self) -> None:
        self.link.users -= 1
        if self.link.users <= 0:
            self.link.close()
