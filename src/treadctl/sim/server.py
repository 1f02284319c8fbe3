"""The HIL simulator: a drive and a safety-input module behind real Modbus, TCP or RTU.

The drive is one of the real drives' personalities (sim.drives: written from their
manuals, independently of the register maps, so a wrong map fails against it) or,
for the generic map and user map files, a model that follows the map. Either has
its own ramp and comm-loss watchdog (armed only through its registers, as on a real
drive), function codes and fault codes; the
belt physics and the hardware safety chain are those of `sim.world`. Faults can
be injected while it runs, over a small line-based control channel or from a
scenario file: stop answering, answer late (every answer, or only the next one:
`late_once`), corrupt CRCs, answer with garbage of any kind (`GARBAGE_MODES`), trip
with a code, open the e-stop chain, pull the key, release or stick the rails.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.exceptions import NoSuchIdException
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler

from treadctl.drives import wire
from treadctl.drives.frames import MBAP, crc16
from treadctl.drives.link import quiet_pymodbus
from treadctl.drives.regmap import RegisterMap
from treadctl.sim.drives import DriveModel, DriveSim, make_drive_model
from treadctl.sim.drives.base import READ_WRITE, WRITE_MULTIPLE, WRITE_SINGLE, StopTiming
from treadctl.sim.incline import InclineDevice, InclineSim, InclineSimMap
from treadctl.sim.scenario import Action, FaultEvent, Injector, Scenario
from treadctl.sim.world import BeltSim

__all__ = ["BusFaults", "DriveModel", "SimServer", "StopTiming"]
WRITES = (5, WRITE_SINGLE, 15, WRITE_MULTIPLE)  # their read-back takes no extra wire time

TICK_S = 0.005

# What a hostile or broken peer answers instead of the right answer (every answer, the
# drive's and the input module's). Framing (MBAP length, CRC) is made consistent unless
# the mode is about the framing, so each mode tests one thing.
GARBAGE_MODES = {
    "wrong_function": "a known but wrong function code (03 as 04, 16 as 06, 02 as 01)",
    "unknown_function": "function code 0x42, which no one defines",
    "exception": "exception code 4 (device failure)",
    "wrong_tid": "the transaction id plus one (TCP)",
    "wrong_unit": "the unit id plus 16",
    "wrong_protocol": "protocol id 1 (TCP)",
    "short": "the answer two bytes short, framing consistent",
    "long": "the answer two bytes long, framing consistent",
    "trailing": "two stray bytes after a correct answer",
    "mbap_length": "the MBAP length field two less than the frame (TCP)",
    "byte_count": "the byte count two more than the data sent (reads)",
    "duplicate": "every answer sent twice",
    "random": "random bytes as long as the answer",
    "reset": "half the answer, then the connection reset (RTU: the rest never comes)",
}
TCP_ONLY = frozenset({"wrong_tid", "wrong_protocol", "mbap_length"})
WRONG_FUNCTION = {1: 2, 2: 1, 3: 4, 4: 3, 5: 6, 6: 16, 15: 16, 16: 6}


def garble(adu: bytes, mode: str, tcp: bool, rng: random.Random) -> bytes:
    """The answer `adu` as a peer in garbage `mode` sends it."""
    if tcp:
        tid, unit, pdu = adu[0:2], adu[6], adu[MBAP:]
    else:
        tid, unit, pdu = b"", adu[0], adu[1:-2]
    pid = 0

    def frame(pdu: bytes, unit: int = unit, tid: bytes = tid, length: int | None = None) -> bytes:
        if tcp:
            n = len(pdu) + 1 if length is None else length
            return tid + struct.pack(">HHB", pid, n, unit) + pdu
        head = bytes([unit]) + pdu
        return head + crc16(head)

    fc = pdu[0]
    if mode == "wrong_function":
        return frame(bytes([WRONG_FUNCTION.get(fc, fc ^ 1)]) + pdu[1:])
    if mode == "unknown_function":
        return frame(b"\x42" + pdu[1:])
    if mode == "exception":
        return frame(bytes([fc | 0x80, 4]))
    if mode == "wrong_tid":
        return frame(pdu, tid=((int.from_bytes(tid, "big") + 1) & 0xFFFF).to_bytes(2, "big"))
    if mode == "wrong_unit":
        return frame(pdu, unit=(unit + 16) & 0xFF)
    if mode == "wrong_protocol":
        pid = 1
        return frame(pdu)
    if mode == "short":
        return frame(pdu[:-2])
    if mode == "long":
        return frame(pdu + b"\x00\x00")
    if mode == "trailing":
        return adu + b"\x00\x00"
    if mode == "mbap_length":
        return frame(pdu, length=len(pdu) - 1)
    if mode == "byte_count":
        return frame(pdu[:1] + bytes([(pdu[1] + 2) & 0xFF]) + pdu[2:]) if fc <= 4 else adu
    if mode == "duplicate":
        return adu + adu
    if mode == "random":
        return rng.randbytes(len(adu))
    if mode == "reset":
        return adu[: len(adu) // 2]
    return adu


@dataclass
class BusFaults:
    silent: bool = False  # no answer at all (the drive's and the module's)
    late_s: float = 0.0  # every answer this late
    # One answer late, then back to normal: the next answer (to `late_once_unit`, to its
    # function `late_once_function`, when given) is `late_once_s` later than it would be.
    late_once_s: float = 0.0
    late_once_unit: int | None = None
    late_once_function: int | None = None
    late_once_served: int = 0  # one-shot late answers given so far

    def take_late_once(self, device_id: int, func_code: int) -> float:
        """The extra delay of this answer: the one-shot's, once, if it is armed for it."""
        if (
            self.late_once_s <= 0
            or self.late_once_unit not in (None, device_id)
            or self.late_once_function not in (None, func_code)
        ):
            return 0.0
        delay, self.late_once_s = self.late_once_s, 0.0
        self.late_once_served += 1
        return delay

    corrupt: bool = False  # RTU: flip a CRC byte; TCP: garble the transaction id
    garbage: str = ""  # a GARBAGE_MODES key: every answer garbled that way
    wire_baud: int | None = None  # emulate RTU wire time at this baud rate (ptys have none)


