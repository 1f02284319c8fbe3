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


def status_block(regmap: RegisterMap) -> tuple[int, int]:
    """First address and count of the registers spanning status, output and fault."""
    addrs = (regmap.status.address, regmap.output.address, regmap.fault.address)
    return min(addrs), max(addrs) - min(addrs) + 1


def single_write(regmap: RegisterMap) -> bool:
    """Command word and reference in one write when they are adjacent."""
    return regmap.reference.address == regmap.control.address + 1


def cycle_transfers(regmap: RegisterMap) -> tuple[list[int], list[int]]:
    """Registers per read and per write of one control cycle (for the wire budget)."""
    _, count = status_block(regmap)
    reads = [count] if count <= MAX_BLOCK_READ else [1, 1, 1]
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
        self.status_block = status_block(regmap)
        self._single_write = single_write(regmap)
        self.last_fault_text = ""

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
            await self.link.write_registers(address, [value], self.device_id)
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
        text = wd.action_text if action == wd.action_stop_value else f"action code {action}"
        return WatchdogSetting(timeout / wd.timeout_counts_per_s, text)

    async def read_monitor(self) -> tuple[int, int, int]:
        """Raw status word, output frequency and fault code: one read when they are close."""
        m = self.map
        start, count = self.status_block
        if count <= MAX_BLOCK_READ:
            regs = await self.link.read_registers(start, count, self.device_id)
            return (
                regs[m.status.address - start],
                regs[m.output.address - start],
                regs[m.fault.address - start],
            )
        status = (await self.link.read_registers(m.status.address, 1, self.device_id))[0]
        output = (await self.link.read_registers(m.output.address, 1, self.device_id))[0]
        fault = (await self.link.read_registers(m.fault.address, 1, self.device_id))[0]
        return status, output, fault

    async def read_status(self) -> DriveStatus:
        m = self.map
        try:
            status, output, fault = await self.read_monitor()
        except LinkError as exc:
            raise self._error(exc) from exc
        decoded = m.decode_status(status, output, fault)
        self.last_fault_text = m.fault_text(fault) if fault else ""
        return DriveStatus(
            ready=decoded.ready,
            fault_code=decoded.fault_code,
            actual_speed_kmh=decoded.output_hz * self.kmh_per_hz,
            direction=Direction.BACKWARD if decoded.reverse else Direction.FORWARD,
        )

    async def write_command(self, command: DriveCommand) -> None:
        m = self.map
        reverse = command.direction is Direction.BACKWARD
        word = m.command_word(command.run, reverse, command.quick_stop)
        reference = m.reference_counts(command.speed_kmh / self.kmh_per_hz, reverse)
        stop = not command.run  # the one command that still goes out on an untrusted line
        try:
            if self._single_write:
                await self.link.write_registers(
                    m.control.address, [word, reference], self.device_id, stop=stop
                )
            else:
                await self.link.write_registers(
                    m.reference.address, [reference], self.device_id, stop=stop
                )
                await self.link.write_registers(
                    m.control.address, [word], self.device_id, stop=stop
                )
        except LinkError as exc:
            raise self._error(exc) from exc

    async def reset_fault(self) -> None:
        c = self.map.control
        address = c.fault_reset_address if c.fault_reset_address is not None else c.address
        try:
            await self.link.write_registers(address, [c.fault_reset], self.device_id)
            if self.map.command_gap_s:  # e.g. Yaskawa: >= 5 ms between control commands
                await asyncio.sleep(self.map.command_gap_s)
            await self.link.write_registers(address, [c.fault_reset_idle], self.device_id)
        except LinkError as exc:
            raise self._error(exc) from exc

    def allow_reconnect(self, allowed: bool) -> None:
        self.link.reconnect_allowed = allowed

    async def close(self) -> None:
        self.link.users -= 1
        if self.link.users <= 0:
            self.link.close()
