"""Each real drive's personality behaves on the wire as its manual says.

Raw Modbus TCP on loopback (pymodbus' client, register numbers from the shared spec),
not the controller's register maps: these tests pin the simulator's independent opinion
of each drive, against which the maps are tested.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pymodbus.client import AsyncModbusTcpClient

from treadctl.config.machine import SimBelt
from treadctl.drives.regmap import load_map
from treadctl.sim.drives import DriveModel, make_drive_model
from treadctl.sim.drives.abb import AbbAcs355
from treadctl.sim.drives.delta import DeltaMs300
from treadctl.sim.drives.siemens import SiemensV20
from treadctl.sim.drives.yaskawa import YaskawaA1000
from treadctl.sim.server import SimServer
from treadctl.sim.world import BeltSim, Panel, StopMode

KMH_PER_HZ = 0.1  # 30 Hz = 3 km/h
FAST_BELT = SimBelt(drive_ramp_kmh_per_s=40.0, belt_time_constant_s=0.02, person_load_kmh=0.0)
ILLEGAL_FUNCTION, ILLEGAL_ADDRESS, ILLEGAL_VALUE = 1, 2, 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sim:
    server: SimServer
    belt: BeltSim
    client: AsyncModbusTcpClient

    async def read(self, address: int, count: int = 1) -> list[int]:
        r = await self.client.read_holding_registers(address, count=count)
        assert not r.isError(), r
        return list(r.registers)

    async def read1(self, address: int) -> int:
        return (await self.read(address))[0]

    async def signed(self, address: int) -> int:
        value = await self.read1(address)
        return value - 0x10000 if value & 0x8000 else value

    async def write(self, address: int, *values: int) -> None:
        """Function 0x10 (every personality takes it)."""
        r = await self.client.write_registers(address, list(values))
        assert not r.isError(), r

    async def write06(self, address: int, value: int) -> None:
        r = await self.client.write_register(address, value)
        assert not r.isError(), r

    def status(self) -> dict[str, Any]:
        return self.server.status()


@contextlib.asynccontextmanager
async def serving(personality: str) -> AsyncIterator[Sim]:
    belt = BeltSim(FAST_BELT, Panel())
    server = SimServer(load_map("generic"), belt, KMH_PER_HZ, personality=personality)
    port = free_port()
    await server.start_tcp("127.0.0.1", port)
    ticker = asyncio.create_task(server.tick_forever())
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
    await client.connect()
    try:
        yield Sim(server, belt, client)
    finally:
        client.close()
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        await server.stop()


async def refused(request: Any) -> int:
    """The exception code a request was answered with."""
    r = await request
    assert r.isError(), r
    return int(r.exception_code)


async def until(cond: Callable[[], bool], timeout_s: float = 1.0) -> None:
    end = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < end, "condition not reached"
        await asyncio.sleep(0.005)


async def until_read(
    sim: Sim, address: int, cond: Callable[[int], bool], timeout_s: float = 1.0
) -> int:
    end = time.monotonic() + timeout_s
    while True:
        value = await sim.read1(address)
        if cond(value):
            return value
        assert time.monotonic() < end, f"register {address:#06x} stuck at {value:#06x}"
        await asyncio.sleep(0.01)


async def quiet_until_comm_lost(sim: Sim) -> tuple[float, float]:
    """Say nothing until the drive's comm-loss action fires: (output, belt) km/h then."""
    await until(lambda: sim.belt.comm_lost, timeout_s=1.5)
    return sim.belt.output_kmh, sim.belt.speed_kmh


