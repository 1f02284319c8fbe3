"""`treadctl drive probe` in commissioning terms, against the drives' simulated personalities.

Each real drive comes from the factory as its manual says (/tmp/issue11-spec.md,
docs/drives.md "Commissioning"): Yaskawa H5-04 = 3 (CE alarm only, keep running), ABB
3018 = 0 (NOT SEL), Delta P09-02 = 3 with P09-03 = 0 and Modbus ASCII (P09-04 = 1),
V20 with its Modbus watchdog off. The probe must flag each, read every [[commission]]
parameter, say when the drive's baud cannot carry the loop rate, report a parameter the
drive does not have and go on, and write nothing.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from rigs import KMH_PER_HZ, free_port  # type: ignore[import-not-found]

from treadctl.config.loader import load_model
from treadctl.config.machine import LoopConfig, MachineConfig, SerialLink, SimBelt, TcpLink
from treadctl.drives.modbus import cycle_transfers
from treadctl.drives.probe import ProbeContext, Readings, machine_context, probe, report
from treadctl.drives.regmap import BUILTIN_MAPS, CommissionParam, RegisterMap, load_map
from treadctl.drives.wire import rtu_cycle
from treadctl.sim.server import SimServer
from treadctl.sim.world import BeltSim, Panel

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "drives.md"
SIM_MACHINE = ROOT / "src/treadctl/samples/machines" / "sim.toml"
REAL = ("delta-ms300", "yaskawa-a1000", "abb-acs355", "siemens-v20")
BAUD = 115200
TIMEOUT_S = 0.2

# What each drive's factory comm-loss setting looks like in the probe's findings.
FACTORY_FLAGS = {
    "delta-ms300": [
        "comm-loss time 0: the drive's own comm-loss stop is off",
        "comm-loss action P09-02 = 3 (no warning, keep running) does NOT stop the belt",
    ],
    "yaskawa-a1000": [
        "comm-loss action H5-04 = 3 (CE alarm only, keep running) does NOT stop the belt",
    ],
    "abb-acs355": ["comm-loss action 3018 = 0 (NOT SEL: keep running) does NOT stop the belt"],
    "siemens-v20": [
        "comm-loss time 0: the drive's own comm-loss stop is off",
        "comm-loss action 40002 = 0 (none: keep running) does NOT stop the belt",
    ],
}
# Command and reference sources the factories leave on the keypad or terminals.
FACTORY_SOURCES = {
    "delta-ms300": ["P00-20 (frequency command source) is 0", "P00-21 (operation command"],
    "yaskawa-a1000": ["b1-01 (frequency reference source) is 1", "b1-02 (run command source) is 1"],
    "abb-acs355": ["1001 (EXT1 COMMANDS: 10 = COMM) is 2: SET TO 10", "1103 (REF1 SELECT"],
    "siemens-v20": [],
}


@asynccontextmanager
async def served(
    regmap: RegisterMap, pty: tuple[str, str] | None = None
) -> AsyncIterator[tuple[SimServer, TcpLink | SerialLink]]:
    """The simulated drive behind `regmap`'s name, over TCP or RTU on a pty pair."""
    server = SimServer(regmap, BeltSim(SimBelt(person_load_kmh=0.0), Panel()), KMH_PER_HZ)
    link: TcpLink | SerialLink
    if pty is None:
        port = free_port()
        await server.start_tcp("127.0.0.1", port)
        link = TcpLink(kind="tcp", host="127.0.0.1", port=port, timeout_s=TIMEOUT_S)
    else:
        await server.start_rtu(pty[0], BAUD)
        # 8N1: a pty refuses parity settings; the drive's serial parameters follow the link
        link = SerialLink(kind="rtu", port=pty[1], baudrate=BAUD, parity="N", timeout_s=TIMEOUT_S)
    try:
        yield server, link
    finally:
        await server.stop()


