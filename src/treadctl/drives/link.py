"""One Modbus bus (TCP or RTU) with control-loop settings, shared by the devices on it.

pymodbus' defaults suit a SCADA poll, not a control loop: a 3 s timeout with 3
retries delays an error by ~12 s, and a disconnected client reconnects inside
the next request. Here every transaction has a timeout of a few loop periods,
0-1 retries, a disconnected link fails at once, and reconnection happens in
the background only while the controller says the belt is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from treadctl.config.machine import SerialLink, TcpLink


class LinkError(Exception):
    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


def describe(cfg: TcpLink | SerialLink) -> str:
    if isinstance(cfg, TcpLink):
        return f"modbus-tcp://{cfg.host}:{cfg.port}"
    return f"modbus-rtu:{cfg.port}@{cfg.baudrate}{cfg.parity}{cfg.stopbits}"


class ModbusLink:
    RECONNECT_INTERVAL_S = 1.0

    def __init__(self, cfg: TcpLink | SerialLink, retries: int = 0) -> None:
        self.cfg = cfg
        self.name = describe(cfg)
        self.client: AsyncModbusTcpClient | AsyncModbusSerialClient
        if isinstance(cfg, TcpLink):
            self.client = AsyncModbusTcpClient(
                cfg.host,
                port=cfg.port,
                timeout=cfg.timeout_s,
                retries=retries,
                reconnect_delay=0,
                reconnect_delay_max=0,
            )
        else:
            self.client = AsyncModbusSerialClient(
                cfg.port,
                framer=FramerType.RTU,
                baudrate=cfg.baudrate,
                parity=cfg.parity,
                stopbits=cfg.stopbits,
                bytesize=8,
                timeout=cfg.timeout_s,
                retries=retries,
                reconnect_delay=0,
                reconnect_delay_max=0,
            )
        self.reconnect_allowed = False
        self._reconnect_task: asyncio.Task[None] | None = None
        self._last_reconnect = 0.0
        self.users = 0

    async def _connect(self) -> bool:
        """Connect with the link's connect timeout; requests keep their short one."""
        params = self.client.ctx.comm_params
        request_timeout = params.timeout_connect
        params.timeout_connect = max(request_timeout or 0.0, self.cfg.connect_timeout_s)
        try:
            return bool(await self.client.connect())
        finally:
            params.timeout_connect = request_timeout

    async def open(self) -> None:
        if self.client.connected:
            return
        if not await self._connect():
            raise LinkError(self.name, "cannot connect")

    def close(self) -> None:
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
        self.client.close()

    def _check(self) -> None:
        if not self.client.connected:
            self._maybe_reconnect()
            raise LinkError(self.name, "not connected")

    def _maybe_reconnect(self) -> None:
        now = time.monotonic()
        if (
            self.reconnect_allowed
            and (self._reconnect_task is None or self._reconnect_task.done())
            and now - self._last_reconnect >= self.RECONNECT_INTERVAL_S
        ):
            self._last_reconnect = now
            self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        with contextlib.suppress(OSError, ModbusException):
            await self._connect()

    async def _call(self, what: str, coro: Any) -> Any:
        try:
            response = await coro
        except ModbusException as exc:
            raise LinkError(self.name, f"{what}: {exc}") from exc
        except (OSError, TimeoutError, ValueError) as exc:
            raise LinkError(self.name, f"{what}: {exc!r}") from exc
        if response is None or response.isError():
            raise LinkError(self.name, f"{what}: device answered with an exception {response}")
        return response

    async def read_registers(self, address: int, count: int, device_id: int) -> list[int]:
        self._check()
        r = await self._call(
            f"read {count} register(s) at {address} from device {device_id}",
            self.client.read_holding_registers(address, count=count, device_id=device_id),
        )
        regs: list[int] = list(r.registers)
        if len(regs) != count:
            raise LinkError(self.name, f"asked {count} registers, got {len(regs)}")
        return regs

    async def write_registers(self, address: int, values: list[int], device_id: int) -> None:
        self._check()
        what = f"write {len(values)} register(s) at {address} to device {device_id}"
        if len(values) == 1:
            await self._call(
                what, self.client.write_register(address, values[0], device_id=device_id)
            )
        else:
            await self._call(
                what, self.client.write_registers(address, values, device_id=device_id)
            )

    async def read_inputs(self, address: int, count: int, device_id: int) -> list[bool]:
        self._check()
        r = await self._call(
            f"read {count} input(s) at {address} from device {device_id}",
            self.client.read_discrete_inputs(address, count=count, device_id=device_id),
        )
        bits: list[bool] = list(r.bits)[:count]
        if len(bits) != count:
            raise LinkError(self.name, f"asked {count} inputs, got {len(bits)}")
        return bits