# -- selection --------------------------------------------------------------------------
def test_the_personality_comes_from_the_map_name_unless_told() -> None:
    belt = BeltSim(FAST_BELT, Panel())
    assert isinstance(make_drive_model(load_map("delta-ms300"), belt, 0.1, None), DeltaMs300)
    assert isinstance(make_drive_model(load_map("yaskawa-a1000"), belt, 0.1, None), YaskawaA1000)
    assert isinstance(make_drive_model(load_map("abb-acs355"), belt, 0.1, None), AbbAcs355)
    assert isinstance(make_drive_model(load_map("siemens-v20"), belt, 0.1, None), SiemensV20)
    assert isinstance(make_drive_model(load_map("generic"), belt, 0.1, None), DriveModel)
    assert isinstance(make_drive_model(load_map("delta-ms300"), belt, 0.1, "map"), DriveModel)
    assert isinstance(make_drive_model(load_map("generic"), belt, 0.1, "siemens-v20"), SiemensV20)
    with pytest.raises(ValueError, match="unknown drive personality"):
        make_drive_model(load_map("generic"), belt, 0.1, "acme-9000")


async def test_status_keeps_its_keys_and_says_the_drive_state() -> None:
    async with serving("abb-acs355") as sim:
        st = sim.status()
    for key in ("speed_kmh", "direction", "run", "reference_kmh", "fault_code", "ready",
                "watchdog_s", "estop_chain_ok", "key_present", "rails", "requests", "garbage",
                "garbled", "direction_changes", "commands_seen"):  # fmt: skip
        assert key in st
    assert st["comm_lost"] is False
    assert st["warning_code"] == 0
    assert st["drive_state"] == "switch-on inhibited"


# -- Delta MS300 ------------------------------------------------------------------------
async def test_delta_function_codes_and_addresses() -> None:
    async with serving("delta-ms300") as sim:
        c = sim.client
        assert await refused(c.read_input_registers(0x2100, count=1)) == ILLEGAL_FUNCTION
        assert await refused(c.readwrite_registers(read_address=0x2100, read_count=1,
                             write_address=0x2001, values=[0])) == ILLEGAL_FUNCTION  # fmt: skip
        assert await refused(c.read_holding_registers(0x3000, count=1)) == ILLEGAL_ADDRESS
        await sim.write06(0x2001, 1500)  # 06 is fine
        assert await sim.read1(0x2102) == 1500  # frequency command monitor
        # factory serial parameters on TCP: ASCII 7N2 at 9.6 kbit/s, 2.0 ms answer delay
        assert await sim.read(0x0900, 5) == [1, 96, 3, 0, 1]
        assert await sim.read1(0x0909) == 20


async def test_delta_status_bits_follow_the_actual_rotation() -> None:
    async with serving("delta-ms300") as sim:
        assert await sim.read1(0x2101) == 0  # stopped, forward
        await sim.write(0x2000, 0x0012, 3000)  # run forward, 30.00 Hz
        await until_read(sim, 0x2103, lambda hz: abs(hz - 3000) <= 5)
        assert await sim.read1(0x2101) == 0b00_011  # operating, FWD
        await sim.write06(0x2000, 0x0022)  # run reverse
        assert (await sim.read1(0x2101)) >> 3 & 3 == 0b10  # FWD -> REV
        await until_read(sim, 0x2101, lambda s: s == 0b11_011)  # operating, REV
        await sim.write06(0x2000, 0x0001)  # stop
        await until_read(sim, 0x2101, lambda s: s & 3 == 0)
        assert (await sim.read1(0x2101)) >> 3 & 3 == 0b11  # at rest after reverse


async def test_delta_fault_in_the_low_byte_and_reset_on_the_rising_edge() -> None:
    async with serving("delta-ms300") as sim:
        assert sim.server.apply("drive_trip", ["21"]) == "ok"
        assert await sim.read1(0x2100) == 21  # oL, warning byte clear
        assert sim.status()["fault_code"] == 21
        assert sim.status()["drive_state"] == "fault"
        await sim.write06(0x2002, 0x0002)  # rising edge of bit 1
        assert await sim.read1(0x2100) == 0
        sim.server.apply("drive_trip", ["21"])
        await sim.write06(0x2002, 0x0002)  # bit 1 still set: no edge, no reset
        assert await sim.read1(0x2100) == 21
        await sim.write06(0x2002, 0x0000)
        await sim.write06(0x2002, 0x0002)
        assert await sim.read1(0x2100) == 0


