"""Golden Modbus frames: the exact request bytes treadctl sends to each built-in drive map,
checked a second, independent way.

1. A ModbusDrive talks Modbus RTU over a socat pty pair (run with -x, so socat dumps
   every byte it carries) to the HIL simulator, and each step is a direct call of a
   ModbusDrive method (no control loop: no timing-dependent reads). The requests are
   taken from ModbusLink.sent_frames (which gives the step boundaries) and must equal,
   byte for byte, what socat saw cross the pty towards the drive; together they must
   equal tests/drives/golden/<map>.txt. TREADCTL_REGEN_GOLDEN=1 rewrites the golden
   files instead, and the test still fails, so a regeneration never passes unseen.
2. Every golden frame is decoded by golden_decode.py (plain Python from the Modbus spec,
   no treadctl map code, no pymodbus) and compared with an expectation table written
   here from the drives' manuals (/work/shared/reference/drive-maps-verified.md and the
   issue 11 wire spec), not computed from the maps.
3. The same steps over Modbus TCP send the same PDUs to the same unit id.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from golden_decode import (  # type: ignore[import-not-found]
    READ_HOLDING,
    WRITE_MULTIPLE,
    WRITE_SINGLE,
    FrameError,
    Request,
    crc16_modbus,
    decode_rtu,
    decode_tcp,
    rtu_pdu,
    split_rtu_stream,
    tcp_pdu,
)
from rigs import KMH_PER_HZ, Rig, make_rig  # type: ignore[import-not-found]

from treadctl.drives.base import DriveCommand
from treadctl.drives.modbus import ModbusDrive
from treadctl.safety.types import Direction

GOLDEN_DIR = Path(__file__).parent / "golden"
REGEN = os.environ.get("TREADCTL_REGEN_GOLDEN") == "1"
MAPS = ("delta-ms300", "yaskawa-a1000", "abb-acs355", "siemens-v20", "generic")
DEVICE_ID = 1
WATCHDOG_S = 0.5

FWD, BWD = Direction.FORWARD, Direction.BACKWARD

# -- the steps recorded (their names are the golden files' step lines) ---------------------
CONNECT = "connect: stop at zero, comm-loss watchdog 0.5 s set-up and read-back"
RUN_FWD = "run forward at 2.0 km/h (20 Hz)"
CHANGE = "speed change: forward at 3.0 km/h (30 Hz)"
STOP = "stop"
RUN_REV = "run reverse at 1.2 km/h (12 Hz), from standstill"
QUICK = "quick stop"
RESET = "fault reset"
STATUS = "status read"

Step = Callable[[Rig], Awaitable[object]]


def command(run: bool, direction: Direction, kmh: float, quick: bool = False) -> Step:
    async def step(rig: Rig) -> None:
        assert isinstance(rig.drive, ModbusDrive)
        await rig.drive.write_command(DriveCommand(run, direction, kmh, quick))

    return step


async def stop_then_rest(rig: Rig) -> None:
    """The stop command; then (no bus traffic) the simulated belt comes to rest, so the
    reverse run starts from standstill. Bounded well inside the 0.5 s watchdog."""
    await command(False, FWD, 0.0)(rig)
    end = time.monotonic() + 0.3
    while (rig.belt.speed_kmh > 0.0 or rig.belt.output_kmh > 0.0) and time.monotonic() < end:
        await asyncio.sleep(0.01)


async def connect(rig: Rig) -> None:
    assert isinstance(rig.drive, ModbusDrive)
    await rig.drive.connect(WATCHDOG_S)


async def reset(rig: Rig) -> None:
    assert isinstance(rig.drive, ModbusDrive)
    await rig.drive.reset_fault()


async def status(rig: Rig) -> None:
    assert isinstance(rig.drive, ModbusDrive)
    await rig.drive.read_status()


STEPS: list[tuple[str, Step]] = [
    (CONNECT, connect),
    (RUN_FWD, command(True, FWD, 2.0)),
    (CHANGE, command(True, FWD, 3.0)),
    (STOP, stop_then_rest),
    (RUN_REV, command(True, BWD, 1.2)),
    (QUICK, command(False, BWD, 0.0, quick=True)),
    (RESET, reset),
    (STATUS, status),
]

Recording = list[tuple[str, list[bytes]]]


async def record(rig: Rig) -> Recording:
    assert KMH_PER_HZ == 0.1
    assert rig.link is not None
    assert isinstance(rig.drive, ModbusDrive)
    assert rig.drive.device_id == DEVICE_ID
    sent: list[bytes] = []
    rig.link.sent_frames = sent
    steps: Recording = []
    for name, step in STEPS:
        mark = len(sent)
        try:
            await step(rig)
        except Exception as exc:
            pytest.fail(f"step {name!r} failed against the simulator: {exc}")
        steps.append((name, sent[mark:]))
    return steps


# -- golden files ------------------------------------------------------------------------
STEP_PREFIX = "# step: "


def render(map_name: str, steps: Recording) -> str:
    lines = [
        f"# {map_name}: the Modbus RTU requests treadctl sends, device id {DEVICE_ID},",
        f"# kmh_per_hz {KMH_PER_HZ}, comm-loss watchdog {WATCHDOG_S} s. Recorded live over a",
        "# socat pty pair against the simulator by tests/drives/test_golden_frames.py",
        "# (TREADCTL_REGEN_GOLDEN=1 rewrites this file). One frame per line, hex; the text",
        "# after a frame is golden_decode's reading of it, not compared.",
    ]
    for name, frames in steps:
        lines.append(STEP_PREFIX + name)
        for frame in frames:
            lines.append(f"{frame.hex(' '):<40}  # {decode_rtu(frame).describe()}")
    return "\n".join(lines) + "\n"


def parse(text: str) -> Recording:
    steps: Recording = []
    for line in text.splitlines():
        if line.startswith(STEP_PREFIX):
            steps.append((line[len(STEP_PREFIX) :], []))
        elif line.startswith("#") or not line.strip():
            continue
        else:
            assert steps, f"frame before any step line: {line!r}"
            steps[-1][1].append(bytes.fromhex(line.split("#", 1)[0]))
    return steps


def golden(map_name: str) -> Recording:
    path = GOLDEN_DIR / f"{map_name}.txt"
    if not path.exists():
        pytest.fail(f"{path} is missing: run with TREADCTL_REGEN_GOLDEN=1 to record it")
    return parse(path.read_text())


# -- socat -x: the bytes that really cross the pty ---------------------------------------
HEADER = re.compile(r"^([<>]) \S+ \S+\s+length=(\d+) from=(\d+) to=(\d+)\s*$")


@dataclass
class DumpedPty:
    server: str  # socat's first address: the simulator's end
    client: str  # the second: the controller's end
    dump: Path
    proc: subprocess.Popen[bytes]

    def to_drive(self) -> bytes:
        """Stop socat; every byte it carried from the controller's end to the simulator's,
        in order (socat -x marks that direction "<": from the second address to the first)."""
        self.proc.terminate()
        self.proc.wait(timeout=5)
        data = bytearray()
        chunk: bytearray | None = None
        want = 0
        for line in self.dump.read_text().splitlines():
            m = HEADER.match(line)
            if m:
                chunk = None
                if m.group(1) == "<":
                    assert int(m.group(3)) == len(data), "socat dump: a gap in the stream"
                    chunk = data
                    want = len(data) + int(m.group(2))
            elif line.startswith(" ") and chunk is not None:
                chunk.extend(bytes.fromhex(line))
                if len(data) == want:
                    chunk = None
            elif line.strip() == "--":
                chunk = None
        return bytes(data)


@pytest.fixture
def dumped_pty(tmp_path: Path) -> Iterator[DumpedPty]:
    socat = shutil.which("socat")
    if socat is None:
        pytest.fail("socat is not installed: scripts/test installs it (apt-get install socat)")
    a, b, dump = tmp_path / "ttyA", tmp_path / "ttyB", tmp_path / "socat-x.txt"
    with dump.open("wb") as err:
        proc = subprocess.Popen(
            [socat, "-x", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    end = time.monotonic() + 5
    while not (a.exists() and b.exists()):
        if time.monotonic() > end or proc.poll() is not None:
            proc.kill()
            pytest.fail("socat did not create the pty pair")
        time.sleep(0.01)
    pty = DumpedPty(str(a), str(b), dump, proc)
    yield pty
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=5)


async def rig_for(transport: str, map_name: str, pty: DumpedPty | None) -> AsyncIterator[Rig]:
    async for r in make_rig(transport, map_name, (pty.server, pty.client) if pty else None):
        yield r


# -- 1. recorded == golden, byte for byte ------------------------------------------------
@pytest.mark.parametrize("map_name", MAPS)
async def test_rtu_frames_equal_golden_file(map_name: str, dumped_pty: DumpedPty) -> None:
    async for rig in rig_for("rtu", map_name, dumped_pty):
        steps = await record(rig)
    sent = [f for _, frames in steps for f in frames]
    wire = dumped_pty.to_drive()
    assert wire == b"".join(sent), "the pty carried other bytes than ModbusLink says it sent"
    assert split_rtu_stream(wire) == sent  # and they cut into the same frames

    path = GOLDEN_DIR / f"{map_name}.txt"
    if REGEN:
        GOLDEN_DIR.mkdir(exist_ok=True)
        path.write_text(render(map_name, steps))
        pytest.fail(f"TREADCTL_REGEN_GOLDEN=1: {path} regenerated; review the diff, commit it")
    assert render(map_name, steps) == render(map_name, golden(map_name)), (
        f"{map_name}: the requests on the wire differ from {path}"
    )


# -- 2. golden frames against the manuals ------------------------------------------------
@dataclass(frozen=True)
class Want:
    function: int
    address: int
    values: tuple[int | None, ...] = ()  # None: any value
    count: int = 0  # reads

    def __str__(self) -> str:
        if self.function == READ_HOLDING:
            return f"fc 03 read {self.count} at 0x{self.address:04x}"
        vals = ", ".join("any" if v is None else f"0x{v:04x}" for v in self.values)
        return f"fc {self.function:02x} write 0x{self.address:04x} = [{vals}]"

    def matches(self, r: Request) -> bool:
        if (r.unit, r.function, r.address) != (DEVICE_ID, self.function, self.address):
            return False
        if self.function == READ_HOLDING:
            return r.count == self.count
        return len(r.values) == len(self.values) and all(
            w is None or w == v for w, v in zip(self.values, r.values, strict=True)
        )


def w06(address: int, value: int) -> Want:
    return Want(WRITE_SINGLE, address, (value,))


def w10(address: int, *values: int | None) -> Want:
    return Want(WRITE_MULTIPLE, address, values)


def rd(address: int, count: int = 1) -> Want:
    return Want(READ_HOLDING, address, count=count)


def s16(value: int) -> int:
    """A signed value as the 16-bit two's complement register holds it."""
    return value & 0xFFFF