async def run_probe(
    regmap: RegisterMap, pty: tuple[str, str] | None = None, rate_hz: float = 50.0
) -> tuple[list[str], list[str]]:
    """(every line, the findings) of a probe, and that the probe wrote nothing."""
    async with served(regmap, pty) as (server, link):
        before = (dict(server.model.params), server.model.word, server.belt.commands_seen)
        ctx = ProbeContext(link, 1, KMH_PER_HZ, LoopConfig(rate_hz=rate_hz))
        lines = await probe(link, regmap, 1, KMH_PER_HZ, ctx)
        after = (dict(server.model.params), server.model.word, server.belt.commands_seen)
    assert before == after, "the probe wrote to the drive"
    assert not any(line.startswith("  error:") for line in lines), "\n".join(lines)
    return lines, [line[4:] for line in lines if line.startswith("  ! ")]


def row(lines: list[str], name: str) -> str:
    found = [line for line in lines if re.match(rf"  {re.escape(name)} ", line)]
    assert len(found) == 1, f"no single row for {name} in:\n" + "\n".join(lines)
    return found[0]


@pytest.mark.parametrize("map_name", REAL)
async def test_factory_settings_are_flagged_over_tcp(map_name: str) -> None:
    regmap = load_map(map_name)
    lines, findings = await run_probe(regmap)
    text = "\n".join(findings)
    for flag in FACTORY_FLAGS[map_name] + FACTORY_SOURCES[map_name]:
        assert flag in text, f"{flag!r} not in the findings:\n{text}"
    for p in regmap.commission:  # every parameter read, judged when the map says how
        line = row(lines, p.name)
        assert "not readable" not in line
        assert ("[unverified]" in line) == p.unverified
        if p.expect:
            assert "OK" in line or "SET TO" in line


async def test_delta_ships_modbus_ascii_and_the_probe_says_so() -> None:
    lines, findings = await run_probe(load_map("delta-ms300"))  # over TCP: the factory 1
    assert "Modbus ASCII: treadctl speaks RTU" in row(lines, "P09-04")
    assert any(
        f.startswith("P09-04") and "Modbus ASCII: treadctl speaks RTU" in f for f in findings
    )


def carries_hz(regmap: RegisterMap, lines: list[str], baud: int) -> int:
    """The highest loop rate the drive's serial setting carries, computed here from the
    answer delay the probe read (wire.rtu_cycle, as the controller's start-up check)."""
    delay_s = 0.002  # the link's default response_delay_s when the map has no delay
    delay = next((p for p in regmap.commission if p.role == "answer_delay"), None)
    if delay is not None:
        delay_s = int(row(lines, delay.name).split()[1]) * delay.unit_s
    reads, writes = cycle_transfers(regmap)
    cycle = rtu_cycle(baud, delay_s, reads, writes, [], regmap.single_write_function)
    return int(cycle.max_rate_hz(LoopConfig().wire_budget_fraction))


@pytest.mark.parametrize("map_name", REAL)
async def test_over_rtu_the_drive_baud_is_the_links(
    map_name: str, pty_pair: tuple[str, str]
) -> None:
    regmap = load_map(map_name)
    lines, findings = await run_probe(regmap, pty_pair)
    text = "\n".join(lines)
    for flag in FACTORY_FLAGS[map_name]:  # the comm-loss setting is what the factory set
        assert flag in "\n".join(findings)
    assert not any("set one to the other" in f for f in findings), text
    assert not any("Modbus ASCII" in f for f in findings), text  # Delta: P09-04 RTU 8N1
    baud = next((p for p in regmap.commission if p.role == "baud"), None)
    if baud is not None:
        assert f"{BAUD} baud ({baud.name})" in text
        assert f"= {BAUD} baud" in row(lines, baud.name)
    best = carries_hz(regmap, lines, BAUD)
    assert f"{BAUD} baud carries at most {best} Hz" in text
    # flagged exactly when the cycle does not fit; the Yaskawa at its factory 5 ms transmit
    # wait (the least it takes) does not carry 50 Hz even at 115200 baud
    slow = any(f.startswith("serial setting too slow") for f in findings)
    assert slow == (best < 50), text
    if map_name == "yaskawa-a1000":
        assert slow