async def test_delta_comm_loss_with_p09_02_1_ramps_and_warns_ce10_in_the_high_byte() -> None:
    async with serving("delta-ms300") as sim:
        await sim.write(0x0902, 1, 3)  # P09-02 = 1 ramp + warn, P09-03 = 0.3 s
        assert sim.status()["watchdog_s"] == pytest.approx(0.3)
        await sim.write(0x2000, 0x0012, 3000)
        await until(lambda: sim.belt.speed_kmh > 2.9)
        output, _ = await quiet_until_comm_lost(sim)
        assert output > 0  # ramping, not coasting
        await until(lambda: sim.belt.speed_kmh == 0.0)
        st = sim.status()
        assert (st["comm_lost"], st["warning_code"], st["fault_code"]) == (True, 58, 0)
        assert await sim.read1(0x2100) == 58 << 8  # the first answer after the silence
        assert await sim.read1(0x2100) == 0  # telegrams again: the warning clears
        await sim.write06(0x2000, 0x0012)  # run: refused until a stop command
        await asyncio.sleep(0.1)
        assert sim.belt.speed_kmh == 0.0
        assert sim.status()["drive_state"] == "comm-loss stop"
        await sim.write06(0x2000, 0x0001)
        assert sim.status()["comm_lost"] is False
        await sim.write06(0x2000, 0x0012)
        await until(lambda: sim.belt.speed_kmh > 2.9)


async def test_delta_comm_loss_with_p09_02_2_trips_ce10_and_coasts() -> None:
    async with serving("delta-ms300") as sim:
        await sim.write(0x0902, 2, 3)
        await sim.write(0x2000, 0x0012, 3000)
        await until(lambda: sim.belt.speed_kmh > 2.9)
        output, speed = await quiet_until_comm_lost(sim)
        assert output == 0.0
        assert speed > 2.5
        assert await sim.read1(0x2100) == 58
        assert sim.status()["fault_code"] == 58


def test_delta_serial_parameters_match_the_rtu_link_served() -> None:
    delta = DeltaMs300(BeltSim(FAST_BELT, Panel()), KMH_PER_HZ)
    delta.serial_link(115200, "E")
    assert (delta.params[0x0901], delta.params[0x0904]) == (1152, 14)  # 8E1 RTU
    delta.serial_link(19200, "N")
    assert (delta.params[0x0901], delta.params[0x0904]) == (192, 12)


# -- Yaskawa A1000 ----------------------------------------------------------------------
async def test_yaskawa_refuses_function_06_and_long_writes() -> None:
    async with serving("yaskawa-a1000") as sim:
        c = sim.client
        assert await refused(c.write_register(0x0001, 0)) == ILLEGAL_FUNCTION
        assert await refused(c.read_input_registers(0x0020, count=1)) == ILLEGAL_FUNCTION
        assert await refused(c.readwrite_registers(read_address=0x0020, read_count=1,
                             write_address=0x0001, values=[0])) == ILLEGAL_FUNCTION  # fmt: skip
        assert await refused(c.write_registers(0x0001, [0] * 17)) == ILLEGAL_VALUE
        assert await refused(c.read_holding_registers(0x0600, count=1)) == ILLEGAL_ADDRESS
        assert sim.belt.commands_seen == 0  # nothing refused was acted on
        await sim.write(0x0001, 0)  # 0x10 with one register is the way
        assert await sim.read(0x0426, 2) == [3, 0]  # H5-02 9600, H5-03 no parity


async def test_yaskawa_runs_and_reports_status_bits() -> None:
    async with serving("yaskawa-a1000") as sim:
        assert await sim.read1(0x0020) == 0b0100  # ready
        await sim.write(0x0001, 0b01, 3000)
        await until_read(sim, 0x0024, lambda hz: abs(hz - 3000) <= 5)
        assert await sim.read1(0x0020) == 0b0101  # during run, ready
        assert await sim.read1(0x0023) == 3000
        await sim.write(0x0001, 0b10)  # reverse
        await until_read(sim, 0x0020, lambda s: s == 0b0111)
        await sim.write(0x0001, 0b11)  # both run bits: stop
        await until_read(sim, 0x0020, lambda s: s & 1 == 0)