def abb_ref1(hz: float) -> int:
    return round(hz / 50.0 * 20000)  # REF1: 20000 = 1105 REF1 MAX = 500 (50.0 Hz)


def v20_hsw(hz: float) -> int:
    return round(hz / 50.0 * 16384)  # HSW: 16384 = P2000 = 50 Hz


# Written from the manuals (drive-maps-verified.md, the issue 11 wire spec), not the maps.
EXPECT: dict[str, dict[str, list[Want]]] = {
    # 0x2000 command (01 stop, 10 run; bits 5-4 01 FWD, 10 REV) and 0x2001 Hz x 100 are
    # adjacent: one 0x10 write. P09-02 0x0902 = 1 (warn CE10, ramp), P09-03 0x0903 in
    # 0.1 s. 0x2002 bit 1 fault reset. 0x2100 fault/warning, 0x2101 status, 0x2103 output.
    "delta-ms300": {
        CONNECT: [
            w10(0x2000, 0x0001, 0),
            w06(0x0902, 1),
            w06(0x0903, 5),
            rd(0x0903),
            rd(0x0902),
        ],
        RUN_FWD: [w10(0x2000, 0x0012, 2000)],
        CHANGE: [w10(0x2000, 0x0012, 3000)],
        STOP: [w10(0x2000, 0x0001, 0)],
        RUN_REV: [w10(0x2000, 0x0022, 1200)],
        QUICK: [w10(0x2000, 0x0001, 0)],  # no quick-stop word: the stop word
        RESET: [w06(0x2002, 2), w06(0x2002, 0)],
        STATUS: [rd(0x2100, 4)],
    },
    # MEMOBUS: 03, 08, 0x10 only -- every write 0x10, never 06. 0x0001 operation (bit 0
    # fwd, bit 1 rev, bit 3 reset), 0x0002 reference 0.01 Hz. H5-04 0x0428 = 0 (ramp),
    # H5-05 0x0429 = 1 (CE detection on), H5-09 0x0435 in 0.1 s, then Enter 0x0910 (any
    # value). 0x0020 status, 0x0021 fault bits, 0x0024 output.
    "yaskawa-a1000": {
        CONNECT: [
            w10(0x0001, 0x0000, 0),
            w10(0x0428, 0),
            w10(0x0429, 1),
            w10(0x0435, 5),
            w10(0x0910, None),
            rd(0x0435),
            rd(0x0428),
            rd(0x0429),
        ],
        RUN_FWD: [w10(0x0001, 0x0001, 2000)],
        CHANGE: [w10(0x0001, 0x0001, 3000)],
        STOP: [w10(0x0001, 0x0000, 0)],
        RUN_REV: [w10(0x0001, 0x0002, 1200)],
        QUICK: [w10(0x0001, 0x0000, 0)],  # no quick-stop bit: the stop word
        RESET: [w10(0x0001, 0x0008), w10(0x0001, 0x0000)],
        STATUS: [rd(0x0020, 5)],
    },
    # ABB drives profile: 40001 CW (PDU 0) and 40002 REF1 (PDU 1, signed, negative =
    # reverse) adjacent. 3018 COMM FAULT FUNC at PDU 3017 = 1, 3019 time at PDU 3018 in
    # 0.1 s. Status 40004 (PDU 3), output 0103 (PDU 102), last fault 0401 (PDU 400): too
    # far apart for one read.
    "abb-acs355": {
        CONNECT: [
            w10(0, 0x047E, 0),
            w06(3017, 1),
            w06(3018, 5),
            rd(3018),
            rd(3017),
        ],
        RUN_FWD: [w10(0, 0x047F, abb_ref1(20))],
        CHANGE: [w10(0, 0x047F, abb_ref1(30))],
        STOP: [w10(0, 0x047E, 0)],
        RUN_REV: [w10(0, 0x047F, s16(-abb_ref1(12)))],
        QUICK: [w10(0, 0x047B, 0)],
        RESET: [w06(0, 0x04FE), w06(0, 0x047E)],
        STATUS: [rd(3), rd(102), rd(400)],
    },
    # V20: 40100 STW (PDU 99), 40101 HSW (PDU 100, reverse by STW bit 11, HSW positive).
    # 40002 (PDU 1) action = 1, 40001 (PDU 0) time in ms. ZSW PDU 109, HIW PDU 110,
    # fault r0947 PDU 399.
    "siemens-v20": {
        CONNECT: [
            w10(99, 0x047E, 0),
            w06(1, 1),
            w06(0, 500),
            rd(0),
            rd(1),
        ],
        RUN_FWD: [w10(99, 0x047F, v20_hsw(20))],
        CHANGE: [w10(99, 0x047F, v20_hsw(30))],
        STOP: [w10(99, 0x047E, 0)],
        RUN_REV: [w10(99, 0x0C7F, v20_hsw(12))],
        QUICK: [w10(99, 0x047B, 0)],
        RESET: [w06(99, 0x04FE), w06(99, 0x047E)],
        STATUS: [rd(109, 2), rd(399)],  # ZSW and HIW are neighbours: one read
    },
    # treadctl's own layout: 0x0000 bits run/reverse/quick stop/reset, 0x0001 0.01 Hz;
    # 0x0021 action = 1, 0x0020 time in 0.1 s; status 0x0010..0x0012.
    "generic": {
        CONNECT: [
            w10(0x0000, 0x0000, 0),
            w06(0x0021, 1),
            w06(0x0020, 5),
            rd(0x0020),
            rd(0x0021),
        ],
        RUN_FWD: [w10(0x0000, 0x0001, 2000)],
        CHANGE: [w10(0x0000, 0x0001, 3000)],
        STOP: [w10(0x0000, 0x0000, 0)],
        RUN_REV: [w10(0x0000, 0x0003, 1200)],
        QUICK: [w10(0x0000, 0x0004, 0)],
        RESET: [w06(0x0000, 0x0008), w06(0x0000, 0x0000)],
        STATUS: [rd(0x0010, 3)],
    },
}