class SimContext(ModbusServerContext):
    """Routes register traffic into the simulated drive and input module.

    pymodbus 3 calls `async_getValues/async_setValues` of an "old simulator"
    context directly; its own datastore is not built (it is deprecated for v4).
    """

    def __init__(
        self,
        drive: DriveSim,
        drive_id: int,
        io_id: int,
        faults: BusFaults,
        incline: InclineDevice | None = None,
    ) -> None:  # deliberately not calling super().__init__
        self.drive = drive
        self.drive_id = drive_id
        self.io_id = io_id
        self.faults = faults
        self.incline = incline  # the incline lift on its own unit id
        self.incline_id = incline.regs.device_id if incline is not None else None
        self.old_simulator = True
        self.simdevices = []
        self.requests = 0
        self._written: list[int] = []  # the last write's values (06 echoes them)

    def device_ids(self) -> list[int]:
        ids = [self.drive_id, self.io_id]
        return ids if self.incline_id is None else [*ids, self.incline_id]

    async def _gate(
        self, device_id: int, func_code: int, request_bytes: int, response_bytes: int
    ) -> None:
        self.requests += 1
        self.drive.belt.advance(time.monotonic())
        f = self.faults
        inc = self.incline
        if inc is not None:
            inc.lift.advance(time.monotonic())
        silent = (
            f.silent  # the line is cut: nobody hears, nobody answers
            or (device_id == self.drive_id and self.drive.belt.silent)
            or (device_id == self.io_id and self.drive.belt.panel.io_fails)
            or (inc is not None and device_id == self.incline_id and inc.lift.silent)
        )
        if silent or device_id not in self.device_ids():
            raise NoSuchIdException(f"device {device_id} does not answer")
        if device_id == self.drive_id:
            self.drive.belt.last_command_s = self.drive.belt.now_s  # any telegram feeds it
        delay = f.late_s + f.take_late_once(device_id, func_code)
        if f.wire_baud:
            delay += wire.transaction_s(request_bytes, response_bytes, f.wire_baud)
        if delay > 0:
            await asyncio.sleep(delay)

    async def async_getValues(  # noqa: N802 - pymodbus' name
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        if self.incline is not None and device_id == self.incline_id:
            return await self._incline_get(self.incline, device_id, func_code, address, count)
        if func_code == 2:
            await self._gate(device_id, func_code, *wire.read_inputs_bytes(count))
            if device_id != self.io_id:
                return ExcCodes.ILLEGAL_FUNCTION
            p = self.drive.belt.panel
            bits = [p.estop_chain_ok, p.key_present, p.rail_left, p.rail_right]
            if address + count > len(bits):
                return ExcCodes.ILLEGAL_ADDRESS
            return bits[address : address + count]
        if func_code == WRITE_SINGLE:  # the answer to 06 echoes the value written
            return self._written[:count]
        if func_code in WRITES or func_code == READ_WRITE:  # after a write: wire time paid
            values = self.drive.read(address, count)
            return values if values is not None else ExcCodes.ILLEGAL_ADDRESS
        await self._gate(device_id, func_code, *wire.read_registers_bytes(count))
        readable = func_code in (3, 4) and self.drive.accepts(func_code)
        if device_id != self.drive_id or not readable:
            return ExcCodes.ILLEGAL_FUNCTION
        values = self.drive.read(address, count)
        # answered with the state the drive was in when the telegram came (a comm-loss
        # warning shows in the first answer after the silence), then the telegram counts
        self.drive.telegram()
        return values if values is not None else ExcCodes.ILLEGAL_ADDRESS

    async def async_setValues(  # noqa: N802 - pymodbus' name
        self, device_id: int, func_code: int, address: int, values: Sequence[int] | Sequence[bool]
    ) -> ExcCodes | None:
        await self._gate(device_id, func_code, *wire.write_registers_bytes(len(values)))
        if self.incline is not None and device_id == self.incline_id:
            if func_code in (5, 15):
                ok = self.incline.write_coils(address, [bool(v) for v in values])
            elif func_code in (WRITE_SINGLE, WRITE_MULTIPLE):
                self._written = [int(v) for v in values]
                ok = self.incline.write_holding(address, self._written)
            else:
                return ExcCodes.ILLEGAL_FUNCTION
            return None if ok else ExcCodes.ILLEGAL_ADDRESS
        if (
            device_id != self.drive_id
            or func_code not in (WRITE_SINGLE, WRITE_MULTIPLE, READ_WRITE)
            or not self.drive.accepts(func_code)
        ):
            return ExcCodes.ILLEGAL_FUNCTION
        if len(values) > self.drive.max_write:
            return ExcCodes.ILLEGAL_VALUE
        self._written = [int(v) for v in values]
        ok = self.drive.write(address, self._written, func_code, time.monotonic())
        self.drive.telegram()
        return None if ok else ExcCodes.ILLEGAL_ADDRESS

    async def _incline_get(
        self, inc: InclineDevice, device_id: int, func_code: int, address: int, count: int
    ) -> list[int] | list[bool] | ExcCodes:
        """The incline lift's unit: coils (01, 05, 15), input register (04), holding (03,
        06, 16). The read-back after a write pays no wire time again."""
        values: list[int] | list[bool] | None
        if func_code in (5, 15):
            return inc.written_coils()[:count]
        if func_code == WRITE_SINGLE:
            return self._written[:count]
        if func_code == WRITE_MULTIPLE:
            return self._written[:count]
        await self._gate(device_id, func_code, *wire.read_registers_bytes(count))
        if func_code == 1:
            values = inc.read_coils(address, count)
        elif func_code == 3:
            values = inc.read_holding(address, count)
        elif func_code == 4:
            values = inc.read_input_registers(address, count)
        else:
            return ExcCodes.ILLEGAL_FUNCTION
        return values if values is not None else ExcCodes.ILLEGAL_ADDRESS


class _InOrder(ServerRequestHandler):
    """A drive answers one request at a time, in order, each answer with its own request's
    transaction and unit id. pymodbus' handler starts every request at once and stamps each
    answer with the ids of the newest request: an answer made late by `late` or
    `late_once` would come after the answer to a newer request, wearing that request's
    ids, which no drive does (a request given up by the controller and a stop command
    sent after it would look like garbage, not like a late answer)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)  # type: ignore[no-untyped-call]
        self._waiting: deque[tuple[ModbusPDU, Any]] = deque()
        self._turn = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()  # held until done

    def callback_data(self, data: bytes, addr: tuple[Any, ...] | None = None) -> int:
        used = int(super().callback_data(data, addr))  # a request: handle_later is due
        if self.last_pdu is not None:
            self._waiting.append((self.last_pdu, self.last_addr))
        return used

    def handle_later(self) -> None:
        task = self.loop.create_task(self._answer_in_turn())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_in_turn(self) -> None:
        async with self._turn:  # first come, first answered
            if not self._waiting:
                return
            pdu, addr = self._waiting.popleft()
            try:
                response = await pdu.datastore_update(self.server.context, pdu.dev_id)
            except NoSuchIdException:
                return  # a silent or absent unit: the request goes unanswered
            except Exception:  # as pymodbus does: the device fails
                response = ExceptionResponse(pdu.function_code, ExcCodes.DEVICE_FAILURE)
            response.transaction_id = pdu.transaction_id
            response.dev_id = pdu.dev_id
            self.server_send(response, addr)  # type: ignore[no-untyped-call]


class _TcpServer(ModbusTcpServer):
    def callback_new_connection(self) -> _InOrder:
        return _InOrder(self, self.trace_packet, self.trace_pdu, self.trace_connect)


class _RtuReceiver(_InOrder):
    """A drive's RTU receiver: what is left of a frame when the line falls silent for 3.5
    characters is dropped, so the next request is read from its first byte. pymodbus'
    framer would instead keep the fragment and hunt through it and the next request,
    possibly discarding both, frame after frame."""

    silence_s = wire.MIN_SILENCE_S
    last_rx = 0.0

    def datagram_received(self, data: bytes, addr: tuple[Any, ...] | None) -> None:
        now = time.monotonic()
        if self.recv_buffer and now - self.last_rx >= self.silence_s:
            self.recv_buffer = b""
        self.last_rx = now
        super().datagram_received(data, addr)


class _RtuServer(ModbusSerialServer):
    def callback_new_connection(self) -> _RtuReceiver:
        receiver = _RtuReceiver(self, self.trace_packet, self.trace_pdu, self.trace_connect)
        receiver.silence_s = wire.silence_s(self.comm_params.baudrate or 19200)
        return receiver


class SimServer:
    """The simulator process: Modbus server, physics ticker, control channel, scenario."""

    def __init__(
        self,
        regmap: RegisterMap,
        belt: BeltSim,
        kmh_per_hz: float,
        drive_id: int = 1,
        io_id: int = 2,
        scenario: Scenario | None = None,
        faults: BusFaults | None = None,
        personality: str | None = None,
        lift: InclineSim | None = None,
        incline_map: InclineSimMap | None = None,
    ) -> None:
        """`personality`: a real drive's (sim.drives.PERSONALITIES), "map" for the
        map-driven model, None for the personality `regmap` is named after, if any.
        `lift`: an incline lift served on `incline_map`'s unit id (None: no incline)."""
        self.belt = belt
        # The world runs on the monotonic clock from now: its first advance must not
        # integrate the machine's uptime (about a second of blocked event loop after hours).
        belt.now_s = max(belt.now_s, time.monotonic())
        quiet_pymodbus()  # garbage is what this simulator is for: no packet dumps
        self.rng = random.Random(17)
        self.faults = faults or BusFaults()
        self.model = make_drive_model(regmap, belt, kmh_per_hz, personality)
        self.model.station(drive_id)  # the probe finds the address it asked
        self.lift = lift
        device = None
        if lift is not None:
            lift.now_s = max(lift.now_s, time.monotonic())
            device = InclineDevice(lift, incline_map or InclineSimMap())
        self.context = SimContext(self.model, drive_id, io_id, self.faults, device)
        self.injector = Injector(scenario, belt, self._injected, lift) if scenario else None
        self._world = Injector(Scenario(), belt, lambda _e: None, lift)  # applies one event now
        self.servers: list[Any] = []
        self._rtu = False
        self.garbled = 0  # answers garbled so far
        self.log: list[str] = []

    def _injected(self, event: FaultEvent) -> None:
        if event.action is Action.GARBAGE:
            self.apply("garbage", [event.mode])
            return
        self.apply(event.action.value, [str(event.code or event.value)])

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending or not data:
            return data
        mode = self.faults.garbage
        if mode:
            self.garbled += 1
            if mode == "reset" and not self._rtu:
                asyncio.get_running_loop().call_soon(self._reset_connections)
            data = garble(data, mode, not self._rtu, self.rng)
        if self.faults.corrupt:
            if self._rtu:
                return data[:-1] + bytes([data[-1] ^ 0xFF])
            return bytes([data[0] ^ 0xFF]) + data[1:]
        return data

    def _reset_connections(self) -> None:
        """Reset (RST, not FIN) every TCP connection: the answer stays half sent."""
        for server in self.servers:
            for conn in list(getattr(server, "active_connections", {}).values()):
                transport = getattr(conn, "transport", None)
                if transport is None:
                    continue
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.abort()

    async def start_tcp(self, host: str, port: int) -> None:
        server = _TcpServer(
            self.context,
            address=(host, port),
            ignore_missing_devices=True,
            trace_packet=self._trace_packet,
        )
        await server.serve_forever(background=True)
        self.servers.append(server)
        await _until_accepting(host, port)

    async def start_rtu(self, device: str, baudrate: int, parity: str = "N") -> None:
        self._rtu = True
        self.model.serial_link(baudrate, parity)  # the probe sees the link it talks over
        server = _RtuServer(
            self.context,
            framer=FramerType.RTU,
            port=device,
            baudrate=baudrate,
            parity=parity,
            ignore_missing_devices=True,
            trace_packet=self._trace_packet,
        )
        await server.serve_forever(background=True)
        self.servers.append(server)

    async def tick_forever(self) -> None:
        while True:
            now = time.monotonic()
            self.belt.advance(now)
            if self.lift is not None:
                self.lift.advance(now)
            if self.injector is not None:
                self.injector.poll(now)
            self.model.tick()
            await asyncio.sleep(TICK_S)

    async def stop(self) -> None:
        for server in self.servers:
            await server.shutdown()

    # -- fault injection ---------------------------------------------------------------
    def apply(self, verb: str, args: list[str]) -> str:
        f = self.faults
        now = time.monotonic()
        self.belt.advance(now)
        try:
            if verb == "late":
                f.late_s = float(args[0]) if args else 0.0
            elif verb == "late_once":
                self._late_once(args)
            elif verb == "corrupt":
                f.corrupt = (args[0] if args else "on") == "on"
            elif verb == "silent":
                f.silent = (args[0] if args else "on") == "on"
            elif verb == "garbage":
                f.garbage = self._garbage_mode(args[0] if args else "")
            elif verb == "status":
                return json.dumps(self.status())
            elif verb == "latency":
                return json.dumps({"latencies_s": self.model.stop_timing.latencies_s})
            else:
                event = _event(verb, args)
                if event.action in (Action.OPEN_ESTOP, Action.PULL_KEY):
                    self.model.stop_timing.mark(now)
                self._world.apply(event)
                self.model.tick()
        except (ValueError, IndexError) as exc:
            return f"error {verb}: {exc}"
        self.log.append(f"{now:.3f} {verb} {' '.join(args)}")
        return "ok"

    def _late_once(self, args: list[str]) -> None:
        """`late_once SECONDS [UNIT [FUNCTION]]`: the next answer (from that unit, to that
        function code) SECONDS late, then every answer on time again; 0 disarms it."""
        if not 1 <= len(args) <= 3:
            raise ValueError("usage: late_once SECONDS [UNIT [FUNCTION]]")
        delay = float(args[0])
        if not 0 <= delay <= 10:
            raise ValueError("the delay must be 0 to 10 s")
        unit = int(args[1]) if len(args) > 1 else None
        function = int(args[2]) if len(args) > 2 else None
        if unit is not None and not 0 <= unit <= 247:
            raise ValueError("the unit id must be 0 to 247")
        if function is not None and not 1 <= function <= 127:
            raise ValueError("the function code must be 1 to 127")
        f = self.faults
        f.late_once_s, f.late_once_unit, f.late_once_function = delay, unit, function

    def _garbage_mode(self, mode: str) -> str:
        if mode == "off":
            return ""
        if mode not in GARBAGE_MODES:
            raise ValueError(f"garbage mode must be off or one of {', '.join(GARBAGE_MODES)}")
        if mode in TCP_ONLY and self._rtu:
            raise ValueError(f"{mode} needs Modbus TCP")
        return mode

    def status(self) -> dict[str, Any]:
        b = self.belt
        return {
            "speed_kmh": round(b.speed_kmh, 4),
            "direction": b.direction.value,
            "run": b.run,
            "reference_kmh": round(b.reference_kmh, 4),
            "fault_code": self.model.fault_register_code(),
            "ready": b.ready,
            "watchdog_s": self.model.watchdog_stop_s(),
            "estop_chain_ok": b.panel.estop_chain_ok,
            "key_present": b.panel.key_present,
            "rails": [b.panel.rail_left, b.panel.rail_right],
            "requests": self.context.requests,
            "garbage": self.faults.garbage or "off",
            "garbled": self.garbled,
            "late_once_armed": self.faults.late_once_s > 0,
            "late_once_served": self.faults.late_once_served,
            "direction_changes": self.model.direction_changes,
            "commands_seen": b.commands_seen,
            **self.model.status_extras(),
            **(self.lift.status() if self.lift is not None else {}),
        }

    async def serve_control(self, host: str, port: int) -> asyncio.Server:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while line := await reader.readline():
                words = line.decode("utf-8", "replace").split()
                reply = self.apply(words[0], words[1:]) if words else "error empty"
                writer.write((reply + "\n").encode())
                await writer.drain()
            writer.close()

        return await asyncio.start_server(handle, host, port)


def _event(verb: str, args: list[str]) -> FaultEvent:
    """A control-channel line as a scenario event: `drive_trip 7`, `hr_set 120`, `pull_key`."""
    action = Action(verb)
    if action is Action.DRIVE_TRIP:
        return FaultEvent(at_s=0, action=action, code=int(args[0]) if args else 1)
    return FaultEvent(at_s=0, action=action, value=float(args[0]) if args else 0.0)


async def _until_accepting(host: str, port: int, timeout_s: float = 5.0) -> None:
    """pymodbus returns from serve_forever(background=True) before the socket accepts."""
    end = time.monotonic() + timeout_s
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            if time.monotonic() > end:
                raise
            await asyncio.sleep(0.01)
            continue
        writer.close()
        await writer.wait_closed()
        return