async def test_yaskawa_fault_contents_are_a_bit_field_reset_only_without_run() -> None:
    async with serving("yaskawa-a1000") as sim:
        sim.server.apply("drive_trip", [str(0x0041)])  # oC and EF together
        assert await sim.read1(0x0021) == 0x0041
        assert await sim.read1(0x0020) & 0b1100 == 0b1000  # fault, not ready
        await sim.write(0x0001, 0b1001)  # reset with a run bit set: refused
        assert await sim.read1(0x0021) == 0x0041
        await sim.write(0x0001, 0)
        await sim.write(0x0001, 0b1000)
        assert await sim.read1(0x0021) == 0


async def test_yaskawa_h5_parameters_take_effect_only_after_enter() -> None:
    async with serving("yaskawa-a1000") as sim:
        await sim.write(0x0428, 0)  # H5-04 = 0: ramp to stop at CE
        await sim.write(0x0435, 3)  # H5-09 = 0.3 s
        assert await sim.read1(0x0428) == 0  # reads back at once ...
        assert await sim.read1(0x0435) == 3
        await sim.write(0x0001, 0b01, 3000)
        await until(lambda: sim.belt.speed_kmh > 2.9)
        await asyncio.sleep(0.5)  # ... but the old 2 s and "alarm only" are in effect
        assert not sim.belt.comm_lost
        assert sim.belt.speed_kmh > 2.9
        await sim.write(0x0910, 0)  # Enter (RAM)
        assert sim.status()["watchdog_s"] == pytest.approx(0.3)
        output, _ = await quiet_until_comm_lost(sim)
        assert output > 0
        assert sim.belt.comm_loss is not None
        assert sim.belt.comm_loss.stop is StopMode.RAMP
        await until(lambda: sim.belt.speed_kmh == 0.0)
        assert await sim.read1(0x0021) == 1 << 14  # CE
        assert await sim.read1(0x0020) & 0b1000
        await sim.write(0x0001, 0b1000)  # reset
        assert await sim.read1(0x0021) == 0
        assert sim.status()["comm_lost"] is False


async def test_yaskawa_factory_ce_action_is_an_alarm_that_keeps_running() -> None:
    async with serving("yaskawa-a1000") as sim:
        await sim.write(0x0435, 3)
        await sim.write(0x0900, 0)  # Enter (EEPROM)
        assert sim.status()["watchdog_s"] == 0.0  # armed, but its action does not stop
        await sim.write(0x0001, 0b01, 3000)
        await quiet_until_comm_lost(sim)
        await asyncio.sleep(0.1)
        assert sim.belt.speed_kmh > 2.9
        assert sim.status()["fault_code"] == 0
        assert sim.status()["warning_code"] == 1 << 14
        assert await sim.read1(0x0021) == 0  # no fault bit


# -- ABB ACS355 -------------------------------------------------------------------------
async def test_abb_function_codes_and_read_only_registers() -> None:
    async with serving("abb-acs355") as sim:
        c = sim.client
        assert await refused(c.read_input_registers(3, count=1)) == ILLEGAL_FUNCTION
        assert await refused(c.mask_write_register(address=0)) == ILLEGAL_FUNCTION
        assert await refused(c.read_holding_registers(6, count=1)) == ILLEGAL_ADDRESS
        assert await refused(c.write_register(3, 0)) == ILLEGAL_ADDRESS  # the status word
        r = await c.readwrite_registers(read_address=3, read_count=1, write_address=0,
                                        values=[0x047E])  # fmt: skip
        assert not r.isError()
        assert r.registers[0] & 0b100_0111 == 0b000_0001  # ready to switch on
        # factory: 1105 REF1 MAX 50.0 Hz, 3018 NOT SEL / 3019 3.0 s, 5310 ACT1 = 0103
        assert [await sim.read1(n - 1) for n in (1105, 3018, 3019, 5310, 9802)] == [
            500, 0, 30, 103, 1,
        ]  # fmt: skip