@pytest.mark.parametrize("map_name", MAPS)
def test_golden_frames_say_what_the_manual_says(map_name: str) -> None:
    steps = golden(map_name)
    assert [name for name, _ in steps] == [name for name, _ in STEPS]
    for name, frames in steps:
        got = [decode_rtu(f) for f in frames]
        want = EXPECT[map_name][name]
        why = f"{map_name}, {name}: got {[g.describe() for g in got]}, want {list(map(str, want))}"
        assert len(got) == len(want), why
        assert all(w.matches(g) for w, g in zip(want, got, strict=True)), why
    if map_name == "yaskawa-a1000":  # MEMOBUS refuses 06: not one frame may use it
        assert all(decode_rtu(f).function != WRITE_SINGLE for _, fs in steps for f in fs)


# -- 2b. the decoder can fail ------------------------------------------------------------
def test_decoder_knows_the_spec_crc() -> None:
    # Modbus over Serial Line V1.02: CRC of 01 03 00 00 00 0A is 0xCDC5, sent C5 CD
    assert crc16_modbus(bytes.fromhex("01 03 00 00 00 0a")) == 0xCDC5
    assert decode_rtu(bytes.fromhex("01 03 00 00 00 0a c5 cd")) == Request(1, 3, 0, 10, ())


@pytest.mark.parametrize("map_name", MAPS)
def test_decoder_refuses_every_single_flipped_bit(map_name: str) -> None:
    for _, frames in golden(map_name):
        for frame in frames:
            decode_rtu(frame)
            for bit in range(8 * len(frame)):
                bad = bytearray(frame)
                bad[bit // 8] ^= 1 << (bit % 8)
                with pytest.raises(FrameError):
                    decode_rtu(bytes(bad))


def with_crc(body: bytes) -> bytes:
    crc = crc16_modbus(body)
    return body + bytes([crc & 0xFF, crc >> 8])


@pytest.mark.parametrize(
    "body",
    [
        "01 03 00 00 00",  # read: one byte short
        "01 06 00 00 00 01 00",  # write single: one byte long
        "01 10 00 00 00 02 04 00 01",  # write multiple: values shorter than the byte count
        "01 10 00 00 00 02 02 00 01",  # byte count not 2 x count
        "01 03 00 00 00 00",  # read of 0 registers
        "01 04 00 00 00 01",  # a function this decoder does not accept
        "f8 03 00 00 00 01",  # reserved unit id on a serial line
    ],
)
def test_decoder_refuses_inconsistent_frames(body: str) -> None:
    with pytest.raises(FrameError):
        decode_rtu(with_crc(bytes.fromhex(body)))


# -- 3. TCP sends the same PDUs ----------------------------------------------------------
@pytest.mark.parametrize("map_name", MAPS)
async def test_tcp_sends_the_same_pdus_as_rtu(map_name: str) -> None:
    async for rig in rig_for("tcp", map_name, None):
        steps = await record(rig)
    transactions = [decode_tcp(f)[0] for _, frames in steps for f in frames]
    assert len(set(transactions)) == len(transactions), "a transaction id used twice"
    tcp = [(name, [tcp_pdu(f) for f in frames]) for name, frames in steps]
    rtu = [(name, [rtu_pdu(f) for f in frames]) for name, frames in golden(map_name)]
    assert tcp == rtu
