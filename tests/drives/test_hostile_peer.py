"""A hostile or broken Modbus peer, over real TCP sockets and a real socat pty pair.

Every kind of garbage the simulator can answer with is a failed read or write with a
reason in words: never a value, never a traceback, never a pymodbus packet dump, and
never more than one link timeout per transaction. When the peer answers properly
again the link recovers by itself, and a late answer is never taken for a newer one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import pytest
from rigs import LINK_TIMEOUT_S, Rig, make_rig  # type: ignore[import-not-found]

from treadctl.config.machine import ModbusInputsConfig
from treadctl.drives.base import DriveCommand, DriveError
from treadctl.drives.frames import Request, Verdict, check_answer, crc16, parse_request
from treadctl.drives.modbus import ModbusDrive
from treadctl.inputs.base import InputError
from treadctl.inputs.modbus import ModbusSafetyInputs
from treadctl.safety.types import Direction
from treadctl.sim.server import GARBAGE_MODES, TCP_ONLY

# What the first failed read says, per transport. An RTU frame has no length field:
# a short frame, or half of one, is an answer that never completes.
REASONS: dict[str, tuple[str, str]] = {
    "wrong_function": ("wrong function code 0x04 in the answer to a 0x03", "wrong function code"),
    "unknown_function": ("wrong function code 0x42", "wrong function code 0x42"),
    "exception": ("exception code 4 (device failure)", "exception code 4 (device failure)"),
    "wrong_tid": ("wrong transaction id", ""),
    "wrong_unit": ("answer from unit 17 to a request to unit 1", "answer from unit 17"),
    "wrong_protocol": ("wrong protocol id 1", ""),
    "short": ("MBAP length field", "no answer within"),
    "long": ("MBAP length field", "after the end of the answer"),
    "trailing": ("after the end of the answer", "after the end of the answer"),
    "mbap_length": ("MBAP length field", ""),
    "byte_count": ("byte count", "byte count"),
    "duplicate": ("after the end of the answer", "after the end of the answer"),
    "random": ("", ""),
    "reset": ("connection", "no answer within"),
}
CASES = [
    pytest.param(t, m, id=f"{t}-{m}")
    for m in GARBAGE_MODES
    for t in ("tcp", "rtu")
    if not (t == "rtu" and m in TCP_ONLY)
]
RUN = DriveCommand(True, Direction.FORWARD, 1.0)


@pytest.fixture
async def tcp_rig() -> AsyncIterator[Rig]:
    async for r in make_rig("tcp", "generic"):
        yield r


async def _rig(request: pytest.FixtureRequest, transport: str) -> AsyncIterator[Rig]:
    pty = request.getfixturevalue("pty_pair") if transport == "rtu" else None
    async for r in make_rig(transport, "generic", pty):
        yield r


def _quiet(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    assert "pymodbus" not in (out + err).lower()
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not loud, [r.getMessage() for r in loud]


async def _until_good(drive: ModbusDrive, timeout_s: float = 2.0) -> None:
    end = time.monotonic() + timeout_s
    while True:
        try:
            await drive.read_status()
            return
        except DriveError:
            assert time.monotonic() < end, "the link never recovered"
            await asyncio.sleep(0.02)


@pytest.mark.parametrize(("transport", "mode"), CASES)
async def test_garbage_is_a_failed_read_with_a_reason(
    request: pytest.FixtureRequest,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    transport: str,
    mode: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger="asyncio")
    async for rig in _rig(request, transport):
        assert rig.server is not None
        assert rig.link is not None
        drive = rig.drive
        assert isinstance(drive, ModbusDrive)
        inputs = ModbusSafetyInputs(rig.link, ModbusInputsConfig(kind="modbus"))
        rig.link.users += 1
        await drive.connect(5.0)  # a long drive watchdog: this test is about the link
        assert rig.server.apply("garbage", [mode]) == "ok"

        started = time.monotonic()
        with pytest.raises(DriveError) as info:
            await drive.read_status()
        assert time.monotonic() - started < LINK_TIMEOUT_S + 0.2
        expected = REASONS[mode][0 if transport == "tcp" else 1]
        assert expected in info.value.reason
        # one failure: the line is not trusted, the next read is not even sent
        started = time.monotonic()
        with pytest.raises(DriveError, match=r"not sent|not connected"):
            await drive.read_status()
        with pytest.raises(InputError):
            await inputs.read()
        with pytest.raises(DriveError):  # a run command never goes out on it
            await drive.write_command(RUN)
        assert time.monotonic() - started < 0.05
        # a stop command does go out, and its garbled answer is a failure too (a write's
        # answer has no byte count to garble)
        stop = DriveCommand(False, Direction.FORWARD, 0.0)
        if mode == "byte_count":
            await drive.write_command(stop)
        else:
            with pytest.raises(DriveError):
                await drive.write_command(stop)
        assert rig.server.garbled > 0

        rig.server.apply("garbage", ["off"])
        await asyncio.sleep(LINK_TIMEOUT_S)  # stray bytes of the last garbage arrive
        rig.drive.allow_reconnect(True)  # after a reset: stopped, so it may reconnect
        rig.link.RECONNECT_INTERVAL_S = 0.05
        await _until_good(drive)
        await drive.write_command(RUN)
        assert (await inputs.read()).estop_chain_ok
        _quiet(capfd, caplog)


async def test_a_late_answer_is_never_taken_for_a_newer_one(
    request: pytest.FixtureRequest,
) -> None:
    """RTU has no transaction id: an answer that comes after its request was given up
    would look exactly like the answer to the next request of the same kind."""
    async for rig in _rig(request, "rtu"):
        assert rig.server is not None
        assert isinstance(rig.drive, ModbusDrive)
        await rig.drive.connect(5.0)
        rig.server.apply("late", [str(LINK_TIMEOUT_S + 0.1)])
        with pytest.raises(DriveError, match="no answer within"):
            await rig.drive.read_status()  # this answer (fault code 0) is still coming
        rig.server.apply("late", ["0"])
        rig.belt.trip(7)  # from now on every fresh answer says fault 7
        seen: list[int] = []
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            with contextlib.suppress(DriveError):
                seen.append((await rig.drive.read_status()).fault_code)
            await asyncio.sleep(0.01)
        assert seen, "the link never recovered"
        assert set(seen) == {7}, seen  # the stale "no fault" answer was never believed


async def test_a_run_command_is_refused_on_an_untrusted_line_and_a_stop_goes_out(
    tcp_rig: Rig,
) -> None:
    rig = tcp_rig
    assert rig.server is not None
    await rig.drive.connect(5.0)
    await rig.drive.write_command(RUN)
    rig.server.apply("garbage", ["wrong_unit"])
    with pytest.raises(DriveError):
        await rig.drive.read_status()
    requests = rig.server.context.requests
    with pytest.raises(DriveError, match="not sent"):
        await rig.drive.write_command(RUN)
    assert rig.server.context.requests == requests  # nothing went out
    with pytest.raises(DriveError, match="answer from unit 17"):
        await rig.drive.write_command(DriveCommand(False, Direction.FORWARD, 0.0))
    assert rig.server.context.requests == requests + 1  # the stop did
    assert not rig.belt.run  # and the drive acted on it


def _tcp_request(fc: int, body: bytes, tid: int = 5, unit: int = 1) -> Request:
    pdu = bytes([fc]) + body
    adu = tid.to_bytes(2, "big") + b"\x00\x00" + (len(pdu) + 1).to_bytes(2, "big")
    request = parse_request(adu + bytes([unit]) + pdu, tcp=True)
    assert request is not None
    return request


def _rtu(unit: int, pdu: bytes) -> bytes:
    return bytes([unit]) + pdu + crc16(bytes([unit]) + pdu)


def test_frames_every_prefix_of_a_good_answer_waits_and_the_whole_is_good() -> None:
    req = _tcp_request(3, b"\x00\x10\x00\x02")
    answer = b"\x00\x05\x00\x00\x00\x07\x01\x03\x04\x00\x01\x00\x02"
    for n in range(len(answer)):
        assert check_answer(answer[:n], req)[0] is Verdict.INCOMPLETE
    assert check_answer(answer, req) == (Verdict.GOOD, "")
    assert check_answer(answer + b"\x00", req)[0] is Verdict.BAD


def test_frames_write_echo_must_repeat_address_and_value() -> None:
    request = parse_request(_rtu(1, b"\x06\x00\x20\x00\x05"), tcp=False)
    assert request is not None
    assert check_answer(_rtu(1, b"\x06\x00\x20\x00\x05"), request) == (Verdict.GOOD, "")
    verdict, reason = check_answer(_rtu(1, b"\x06\x00\x20\x00\x06"), request)
    assert verdict is Verdict.BAD
    assert "write echo differs: address 32 value 6, sent address 32 value 5" in reason
    verdict, reason = check_answer(_rtu(1, b"\x06\x00\x21\x00\x05")[:-1] + b"\x00", request)
    assert verdict is Verdict.BAD  # a CRC error or the wrong address: either refuses it
    multi = parse_request(_rtu(1, b"\x10\x00\x00\x00\x02\x04\x00\x01\x00\x02"), tcp=False)
    assert multi is not None
    assert check_answer(_rtu(1, b"\x10\x00\x00\x00\x02"), multi) == (Verdict.GOOD, "")
    assert check_answer(_rtu(1, b"\x10\x00\x00\x00\x01"), multi)[0] is Verdict.BAD
    assert "wrong function code 0x06" in check_answer(_rtu(1, b"\x06\x00\x00\x00\x02"), multi)[1]


async def _guarded_stop(drive: ModbusDrive, guard_s: float) -> bool:
    """One stop command as the control loop sends it: cancelled at the cycle's guard."""
    try:
        async with asyncio.timeout(guard_s):
            await drive.write_command(DriveCommand(False, Direction.FORWARD, 0.0))
    except (DriveError, TimeoutError):
        return False
    return True