async def test_abb_state_machine_rdy_run_is_0_under_off1() -> None:
    async with serving("abb-acs355") as sim:
        sw = await sim.read1(3)
        assert sw & 0b111 == 0
        assert sw & 1 << 6
        await sim.write06(0, 0x047F)  # run without the OFF1 step first: nothing
        assert await sim.read1(3) & 1 << 6
        await sim.write06(0, 0x047E)
        assert await sim.read1(3) & 0b100_0111 == 0b000_0001  # RDY_ON only
        await sim.write(0, 0x047F, 12000)  # REF1 = 12000 of 20000 x 50 Hz = 30 Hz
        await until_read(sim, 102, lambda f: abs(f - 300) <= 1)  # 0103 in 0.1 Hz
        sw = await sim.read1(3)
        assert sw & 0b100_0111 == 0b111
        assert sw & 1 << 8
        assert sw & 1 << 9
        assert abs(await sim.read1(4) - 300) <= 1  # ACT1 = 0103, in 0.1 Hz: not 20000-scaled
        await sim.write06(0, 0x047E)  # OFF1
        sw = await sim.read1(3)
        assert sw & 0b100_0111 == 0b000_0001  # RDY_RUN 0 at once, while still ramping
        assert sim.status()["drive_state"] == "ready to switch on"
        await until(lambda: sim.belt.speed_kmh == 0.0)


async def test_abb_off3_inhibits_switch_on_until_047e_and_reverse_is_negative() -> None:
    async with serving("abb-acs355") as sim:
        await sim.write06(0, 0x047E)
        await sim.write(0, 0x047F, (-12000) & 0xFFFF)  # 1003 = 3 REQUEST: reverse
        await until_read(sim, 102, lambda f: f == (-300) & 0xFFFF)
        assert abs(await sim.signed(100) + 900) <= 3  # 0101 SPEED & DIR, rpm, signed
        assert abs(await sim.read1(101) - 900) <= 3  # 0102 SPEED, rpm
        await sim.write06(0, 0x047B)  # OFF3: emergency ramp
        sw = await sim.read1(3)
        assert sw & 0b111 == 0
        assert sw & 1 << 6
        assert not sw & 1 << 5
        await until(lambda: sim.belt.speed_kmh == 0.0)
        await sim.write06(0, 0x047F)
        assert await sim.read1(3) & 1 << 6  # still inhibited
        await sim.write06(0, 0x047E)
        await sim.write06(0, 0x047F)
        assert await sim.read1(3) & 0b111 == 0b111


async def test_abb_fault_coasts_and_the_reset_edge_leaves_switch_on_inhibited() -> None:
    async with serving("abb-acs355") as sim:
        await sim.write06(0, 0x047E)
        await sim.write(0, 0x047F, 12000)
        await until(lambda: sim.belt.speed_kmh > 2.9)
        sim.server.apply("drive_trip", ["14"])
        await asyncio.sleep(0.05)
        assert sim.belt.output_kmh == 0.0  # a trip cuts the output: the belt coasts
        assert sim.belt.speed_kmh > 2.5
        sw = await sim.read1(3)
        assert sw & 0b1111 == 0b1000  # tripped, not ready
        assert await sim.read1(400) == 14  # 0401
        assert sim.status()["drive_state"] == "fault"
        await sim.write06(0, 0x04FE)  # reset edge
        assert await sim.read1(400) == 0
        assert await sim.read1(3) & 0b100_1111 == 0b100_0000  # switch-on inhibited
        await sim.write06(0, 0x047E)
        assert await sim.read1(3) & 0b100_0111 == 0b000_0001


async def test_abb_comm_fault_func_1_trips_28_and_coasts() -> None:
    async with serving("abb-acs355") as sim:
        await sim.write(3017, 1, 3)  # 3018 = 1 FAULT, 3019 = 0.3 s
        await sim.write06(0, 0x047E)
        await sim.write(0, 0x047F, 12000)
        await until(lambda: sim.belt.speed_kmh > 2.9)
        output, speed = await quiet_until_comm_lost(sim)
        assert output == 0.0
        assert speed > 2.5
        assert sim.status()["fault_code"] == 28
        assert await sim.read1(400) == 28
        assert await sim.read1(3) & 1 << 3


