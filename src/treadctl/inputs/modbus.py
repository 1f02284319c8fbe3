"""Safety inputs from a Modbus digital-input module (function 0x02).

Inputs are normally closed: 1 means the e-stop chain is healthy, the key is in,
a hand is on the rail. A failed read raises; the interlock treats it as unhealthy.
"""

from __future__ import annotations

from treadctl.config.machine import ModbusInputsConfig
from treadctl.drives.link import LinkError, ModbusLink
from treadctl.inputs.base import InputError, SafetyInputSource
from treadctl.safety.types import SafetyIO


class ModbusSafetyInputs(SafetyInputSource):
    def __init__(self, link: ModbusLink, cfg: ModbusInputsConfig) -> None:
        self.link = link
        self.cfg = cfg
        self.name = f"inputs@{link.name}#{cfg.device_id}"
        addrs = (cfg.estop_chain_input, cfg.key_input, cfg.rail_left_input, cfg.rail_right_input)
        self._first = min(addrs)
        self._count = max(addrs) - self._first + 1
        self._offsets = tuple(a - self._first for a in addrs)

    async def open(self) -> None:
        try:
            await self.link.open()
        except LinkError as exc:
            raise InputError(self.name, exc.reason) from exc

    async def read(self) -> SafetyIO:
        try:
            bits = await self.link.read_inputs(self._first, self._count, self.cfg.device_id)
        except LinkError as exc:
            raise InputError(self.name, exc.reason) from exc
        estop, key, left, right = (bits[i] for i in self._offsets)
        return SafetyIO(estop_chain_ok=estop, key_present=key, rail_left=left, rail_right=right)

    async def close(self) -> None:
        self.link.users -= 1
        if self.link.users <= 0:
            self.link.close()