@pytest.mark.parametrize("mode", ["short", "reset"])
async def test_an_answer_that_never_completes_does_not_swallow_every_later_answer(
    request: pytest.FixtureRequest, mode: str
) -> None:
    """RTU: a stop command given up at the loop's guard with half an answer received must
    not leave the link expecting that answer: the next stop command's answer, exactly the
    same bytes, would be discarded as it, that command given up in turn, and so on for as
    long as the loop keeps sending stops (seen as a link that never recovered after a
    garbage mode, every reset refused)."""
    guard_s, period_s = 0.016, 0.02  # the HIL loop: 50 Hz, guard 0.8 of a period
    async for rig in _rig(request, "rtu"):
        assert rig.server is not None
        assert rig.link is not None
        assert isinstance(rig.drive, ModbusDrive)
        await rig.drive.connect(5.0)
        rig.server.apply("garbage", [mode])
        assert not await _guarded_stop(rig.drive, guard_s)  # half an answer, then the guard
        rig.server.apply("garbage", ["off"])
        answered = 0
        end = time.monotonic() + 1.0
        while time.monotonic() < end and answered < 3:
            answered += await _guarded_stop(rig.drive, guard_s)
            await asyncio.sleep(period_s)
        assert answered == 3, "every stop command's answer was taken for the one given up"
        await _until_good(rig.drive, timeout_s=0.5)


