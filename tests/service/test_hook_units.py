"""The notify client, the watchdog pinger on a virtual clock, and the status line."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from treadctl.control.loop import LoopSnapshot
from treadctl.safety.types import Decel, Direction, DriveStatus, Mode, Reason, SafetyOutputs
from treadctl.service.hook import ServiceHook, chain_cycle, status_text
from treadctl.service.notify import Notifier, notify_address, watchdog_interval_s


def receiver(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    return sock


def drain(sock: socket.socket) -> list[str]:
    out: list[str] = []
    while True:
        try:
            out.append(sock.recv(8192).decode())
        except BlockingIOError:
            return out


def test_address_forms() -> None:
    assert notify_address("/run/systemd/notify") == "/run/systemd/notify"
    assert notify_address("@abstract/name") == b"\0abstract/name"
    for refused in (None, "", "@", "relative/path", "vsock:2:1234", "/" + "x" * 200, "/a\0b"):
        assert notify_address(refused) is None, refused


def test_a_path_socket_gets_one_datagram_per_send(short_dir: Path) -> None:
    sock = receiver(short_dir / "n")
    n = Notifier.from_env({"NOTIFY_SOCKET": str(short_dir / "n")})
    assert n.send("READY=1")
    assert n.send("STATUS=latched: power-on")
    assert drain(sock) == ["READY=1", "STATUS=latched: power-on"]
    assert (n.sent, n.errors) == (2, 0)
    n.close()
    sock.close()


def test_the_abstract_namespace() -> None:
    name = f"treadctl-test-{os.getpid()}-{time.monotonic_ns()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.setblocking(False)
    n = Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
    assert n.send("WATCHDOG=1")
    assert drain(sock) == ["WATCHDOG=1"]
    sock.close()
    n.close()


def test_a_missing_socket_is_counted_never_raised(short_dir: Path) -> None:
    n = Notifier.from_env({"NOTIFY_SOCKET": str(short_dir / "gone")})
    assert n.enabled
    assert not n.send("READY=1")
    assert (n.sent, n.errors) == (0, 1)
    n.close()


def test_a_full_receiver_never_blocks_the_sender(short_dir: Path) -> None:
    """systemd not reading: sends return at once (EAGAIN counted), nothing hangs."""
    sock = receiver(short_dir / "n")
    n = Notifier.from_env({"NOTIFY_SOCKET": str(short_dir / "n")})
    started = time.monotonic()
    for _ in range(5000):
        n.send("WATCHDOG=1")
    elapsed = time.monotonic() - started
    print(f"\n5000 sends to a full socket: {elapsed * 1e3:.1f} ms, {n.errors} refused")
    assert n.errors > 0  # the queue filled: had a send waited, this loop would hang
    assert n.sent + n.errors == 5000
    assert len(drain(sock)) == n.sent
    n.close()
    sock.close()


def test_oversized_and_empty_messages_are_refused(short_dir: Path) -> None:
    sock = receiver(short_dir / "n")
    n = Notifier.from_env({"NOTIFY_SOCKET": str(short_dir / "n")})
    assert not n.send("STATUS=" + "x" * 5000)
    assert not n.send("")
    assert (n.sent, n.errors) == (0, 2)
    assert drain(sock) == []
    n.close()
    sock.close()
    assert not Notifier(None).enabled
    assert not Notifier(None).send("READY=1")


def test_watchdog_interval_from_the_environment() -> None:
    me = os.getpid()
    assert watchdog_interval_s({"WATCHDOG_USEC": "3000000"}) == 1.5
    assert watchdog_interval_s({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(me)}) == 1.5
    # a watchdog meant for another process (our parent's, say) is not ours to feed
    assert watchdog_interval_s({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(me + 1)}) is None
    for bad in ("", "0", "-5", "1e6", "nan", "inf", " 100", "9" * 20):
        assert watchdog_interval_s({"WATCHDOG_USEC": bad}) is None, bad
    assert watchdog_interval_s({"WATCHDOG_USEC": "100", "WATCHDOG_PID": "x"}) is None
    assert watchdog_interval_s({}) is None


def snapshot(mode: Mode, reasons: tuple[Reason, ...], speed_kmh: float, index: int) -> LoopSnapshot:
    out = SafetyOutputs(
        drive_enable=mode is Mode.RUNNING,
        direction=Direction.FORWARD,
        speed_cap_kmh=5.0,
        static_cap_kmh=5.0,
        target_kmh=speed_kmh,
        decel=Decel.NORMAL,
        mode=mode,
        reasons=reasons,
        at_standstill=speed_kmh == 0.0,
    )
    snap = LoopSnapshot(outputs=out, setpoint_kmh=speed_kmh, segment_index=index)
    snap.drive = DriveStatus(True, 0, speed_kmh, Direction.FORWARD) if speed_kmh >= 0 else None
    return snap


def test_status_lines() -> None:
    assert status_text(LoopSnapshot(), 5) == "starting"
    latched = snapshot(Mode.FAULTED, (Reason.POWER_ON,), 0.0, 0)
    assert status_text(latched, 5) == "latched: power-on, belt 0.0 km/h"
    assert (
        status_text(snapshot(Mode.RUNNING, (), 2.5, 1), 5) == "running segment 2/5, belt 2.5 km/h"
    )
    estop = snapshot(Mode.FAULTED, (Reason.ESTOP_CHAIN_OPEN,), 1.2, 1)
    assert status_text(estop, 5) == "latched: estop-chain-open, belt 1.2 km/h"
    nan = snapshot(Mode.RUNNING, (), float("nan"), 0)
    assert status_text(nan, 5) == "running segment 1/5, belt speed unknown"


class Recorder(Notifier):
    """A notifier that keeps what it would send (the socket itself is tested above)."""

    def __init__(self) -> None:
        super().__init__(None)
        self.messages: list[str] = []

    @property
    def enabled(self) -> bool:
        return True

    def send(self, message: str) -> bool:
        self.messages.append(message)
        return True


def test_pings_only_when_cycles_complete_on_a_virtual_clock() -> None:
    """The pinger has no timer of its own: no cycle, no ping, however long it has been."""
    rec = Recorder()
    snap = snapshot(Mode.FAULTED, (Reason.POWER_ON,), 0.0, 0)
    hook = ServiceHook(rec, watchdog_s=1.5, snapshot=lambda: snap, segments=3)
    period_s = 0.02
    now = 100.0
    for _ in range(500):  # 10 s of 50 Hz cycles
        hook.on_cycle(now)
        now += period_s
    pings = rec.messages.count("WATCHDOG=1")
    assert rec.messages[0] == "READY=1\nSTATUS=latched: power-on, belt 0.0 km/h"
    assert pings == 7  # t = 0, 1.5, 3.0, ... 9.0: never more often than every 1.5 s
    # the loop stalls for 60 s: no cycles, so no pings (systemd kills at 3 s)
    before = len(rec.messages)
    now += 60.0
    assert len(rec.messages) == before
    hook.on_cycle(now)  # a cycle completes again: at once a ping
    assert rec.messages[before:] == ["WATCHDOG=1"]
    assert rec.messages.count("READY=1") == 0  # READY once, in the first message only


def test_status_is_rate_limited_and_sent_on_change() -> None:
    rec = Recorder()
    snap = snapshot(Mode.FAULTED, (Reason.POWER_ON,), 0.0, 0)
    hook = ServiceHook(rec, watchdog_s=None, snapshot=lambda: snap, segments=3)
    now = 0.0
    for _ in range(100):  # 2 s, nothing changes: only READY's status
        hook.on_cycle(now)
        now += 0.02
    assert [m for m in rec.messages if m.startswith("STATUS=")] == []
    snap = snapshot(Mode.RUNNING, (), 1.0, 1)
    for _ in range(100):  # 2 s running with the speed changing every cycle
        snap = snapshot(Mode.RUNNING, (), 1.0 + now, 1)
        hook.on_cycle(now)
        now += 0.02
    statuses = [m for m in rec.messages if m.startswith("STATUS=")]
    assert 1 <= len(statuses) <= 3  # at most one a second, not 50
    assert statuses[0].startswith("STATUS=running segment 2/3")
    assert "WATCHDOG=1" not in rec.messages  # no WATCHDOG_USEC: no pings


def test_a_bug_in_the_hook_never_reaches_the_loop() -> None:
    def broken() -> LoopSnapshot:
        raise RuntimeError("bug")

    hook = ServiceHook(Recorder(), watchdog_s=1.0, snapshot=broken)
    hook.on_cycle(0.0)  # must not raise
    assert hook.errors == 1


def test_stopping_is_one_line_of_status() -> None:
    rec = Recorder()
    ServiceHook(rec, None).stopping("ended:\nstopped by signal")
    assert rec.messages == ["STOPPING=1\nSTATUS=ended: stopped by signal"]


def test_chain_keeps_the_scenario_hook_first() -> None:
    calls: list[str] = []
    both = chain_cycle(lambda _t: calls.append("scenario"), lambda _t: calls.append("service"))
    assert both is not None
    both(1.0)
    assert calls == ["scenario", "service"]
    only: list[float] = []
    assert chain_cycle(None, only.append) == only.append
    assert chain_cycle(None, None) is None


@pytest.mark.parametrize("env", [{}, {"NOTIFY_SOCKET": "relative"}])
def test_no_socket_no_hook_work(env: dict[str, str]) -> None:
    hook = ServiceHook.from_env(env)
    assert not hook.enabled
    hook.on_cycle(0.0)
    hook.stopping("x")
    assert not hook.ready