@pytest.mark.parametrize("map_name", REAL)
async def test_a_baud_too_slow_for_the_loop_rate_is_flagged_with_the_rate_it_carries(
    map_name: str, pty_pair: tuple[str, str]
) -> None:
    regmap = load_map(map_name)
    lines, findings = await run_probe(regmap, pty_pair, rate_hz=400.0)
    best = carries_hz(regmap, lines, BAUD)
    assert best < 400
    slow = [f for f in findings if f.startswith("serial setting too slow for the loop")]
    assert len(slow) == 1, "\n".join(lines)
    assert f"400 Hz allows 1.9 ms: at most {best} Hz at this baud rate" in slow[0]
    assert f"{BAUD} baud carries at most {best} Hz" in "\n".join(lines)


async def test_the_factory_9600_baud_cannot_carry_50_hz() -> None:
    # Over TCP the drive's own RS-485 setting is read as the factory left it: 9600 baud.
    for map_name in ("delta-ms300", "yaskawa-a1000", "abb-acs355"):
        lines, findings = await run_probe(load_map(map_name))
        assert any(f.startswith("serial setting too slow") and "9600 baud" in f for f in findings)
        assert "9600 baud carries at most" in "\n".join(lines)


async def test_an_unreadable_parameter_is_reported_and_the_probe_goes_on(
    pty_pair: tuple[str, str],
) -> None:
    regmap = load_map("yaskawa-a1000")
    missing = CommissionParam(name="X9-99", address=0x7FF0, what="a parameter it lacks")
    regmap = regmap.model_copy(update={"commission": [missing, *regmap.commission]})
    for pty in (None, pty_pair):
        lines, findings = await run_probe(regmap, pty)
        assert "not readable (exception 02" in row(lines, "X9-99")
        for p in regmap.commission[1:]:  # every parameter after it still read
            assert "not read" not in row(lines, p.name)
        assert any("H5-04 = 3" in f for f in findings)


@pytest.mark.parametrize("map_name", ["siemens-v20", "generic"])
async def test_a_map_without_commissioning_parameters_says_what_to_set_at_the_panel(
    map_name: str,
) -> None:
    regmap = load_map(map_name)
    lines, _ = await run_probe(regmap)
    text = "\n".join(lines)
    assert f"the {map_name} map has no parameters to read; set at the panel:" in text
    assert regmap.commission_notes
    for note in regmap.commission_notes:
        assert f"  - {note}" in text
    if map_name == "siemens-v20":
        for point in ("P2023 = 2", "P2010", "P2021", "P2014"):
            assert point in text


def test_a_drive_baud_other_than_the_links_is_reported() -> None:
    regmap = load_map("delta-ms300")
    link = SerialLink(kind="rtu", port="/dev/null", baudrate=BAUD, parity="E")
    r = Readings(monitor=(0, 0, 0, 0), values={0x0901: 192, 0x0909: 20})
    lines = report(regmap, ProbeContext(link, 1, KMH_PER_HZ), r)
    assert (
        "  ! P09-01: the drive is set to 19200 baud, the link runs at 115200: set one to the other"
    ) in lines


def test_a_machine_file_gives_the_link_the_loop_rate_and_the_inputs_on_the_drive_bus(
    tmp_path: Path,
) -> None:
    machine = tmp_path / "machine.toml"
    drive = (
        '[drive]\nkind = "modbus"\nmap = "abb-acs355"\nkmh_per_hz = 0.12\ndevice_id = 3\n'
        '[drive.link]\nkind = "rtu"\nport = "/dev/ttyUSB9"\nbaudrate = 57600\n'
        '[safety_inputs]\nkind = "modbus"\nlink = "drive"\n'
    )
    machine.write_text(_with_drive(SIM_MACHINE.read_text(), drive))
    cfg = load_model(machine, MachineConfig)
    ctx, map_name = machine_context(cfg, str(machine), rate_hz=20.0)
    assert map_name == "abb-acs355"
    assert isinstance(ctx.link, SerialLink)
    assert ctx.link.baudrate == 57600
    assert (ctx.device_id, ctx.kmh_per_hz, ctx.loop.rate_hz) == (3, 0.12, 20.0)
    assert ctx.input_reads == (4,)  # inputs 0-3, read with the drive's every cycle
    r = Readings(monitor=(0x0231, 0, 0, 0), values={5302: 576, 5317: 0})
    lines = report(load_map(map_name), ctx, r)
    assert "                 (5 transactions: drive and safety inputs)" in lines