async def test_the_simulator_drops_a_fragment_after_a_silence(
    request: pytest.FixtureRequest,
) -> None:
    """RTU, the drive's side: a fragment of a frame (noise, a master cut off mid-frame)
    followed by silence is dropped, as a real drive does after 3.5 characters, and the
    next request is answered. Kept, it would make the next request look like its data:
    both discarded on a CRC error, and so on for every request after."""
    async for rig in _rig(request, "rtu"):
        assert rig.server is not None
        assert rig.link is not None
        assert isinstance(rig.drive, ModbusDrive)
        await rig.drive.connect(5.0)
        serial = rig.link.client.ctx.transport.sync_serial
        serial.write(_rtu(1, b"\x10\x00\x00\x00\x02\x04")[:-2])  # 16 with no data, no CRC
        await asyncio.sleep(0.05)
        for _ in range(3):
            await rig.drive.read_status()


async def test_one_slow_answer_costs_one_reading_not_the_next(
    request: pytest.FixtureRequest,
) -> None:
    """A read given up at the loop's guard on a good line (a loaded machine): the next read
    waits briefly for that late answer, which clears the line, and goes out; before, it
    was refused as not trusted, and a refused safety-input read latches a fault."""
    async for rig in _rig(request, "rtu"):
        assert rig.server is not None
        assert isinstance(rig.drive, ModbusDrive)
        await rig.drive.connect(5.0)
        rig.server.apply("late", ["0.02"])
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.016):
                await rig.drive.read_status()
        rig.server.apply("late", ["0"])
        rig.belt.trip(7)  # the late answer says no fault; only a fresh one says 7
        async with asyncio.timeout(0.05):
            assert (await rig.drive.read_status()).fault_code == 7
