"""The incline over Modbus: relays and a position sensor, or a position controller.

Both share the drive's link classes (and, with `link = "drive"`, the drive's bus). The
relay backend writes coils (function 05/15) and reads the sensor's input register
(function 04), which the drive link does not do: `LinkExtras` adds the two with the
same answer checking, timeouts and trust rules. Switching direction writes the coil that
goes off before the one that comes on, so up and down are never energised together even
between two telegrams; a write of relays off is a stop and goes out on a line not yet
trusted again after a failure.
"""

from __future__ import annotations

from treadctl.config.machine import PositionInclineConfig, RelayInclineConfig
from treadctl.drives.link import LinkError, ModbusLink
from treadctl.incline.base import InclineActuator, InclineCommand, InclineError

INT16_SPAN = 0x10000
INT16_MAX = 0x7FFF


class LinkExtras:
    """Coil writes and input-register reads on a ModbusLink (the drive's own link class
    does not do them), with its answer checking, timeouts and trust rules."""

    def __init__(self, link: ModbusLink) -> None:
        self.link = link

    async def write_coil(
        self, address: int, value: bool, device_id: int, *, stop: bool = False
    ) -> None:
        what = f"write coil {address} of device {device_id}"
        link = self.link
        link._check(what, stop)
        await link._call(what, link.client.write_coil(address, value, device_id=device_id))

    async def write_coils(
        self, address: int, values: list[bool], device_id: int, *, stop: bool = False
    ) -> None:
        what = f"write {len(values)} coil(s) at {address} of device {device_id}"
        link = self.link
        link._check(what, stop)
        await link._call(what, link.client.write_coils(address, values, device_id=device_id))

    async def read_input_registers(self, address: int, count: int, device_id: int) -> list[int]:
        what = f"read {count} input register(s) at {address} from device {device_id}"
        link = self.link
        if link._late_grace:
            await link._late_answer()
        link._check(what)
        r = await link._call(
            what, link.client.read_input_registers(address, count=count, device_id=device_id)
        )
        regs: list[int] = list(r.registers)
        if len(regs) != count:
            raise LinkError(link.name, f"asked {count} registers, got {len(regs)}")
        return regs


def counts_to_pct(counts: int, cfg: RelayInclineConfig, min_pct: float, max_pct: float) -> float:
    """The sensor's calibration: counts_at_min..counts_at_max map onto min_pct..max_pct."""
    frac = (counts - cfg.counts_at_min) / (cfg.counts_at_max - cfg.counts_at_min)
    return min_pct + frac * (max_pct - min_pct)


def from_int16(raw: int) -> int:
    return raw - INT16_SPAN if raw > INT16_MAX else raw


def to_int16(value: int) -> int:
    return value % INT16_SPAN


class _ModbusIncline(InclineActuator):
    def __init__(self, link: ModbusLink, device_id: int) -> None:
        self.link = link
        self.device_id = device_id
        self.name = f"incline@{link.name}#{device_id}"

    async def open(self) -> None:
        try:
            await self.link.open()
        except LinkError as exc:
            raise InclineError(self.name, exc.reason) from exc

    async def close(self) -> None:
        self.link.users -= 1
        if self.link.users <= 0:
            self.link.close()


class RelayIncline(_ModbusIncline):
    """Up/down relays on coils and a potentiometer on an input register."""

    def __init__(
        self, link: ModbusLink, cfg: RelayInclineConfig, min_pct: float, max_pct: float
    ) -> None:
        super().__init__(link, cfg.device_id)
        self.ilink = LinkExtras(link)
        self.cfg = cfg
        self.min_pct, self.max_pct = min_pct, max_pct
        self._adjacent = abs(cfg.up_coil - cfg.down_coil) == 1

    async def read_position_pct(self) -> float:
        try:
            (counts,) = await self.ilink.read_input_registers(
                self.cfg.position_register, 1, self.device_id
            )
        except LinkError as exc:
            raise InclineError(self.name, exc.reason) from exc
        return counts_to_pct(counts, self.cfg, self.min_pct, self.max_pct)

    async def write(self, command: InclineCommand) -> None:
        up, down = command.up, command.down
        if up and down:
            raise InclineError(self.name, "refused: up and down together")
        c = self.cfg
        stop = not (up or down)
        try:
            if self._adjacent:
                first = min(c.up_coil, c.down_coil)
                values = [up, down] if first == c.up_coil else [down, up]
                await self.ilink.write_coils(first, values, self.device_id, stop=stop)
            else:
                # off before on: never both energised, even between two telegrams
                order = [(c.up_coil, up), (c.down_coil, down)]
                order.sort(key=lambda a: a[1])
                for address, value in order:
                    await self.ilink.write_coil(address, value, self.device_id, stop=not value)
        except LinkError as exc:
            raise InclineError(self.name, exc.reason) from exc


class PositionIncline(_ModbusIncline):
    """A lift with its own position controller: target and actual % in holding registers."""

    def __init__(self, link: ModbusLink, cfg: PositionInclineConfig) -> None:
        super().__init__(link, cfg.device_id)
        self.cfg = cfg
        self._actual_pct: float | None = None

    async def read_position_pct(self) -> float:
        try:
            (raw,) = await self.link.read_registers(self.cfg.actual_register, 1, self.device_id)
        except LinkError as exc:
            self._actual_pct = None
            raise InclineError(self.name, exc.reason) from exc
        self._actual_pct = from_int16(raw) * self.cfg.pct_per_count
        return self._actual_pct

    async def write(self, command: InclineCommand) -> None:
        # hold: the target becomes where it stands (a halt), else the ramped setpoint
        pct = command.setpoint_pct if command.setpoint_pct is not None else self._actual_pct
        if pct is None:
            return  # no position known: nothing to hold to; the rules see the missed read
        counts = to_int16(round(pct / self.cfg.pct_per_count))
        try:
            await self.link.write_registers(
                self.cfg.target_register,
                [counts],
                self.device_id,
                stop=command.setpoint_pct is None,
            )
        except LinkError as exc:
            raise InclineError(self.name, exc.reason) from exc