async def test_cli_probe_with_a_machine_file(tmp_path: Path) -> None:
    regmap = load_map("abb-acs355")
    async with served(regmap) as (_server, link):
        assert isinstance(link, TcpLink)
        machine = tmp_path / "machine.toml"
        base = SIM_MACHINE.read_text()
        drive = (
            '[drive]\nkind = "modbus"\nmap = "abb-acs355"\nkmh_per_hz = 0.12\n'
            f'[drive.link]\nkind = "tcp"\nhost = "127.0.0.1"\nport = {link.port}\n'
        )
        machine.write_text(_with_drive(base, drive).replace("rate_hz = 50", "rate_hz = 25"))
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "treadctl.cli", "drive", "probe", "--machine", str(machine)],
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    assert "at 0.12 km/h per Hz" in done.stdout
    assert "25 Hz allows 30.0 ms" in done.stdout
    assert "3018 = 0 (NOT SEL: keep running) does NOT stop the belt" in done.stdout


def _with_drive(machine_text: str, drive: str) -> str:
    """The simulator's machine file with a Modbus drive instead of the simulated one."""
    start = machine_text.index("[drive]")
    end = machine_text.index("[loop]")
    return machine_text[:start] + drive + "\n" + machine_text[end:]


def test_every_unverified_point_of_every_map_is_listed_in_the_docs() -> None:
    docs = " ".join(DOCS.read_text(encoding="utf-8").split())
    missing = [
        f"{name}: {point}"
        for name in BUILTIN_MAPS
        for point in load_map(name).unverified
        if " ".join(point.split()) not in docs
    ]
    assert not missing, "docs/drives.md lacks these unverified points:\n" + "\n".join(missing)


def test_an_answer_delay_longer_than_the_machine_files_is_reported() -> None:
    regmap = load_map("yaskawa-a1000")
    link = SerialLink(kind="rtu", port="/dev/ttyUSB0", baudrate=BAUD, parity="E")
    r = Readings(monitor=(0x0004, 0, 0, 0), values={0x0426: 8, 0x042A: 5})
    with_machine = ProbeContext(link, 1, KMH_PER_HZ, LoopConfig(rate_hz=25), (), "m.toml")
    lines = report(regmap, with_machine, r)
    assert (
        "  ! H5-06: the drive waits 5 ms before answering, the machine file's response_delay_s "
        "is 2 ms: the wire budget check at start counts too little; set it to at least 0.005"
    ) in lines
    assert not any("H5-06:" in line for line in report(regmap, ProbeContext(link, 1, 0.1), r))


def test_the_wire_budget_table_in_the_docs_is_what_the_check_at_start_computes() -> None:
    # map -> the answer delay the table assumes (the drive's factory value)
    delays = {
        "delta-ms300": 0.002,
        "yaskawa-a1000": 0.005,
        "abb-acs355": 0.0,
        "siemens-v20": 0.002,
        "generic": 0.002,
    }
    rows = re.findall(
        r"^\| ([a-z0-9-]+) \(.*?\) \| (\d+) \| .*?at most (\d+) Hz \| .*?at most (\d+) Hz \|$",
        DOCS.read_text(encoding="utf-8"),
        re.MULTILINE,
    )
    assert sorted(r[0] for r in rows) == sorted(delays)
    for name, transactions, slow_hz, fast_hz in rows:
        regmap = load_map(name)
        reads, writes = cycle_transfers(regmap)
        for baud, hz in ((19200, slow_hz), (115200, fast_hz)):
            cycle = rtu_cycle(baud, delays[name], reads, writes, [4], regmap.single_write_function)
            assert (cycle.transactions, int(hz)) == (
                int(transactions),
                int(cycle.max_rate_hz(LoopConfig().wire_budget_fraction)),
            ), f"{name} at {baud} baud"
