"""One Modbus bus (TCP or RTU) with control-loop settings, shared by the devices on it.

pymodbus' defaults suit a SCADA poll, not a control loop: a 3 s timeout with 3
retries delays an error by ~12 s, and a disconnected client reconnects inside
the next request. Here every transaction has a timeout of a few loop periods,
0-1 retries, a disconnected link fails at once, and reconnection happens in
the background only while the controller says the belt is stopped.

A hostile or broken peer is a failed transaction, never data and never a
traceback: every received byte is checked against the request it answers
(`drives.frames`) before pymodbus decodes it, a bad answer fails the request at
once with its reason in words, and pymodbus' own logger (raw packet dumps,
"Skipping" lines) is kept off the console. After any failed transaction or any
byte nobody asked for, the line is not trusted for `timeout_s`, restarted by
each further failure: reads fail at once without being sent (a late answer can
then not be taken for the answer to a newer request: RTU has no transaction id),
and only a stop command goes out. One wait per cycle at most, not one per
transaction: no overrun storm.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import termios
import time
from typing import Any

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException, ModbusIOException

from treadctl.config.machine import SerialLink, TcpLink
from treadctl.drives import wire
from treadctl.drives.frames import Request, Verdict, check_answer, parse_request, split_answer


def quiet_pymodbus() -> None:
    """Keep pymodbus' logger off the console: its error lines carry raw packet dumps, one
    per bad frame. Failures reach the operator as LinkError reasons, logged once by the
    loop. The level also spares the loop the cost of formatting those dumps."""
    log = logging.getLogger("pymodbus")
    log.setLevel(logging.CRITICAL + 1)
    log.propagate = False
    if not log.handlers:
        log.addHandler(logging.NullHandler())


class BadAnswerError(Exception):
    """An answer that does not match its request (set on pymodbus' pending future)."""


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
    # RTU resync after a failure: at most this many silences waited for a quiet line
    RESYNC_MAX_SILENCES = 3
    # A read after a single slow answer given up on a healthy line waits this long (at most
    # once) for that answer, which clears the line, before it is refused as not trusted.
    LATE_ANSWER_WAIT_S = 0.01

    def __init__(self, cfg: TcpLink | SerialLink, retries: int = 0) -> None:
        quiet_pymodbus()
        self.cfg = cfg
        self.name = describe(cfg)
        self._tcp = isinstance(cfg, TcpLink)
        self._pending: Request | None = None  # the request on the wire, until answered
        # A request given up (timeout, the loop's guard) before any byte of its answer came:
        # that answer may still come, first on the line, during the next exchange only.
        self._abandoned: Request | None = None
        self._abandoned_mark = 0
        self._abandoned_until = 0.0
        self._answer_started = False  # bytes of the pending request's answer have come
        self._late_grace = False  # the late answer may still clear the line: worth a wait
        self._swallowed = False  # bytes discarded as a late answer in this exchange
        self._resync = False  # RTU: wait for silence and flush before the next request
        self._last_rx = 0.0  # when bytes last came (monotonic)
        self._untrusted_until = 0.0
        self._why = ""
        self.bad_answers = 0  # answers refused, and bytes nobody asked for
        self.sent_frames: list[bytes] | None = None  # a list: every request ADU is kept
        self.client: AsyncModbusTcpClient | AsyncModbusSerialClient
        if isinstance(cfg, TcpLink):
            self.client = AsyncModbusTcpClient(
                cfg.host,
                port=cfg.port,
                timeout=cfg.timeout_s,
                retries=retries,
                reconnect_delay=0,
                reconnect_delay_max=0,
                trace_packet=self._traced,
                trace_connect=self._connection_changed,
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
                trace_packet=self._traced,
                trace_connect=self._connection_changed,
            )
        # Every received byte passes the answer check before pymodbus' framer sees it.
        self._decode = self.client.ctx.callback_data
        setattr(self.client.ctx, "callback_data", self._received)  # noqa: B010 - an instance hook
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
        try:
            connected = await self._connect()
        except (termios.error, OSError, ValueError) as exc:
            # pyserial applies the line settings while opening: a device (or a pty) that
            # refuses them raises termios.error, which is not an OSError.
            raise LinkError(self.name, f"cannot open with {self._settings()}: {exc}") from exc
        if not connected:
            raise LinkError(self.name, "cannot connect")

    def _settings(self) -> str:
        cfg = self.cfg
        if isinstance(cfg, TcpLink):
            return f"{cfg.host}:{cfg.port}"
        return f"{cfg.baudrate} baud, 8{cfg.parity}{cfg.stopbits} (the device refuses them?)"

    def close(self) -> None:
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
        self.client.close()

    # -- answer checking (called from pymodbus' data_received: must never raise) ----------
    def _traced(self, sending: bool, data: bytes) -> bytes:
        if sending:
            if self.sent_frames is not None:
                self.sent_frames.append(bytes(data))
            self._pending = parse_request(data, self._tcp)
            self._answer_started = self._swallowed = False
        return data

    def _received(self, data: bytes, addr: Any = None) -> int:
        """Bytes used of pymodbus' receive buffer: 0 waits for more, all discards them."""
        self._last_rx = time.monotonic()
        try:
            late = self._abandoned
            if late is not None and self._pending is not None:
                # a stop command went out while the answer to a request given up may still
                # come: on the line it comes first; discard it, judge what follows
                if time.monotonic() > self._abandoned_until:
                    self._abandoned = None
                else:
                    verdict, used = split_answer(data, late)
                    if verdict is Verdict.INCOMPLETE:
                        return 0
                    if verdict is Verdict.GOOD:
                        self._abandoned = None
                        self._swallowed = True
                        return used + (self._received(data[used:], addr) if data[used:] else 0)
            request = self._pending
            if request is None:
                return self._stray(data)
            verdict, reason = check_answer(data, request)
            if verdict is Verdict.INCOMPLETE:
                self._answer_started = True
                return 0
            self._pending = None
            if verdict is Verdict.BAD:
                self._fail_pending(reason)
                return len(data)
            return int(self._decode(data, addr))
        except Exception as exc:  # pymodbus must never see this hook raise
            self._pending = None
            self._fail_pending(f"undecodable answer ({exc})")
            return len(data)

    def _stray(self, data: bytes) -> int:
        """Bytes with no request outstanding: the late answer to a request given up is
        discarded, and if it is exactly that answer the line is clean again at once (a
        slow answer costs a cycle, not the whole holdoff); anything else is distrusted."""
        late = self._abandoned
        if late is not None:
            verdict, _ = check_answer(data, late)
            if verdict is Verdict.INCOMPLETE:
                return 0
            self._abandoned = None
            if verdict is Verdict.GOOD and self.bad_answers == self._abandoned_mark:
                self._untrusted_until = time.monotonic()
                return len(data)
        self._distrust(f"{len(data)} byte(s) received with no request outstanding")
        return len(data)

    def _connection_changed(self, connected: bool) -> None:
        if not connected and self._pending is not None:
            self._pending = None
            self._fail_pending("connection lost before the answer was complete")

    def _fail_pending(self, reason: str) -> None:
        self._distrust(reason)
        future = self.client.ctx.response_future
        if not future.done():
            future.set_exception(BadAnswerError(reason))

    def _distrust(self, reason: str) -> None:
        self.bad_answers += 1
        self._resync = not self._tcp
        self._untrusted_until = time.monotonic() + self.cfg.timeout_s
        self._why = reason

    def trusted(self) -> bool:
        return time.monotonic() >= self._untrusted_until

    def _check(self, what: str, stop: bool = False) -> None:
        if not self.client.connected:
            self._maybe_reconnect()
            raise LinkError(self.name, "not connected")
        if not stop and not self.trusted():
            raise LinkError(
                self.name,
                f"{what}: not sent: the line is not trusted for {self.cfg.timeout_s} s "
                f"after a failure ({self._why})",
            )

    async def _late_answer(self) -> None:
        """Before a read on a line not trusted only because one request on a good line was
        given up (the loop's guard, a slow answer on a loaded machine): wait a little, once,
        for its answer. If exactly that answer comes, the line is trusted again and the read
        goes out; else it is refused as before. A slow answer then costs a cycle's reading
        of the drive, not the next reading of the safety inputs too (a latched fault)."""
        end = time.monotonic() + min(self.LATE_ANSWER_WAIT_S, self.cfg.timeout_s)
        while (
            self._late_grace
            and self._abandoned is not None
            and self.bad_answers == self._abandoned_mark
            and not self.trusted()
            and time.monotonic() < end
        ):
            await asyncio.sleep(0.001)
        self._late_grace = False

    async def _quiet_line(self) -> None:
        """RTU, after a failed or abandoned exchange: as a master does before its next
        request, wait until the line has been silent for 3.5 characters (a few ms on a
        pty or USB adapter) and discard everything received, so the next answer is judged
        from its first byte. Bounded: a peer that never falls silent costs a few ms."""
        self._resync = False
        if isinstance(self.cfg, TcpLink):
            return
        silence = wire.silence_s(self.cfg.baudrate)
        end = time.monotonic() + self.RESYNC_MAX_SILENCES * silence
        while (now := time.monotonic()) < end and (quiet := now - self._last_rx) < silence:
            await asyncio.sleep(silence - quiet)  # bytes meanwhile go to _stray
        ctx = self.client.ctx
        ctx.recv_buffer = b""
        serial = getattr(ctx.transport, "sync_serial", None)
        if serial is not None:
            with contextlib.suppress(OSError, ValueError):
                serial.reset_input_buffer()  # bytes the kernel holds, not yet read

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
        with contextlib.suppress(OSError, ModbusException, termios.error, ValueError):
            await self._connect()

    async def _call(self, what: str, coro: Any) -> Any:
        done = False
        try:
            if self._resync:
                try:
                    await self._quiet_line()
                except BaseException:  # the loop's guard, while waiting: nothing was sent
                    coro.close()
                    raise
            response = await coro
            done = True
        except BadAnswerError as exc:
            raise LinkError(self.name, f"{what}: {exc}") from exc
        except ModbusIOException as exc:
            if "No response" in str(exc):
                raise LinkError(
                    self.name, f"{what}: no answer within {self.cfg.timeout_s} s"
                ) from exc
            raise LinkError(self.name, f"{what}: {exc}") from exc
        except ModbusException as exc:
            raise LinkError(self.name, f"{what}: {exc}") from exc
        except (OSError, TimeoutError, ValueError) as exc:
            raise LinkError(self.name, f"{what}: {exc!r}") from exc
        finally:
            # The answer to a request given up before is expected during this one exchange
            # at most: a half-duplex peer answers in order, never after a newer answer.
            self._abandoned = None
            if not done:  # failed, timed out or cancelled (the loop's guard): a late answer
                # to this request is a stray byte, never the answer to the next one
                if self._pending is not None:
                    # Its answer may still come, unless it began to (then the rest is stray
                    # bytes, flushed), or bytes were taken for an older late answer in this
                    # exchange (they may have been this answer: expecting it as well would
                    # discard the next answer as it, and so on, one behind for ever).
                    if not (self._answer_started or self._swallowed):
                        self._abandoned = self._pending
                        self._abandoned_until = time.monotonic() + self.cfg.timeout_s
                        self._late_grace = self.trusted()  # one slow answer on a good line
                    self._pending = None
                self._resync = not self._tcp
                if self.trusted():
                    self._distrust(f"{what}: no complete answer")
                else:
                    self._untrusted_until = time.monotonic() + self.cfg.timeout_s
                self._abandoned_mark = self.bad_answers
        if response is None or response.isError():
            raise LinkError(self.name, f"{what}: device answered with an exception {response}")
        return response

    async def read_registers(self, address: int, count: int, device_id: int) -> list[int]:
        what = f"read {count} register(s) at {address} from device {device_id}"
        if self._late_grace:
            await self._late_answer()
        self._check(what)
        r = await self._call(
            what,
            self.client.read_holding_registers(address, count=count, device_id=device_id),
        )
        regs: list[int] = list(r.registers)
        if len(regs) != count:
            raise LinkError(self.name, f"asked {count} registers, got {len(regs)}")
        return regs

    async def write_registers(
        self,
        address: int,
        values: list[int],
        device_id: int,
        *,
        stop: bool = False,
        single_function: int = 6,
    ) -> None:
        """Write; the answer must echo address and value (or count). `stop`: a stop command,
        the one write that still goes out on a line not trusted since a failure.
        `single_function`: 6, or 16 for drives that refuse 6 (one register, count 1)."""
        what = f"write {len(values)} register(s) at {address} to device {device_id}"
        self._check(what, stop)
        if len(values) == 1 and single_function == 6:
            await self._call(
                what, self.client.write_register(address, values[0], device_id=device_id)
            )
        else:
            await self._call(
                what, self.client.write_registers(address, values, device_id=device_id)
            )

    async def read_inputs(self, address: int, count: int, device_id: int) -> list[bool]:
        what = f"read {count} input(s) at {address} from device {device_id}"
        if self._late_grace:
            await self._late_answer()
        self._check(what)
        r = await self._call(
            what,
            self.client.read_discrete_inputs(address, count=count, device_id=device_id),
        )
        bits: list[bool] = list(r.bits)[:count]
        if len(bits) != count:
            raise LinkError(self.name, f"asked {count} inputs, got {len(bits)}")
        return bits