def test_abb_serial_parameters_match_the_rtu_link_served() -> None:
    abb = AbbAcs355(BeltSim(FAST_BELT, Panel()), KMH_PER_HZ)
    abb.serial_link(38400, "E")
    assert (abb.par(5303), abb.par(5304)) == (384, 2)


# -- Siemens V20 ------------------------------------------------------------------------
async def test_v20_function_codes() -> None:
    async with serving("siemens-v20") as sim:
        c = sim.client
        assert await refused(c.read_input_registers(109, count=1)) == ILLEGAL_FUNCTION
        assert await refused(c.readwrite_registers(read_address=109, read_count=1,
                             write_address=99, values=[0x047E])) == ILLEGAL_FUNCTION  # fmt: skip
        assert await refused(c.read_holding_registers(200, count=1)) == ILLEGAL_ADDRESS
        assert await refused(c.write_register(109, 0)) == ILLEGAL_ADDRESS


async def test_v20_zsw_bit_14_is_forward_and_hiw_is_negative_in_reverse() -> None:
    async with serving("siemens-v20") as sim:
        zsw = await sim.read1(109)
        assert zsw & 1 << 6
        assert zsw & 0b111 == 0
        await sim.write06(99, 0x047E)
        assert await sim.read1(109) & 0b100_0111 == 0b000_0001  # RDY_RUN = 0 under OFF1
        await sim.write(99, 0x047F, 9830)  # 9830 / 16384 x 50 Hz = 30 Hz
        await until_read(sim, 110, lambda hiw: abs(hiw - 9830) <= 10)
        zsw = await sim.read1(109)
        assert zsw & 0b111 == 0b111
        assert zsw & 1 << 14
        await sim.write06(99, 0x0C7F)  # setpoint inverted: reverse
        await until_read(sim, 110, lambda hiw: abs(hiw - ((-9830) & 0xFFFF)) <= 10)
        assert not await sim.read1(109) & 1 << 14
        await sim.write06(99, 0x047E)
        assert not await sim.read1(109) & 1 << 1  # RDY_RUN 0 at once
        await until(lambda: sim.belt.speed_kmh == 0.0)
        assert not await sim.read1(109) & 1 << 14  # at rest after reverse


async def test_v20_fault_number_and_acknowledge_edge() -> None:
    async with serving("siemens-v20") as sim:
        sim.server.apply("drive_trip", ["2"])
        assert await sim.read1(399) == 2  # F2 over-voltage
        assert await sim.read1(109) & 0b1111 == 0b1000
        await sim.write06(99, 0x04FE)
        assert await sim.read1(399) == 0
        assert await sim.read1(109) & 1 << 6


async def test_v20_watchdog_action_1_ramps_with_f72() -> None:
    async with serving("siemens-v20") as sim:
        await sim.write(0, 300, 1)  # 40001 = 300 ms, 40002 = 1 (OFF1 with F72)
        await sim.write06(99, 0x047E)
        await sim.write(99, 0x047F, 9830)
        await until(lambda: sim.belt.speed_kmh > 2.9)
        output, _ = await quiet_until_comm_lost(sim)
        assert output > 0  # ramping
        assert sim.status()["fault_code"] == 72
        assert await sim.read1(399) == 72


def test_abb_off3_repeated_every_cycle_keeps_the_emergency_ramp() -> None:
    belt = BeltSim(FAST_BELT, Panel())
    abb = AbbAcs355(belt, KMH_PER_HZ)
    abb.control(0x047E, 0.0)
    abb.ref1 = 12000
    abb.control(0x047F, 0.0)
    assert belt.run
    for _ in range(3):  # a controller repeats its word every cycle
        abb.control(0x047B, 0.0)
        assert belt.quick_stop
        assert not belt.run
    abb.control(0x047C, 0.0)  # OFF2: coast
    assert belt.coast
    abb.control(0x047E, 0.0)
    abb.control(0x047F, 0.0)
    assert not belt.coast
    assert belt.run
