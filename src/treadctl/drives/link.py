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
import struct
import termios
import time
from dataclasses import dataclass
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


@dataclass(eq=False, slots=True)
class _Awaited:
    """A request given up before any byte of its answer came: its answer may still come."""

    request: Request
    until: float  # expected no later than this (monotonic)
    signature: bytes  # its unit id and PDU as sent, without the TCP transaction id
    answered: bool = False  # its answer came, exactly


def _signature(adu: bytes, tcp: bool) -> bytes:
    """A request's unit id and PDU, without its framing: two requests with the same
    signature ask the same and are answered the same (bar the TCP transaction id)."""
    return bytes(adu[6:]) if tcp else bytes(adu[:-2])


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
    # Requests given up whose answers are still expected, at most (each for timeout_s).
    MAX_LATE = 4

    def __init__(self, cfg: TcpLink | SerialLink, retries: int = 0) -> None:
        quiet_pymodbus()
        self.cfg = cfg
        self.name = describe(cfg)
        self._tcp = isinstance(cfg, TcpLink)
        self._pending: Request | None = None  # the request on the wire, until answered
        self._pending_signature = b""  # its unit id and PDU (`_signature`)
        # Requests given up (timeout, the loop's guard) before any byte of their answer came,
        # oldest first: a peer answers in order, so those answers may still come, before the
        # answer to any newer request (a stop command goes out on a line not trusted).
        # Cleared by any other answer.
        self._late: list[_Awaited] = []
        self._late_mark = 0  # bad_answers when the last of them was given up
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
            self._pending_signature = _signature(data, self._tcp)
            self._answer_started = self._swallowed = False
        return data

    def _received(self, data: bytes, addr: Any = None) -> int:
        """Bytes used of pymodbus' receive buffer: 0 waits for more, all discards them."""
        now = self._last_rx = time.monotonic()
        try:
            if self._late and self._pending is not None:
                # a stop command went out while answers to requests given up may still come:
                # on the line they come first; discard each that comes, judge what follows
                self._late = [a for a in self._late if now <= a.until]
                verdict, used = self._late_answer_first(data)
                if verdict is Verdict.INCOMPLETE:
                    return 0
                if verdict is Verdict.GOOD:
                    # bytes that would have been this request's answer as well: this one's
                    # answer is not expected any more should it be given up (one behind)
                    pending = self._pending
                    if check_answer(data[:used], pending)[0] is Verdict.GOOD:
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
        """Bytes with no request outstanding: the late answers to requests given up are
        discarded, and once every one expected came exactly, the line is clean again at
        once (a slow answer costs a cycle, not the whole holdoff); anything else is
        distrusted."""
        if self._late:
            verdict, used = self._late_answer_first(data)
            if verdict is Verdict.INCOMPLETE:
                return 0
            if verdict is Verdict.GOOD:
                return used + (self._stray(data[used:]) if data[used:] else 0)
            self._late.clear()
        self._distrust(f"{len(data)} byte(s) received with no request outstanding")
        return len(data)

    def _late_answer_first(self, data: bytes) -> tuple[Verdict, int]:
        """Is `data` led by exactly the answer to a request given up? The oldest whose
        answer it is goes, with those older still (a peer answering in order will not send
        theirs now); when none is left and nothing else failed since, the line is clean.
        INCOMPLETE: it may be one, wait for more. Every answer is judged against its own
        request, in full (`frames.split_answer`): nothing is taken on a likeness."""
        incomplete = False
        for i, awaited in enumerate(self._late):
            verdict, used = split_answer(data, awaited.request)
            if verdict is Verdict.GOOD:
                awaited.answered = True
                del self._late[: i + 1]
                if not self._late and self.bad_answers == self._late_mark:
                    self._untrusted_until = time.monotonic()
                return verdict, used
            incomplete = incomplete or verdict is Verdict.INCOMPLETE
        return (Verdict.INCOMPLETE if incomplete else Verdict.BAD), 0

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
            and self._late
            and self.bad_answers == self._late_mark
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
        bad_before = self.bad_answers
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
            # The answers to requests given up before come before this one's, or not at all:
            # a half-duplex peer answers in order, never after a newer answer.
            if done:
                self._late.clear()
            else:  # failed, timed out or cancelled (the loop's guard): a late answer to this
                # request is never taken for the answer to the next one
                if self._pending is not None:
                    # Its answer may still come (after those still expected), unless it began
                    # to (then the rest is stray bytes, flushed; the older ones came or never
                    # will), or bytes were taken for an older late answer in this exchange
                    # (they may have been this answer: expecting it as well would discard the
                    # next answer as it, and so on, one behind for ever).
                    if self._answer_started:
                        self._late.clear()
                    elif not self._swallowed:
                        until = time.monotonic() + self.cfg.timeout_s
                        self._late.append(_Awaited(self._pending, until, self._pending_signature))
                        del self._late[: -self.MAX_LATE]
                        # one slow answer on a good line: worth a wait before the next read
                        self._late_grace = self._late_grace or self.trusted()
                    self._pending = None
                elif self.bad_answers != bad_before:  # a bad answer, a lost connection
                    self._late.clear()
                self._resync = not self._tcp
                if self.trusted():
                    self._distrust(f"{what}: no complete answer")
                else:
                    self._untrusted_until = time.monotonic() + self.cfg.timeout_s
                self._late_mark = self.bad_answers
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
        single = len(values) == 1 and single_function == 6
        if stop and self._late:  # the PDU as pymodbus sends it (function 06 or 16)
            n = len(values)
            if single:
                pdu = struct.pack(">BHH", 6, address, values[0])
            else:
                pdu = struct.pack(f">BHHB{n}H", 16, address, n, 2 * n, *values)
            if await self._answered_before(bytes([device_id]) + pdu):
                return
        if single:
            await self._call(
                what, self.client.write_register(address, values[0], device_id=device_id)
            )
        else:
            await self._call(
                what, self.client.write_registers(address, values, device_id=device_id)
            )

    async def _answered_before(self, request: bytes) -> bool:
        """A stop exactly like a request given up whose answer is still expected (`request`:
        its unit id and PDU) is not sent again: with two alike on the line, the answer to one
        could not be told from the other's (RTU), and the link would be one answer behind.
        It waits for that answer instead, bounded by the time it is expected and by the
        caller's guard (nothing sent). True: it came, exactly, and it answers this stop too;
        False: it will not come (its time passed, or the line was judged meanwhile): send."""
        awaited = next((a for a in self._late if a.signature == request), None)
        if awaited is None:
            return False
        while not awaited.answered and awaited in self._late and time.monotonic() <= awaited.until:
            await asyncio.sleep(0.001)
        return awaited.answered

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
