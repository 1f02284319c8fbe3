"""Property-based fuzzing of the socket's lines against one real controller (issue 17).

The controller runs in a thread of its own (its own event loop, its real socket);
hypothesis sends it generated hostile lines over blocking sockets. Every example ends
with a pause on the same connection, which must be answered: the stop path survives
whatever came before it. After all examples the controller is alive and its loop
skipped no deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from api_fixtures import PROFILE, ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from treadctl.app import load_session
from treadctl.clock import MonotonicClock
from treadctl.serve import Controller
from treadctl.store.eventlog import EventLog

PAUSE_ID = 424242


@dataclass
class Threaded:
    controller: Controller
    socket: Path
    thread: threading.Thread
    events: EventLog
    errors: list[BaseException]


@pytest.fixture(scope="module")
def threaded() -> Iterator[Threaded]:
    tmp = Path(tempfile.mkdtemp(prefix="tf-", dir="/tmp"))
    (tmp / "profile.toml").write_text(PROFILE)
    files = load_session(
        ROOT / "src/treadctl/samples/machines/sim.toml",
        tmp / "profile.toml",
        ROOT / "src/treadctl/samples/patients/demo.toml",
    )
    events = EventLog(tmp / "events.jsonl")
    controller = Controller(files, MonotonicClock(), events, tmp / "c.sock")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(controller.run())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="controller", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not (tmp / "c.sock").exists():
        assert time.monotonic() < deadline, "the controller did not open its socket"
        time.sleep(0.02)
    yield Threaded(controller, tmp / "c.sock", thread, events, errors)
    if controller.api is not None:
        controller.api.loop.request_quit("test teardown")
    thread.join(30)
    events.close()
    shutil.rmtree(tmp, ignore_errors=True)


_leaf = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
_json_value = st.recursive(
    _leaf, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4)
)
# "stop" is left out of the generated actions: a valid stop ends the session.
_action = st.sampled_from(["start", "pause", "reset", "speed", "speed_step", "quit", "launch", ""])
_message = st.fixed_dictionaries(
    {"type": st.sampled_from(["hello", "heartbeat", "command", "sim", "status", "x"])},
    optional={
        "id": st.integers() | st.floats(allow_nan=True) | st.text(max_size=4),
        "action": _action,
        "speed_kmh": st.floats(allow_nan=True, allow_infinity=True) | st.integers(),
        "steps": st.integers(),
        "input": st.sampled_from(["estop", "key", "drive_fault", "heart_rate", "boiler"]),
        "value": st.floats(allow_nan=True, allow_infinity=True),
        "role": st.sampled_from(["operator", "observer", "god"]),
        "client": st.text(max_size=80),
        "protocol": st.integers(),
        "extra": _json_value,
    },
)


def _dumps(value: object, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only, allow_nan=True).encode(
        "utf-8", "surrogatepass"
    )


_line = st.one_of(
    st.binary(max_size=300),
    st.tuples(_json_value, st.booleans()).map(lambda v: _dumps(*v)),
    st.tuples(_message, st.booleans()).map(lambda v: _dumps(*v)),
    st.integers(5, 20_000).map(lambda n: b"[" * n),
    st.integers(4000, 40_000).map(lambda n: b'{"type":"hello","client":"' + b"a" * n + b'"}'),
    st.sampled_from([b"\xef\xbb\xbf{}", '{"type":"heartbeat"}'.encode("utf-32"), b"NaN"]),
).map(lambda b: b.replace(b"\n", b" "))


def _exchange(path: Path, lines: list[bytes]) -> list[dict[str, object]]:
    """Send hello, the lines and a pause; read until the pause is answered."""
    pause = json.dumps({"type": "command", "id": PAUSE_ID, "action": "pause"}).encode()
    payload = b'{"type":"hello","client":"fuzz"}\n' + b"".join(x + b"\n" for x in lines)
    seen: list[dict[str, object]] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(15)
        s.connect(str(path))
        s.sendall(payload + pause + b"\n")
        buf = b""
        while not any(m.get("type") == "reply" and m.get("id") == PAUSE_ID for m in seen):
            chunk = s.recv(1 << 16)
            assert chunk, f"the controller closed the connection: {seen[-3:]}"
            buf += chunk
            *done, buf = buf.split(b"\n")
            seen.extend(json.loads(line) for line in done)
    return seen


@settings(max_examples=60, deadline=None, derandomize=True)
@given(lines=st.lists(_line, min_size=1, max_size=12))
def test_hostile_lines_never_break_the_controller(threaded: Threaded, lines: list[bytes]) -> None:
    assert threaded.controller.api is not None
    stats = threaded.controller.api.loop.stats
    skipped_before = stats.skipped_deadlines
    seen = _exchange(threaded.socket, lines)
    reply = next(m for m in seen if m.get("type") == "reply" and m.get("id") == PAUSE_ID)
    assert reply["accepted"], reply
    for msg in seen:
        if msg["type"] == "error":
            assert str(msg["text"]).startswith(("refused: ", "say hello first")), msg
    assert threaded.thread.is_alive(), threaded.errors
    assert stats.skipped_deadlines == skipped_before
    assert not threaded.errors


def test_after_the_fuzz_the_event_log_is_json(threaded: Threaded) -> None:
    with contextlib.suppress(Exception):
        _exchange(threaded.socket, [b'{"type":"hello","client":"\\ud800"}'])
    assert threaded.thread.is_alive()
    time.sleep(0.3)  # the writer thread flushes when its queue is empty
    text = (threaded.socket.parent / "events.jsonl").read_bytes().decode("utf-8")
    for line in text.splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert threaded.events.write_errors == 0
