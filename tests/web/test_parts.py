"""The web console's parts on their own: the gate's checks, the token's sources, the
terminal refusal under the web driver, a console that ignores the quit request, --help."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from treadctl.tui import terminal
from treadctl.web.auth import TOKEN_ENV, Gate, TokenError, load_token
from treadctl.web.session import ConsoleProcess


def test_the_gate_compares_tokens_and_cookies_exactly() -> None:
    gate = Gate.create("a" * 20, "127.0.0.1", 8470, None)
    assert gate.token_ok("a" * 20)
    for wrong in (None, "", "a" * 19, "a" * 21, "A" * 20, "a" * 10_000, "ä" * 20):
        assert not gate.token_ok(wrong)
    assert gate.cookie_ok(gate.cookie_value)
    assert not gate.cookie_ok(gate.token)
    assert not gate.cookie_ok(None)
    assert gate.cookie_value != Gate.create("a" * 20, "127.0.0.1", 8470, None).cookie_value


def test_the_gate_serves_only_its_own_names() -> None:
    local = Gate.create("a" * 20, "127.0.0.1", 8470, None)
    for ok in ("127.0.0.1:8470", "localhost:8470", "LOCALHOST:8470", "[::1]:8470"):
        assert local.host_ok(ok), ok
    for bad in (None, "", "evil.example:8470", "127.0.0.1:8471", "127.0.0.1", "a b:1"):
        assert not local.host_ok(bad), bad
    proxied = Gate.create("a" * 20, "0.0.0.0", 8470, "treadmill-1.clinic")
    assert proxied.host_ok("treadmill-1.clinic")
    assert proxied.host_ok("anything.example:8470")  # a wildcard bind: any well-formed name
    assert not proxied.host_ok("bad\r\nname")
    assert local.origin_ok("http://127.0.0.1:8470", "127.0.0.1:8470")
    assert not local.origin_ok("http://127.0.0.1:8470.evil", "127.0.0.1:8470")
    assert not local.origin_ok("null", "127.0.0.1:8470")
    assert not local.origin_ok(None, "127.0.0.1:8470")


def test_token_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    generated, source = load_token(None)
    assert source == "generated"
    assert len(generated) >= 40
    assert load_token(None)[0] != generated
    monkeypatch.setenv(TOKEN_ENV, "env-token-0123456789")
    assert load_token(None) == ("env-token-0123456789", "env")
    file = tmp_path / "t"
    file.write_text("file-token-0123456789\nignored\n")
    assert load_token(file) == ("file-token-0123456789", "file")  # the file wins
    for bad in ("", "\n", "short", "with space 0123456789", "x" * 257):
        file.write_text(bad)
        with pytest.raises(TokenError):
            load_token(file)
    with pytest.raises(TokenError, match="--token-file"):
        load_token(tmp_path / "missing")
    monkeypatch.setenv(TOKEN_ENV, "short")
    with pytest.raises(TokenError, match=TOKEN_ENV):
        load_token(None)


def test_no_terminal_needed_under_the_web_driver_only(monkeypatch: pytest.MonkeyPatch) -> None:
    class Pipe:
        def isatty(self) -> bool:
            return False

    monkeypatch.setattr(sys, "stdout", Pipe())
    monkeypatch.setattr(sys, "stdin", Pipe())
    monkeypatch.delenv("TEXTUAL_DRIVER", raising=False)
    assert terminal.missing_terminal() is not None
    monkeypatch.setenv("TEXTUAL_DRIVER", "textual.drivers.linux_driver:LinuxDriver")
    assert terminal.missing_terminal() is not None
    monkeypatch.setenv("TEXTUAL_DRIVER", terminal.WEB_DRIVER)
    assert terminal.missing_terminal() is None


STUBBORN = """
import signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
sys.stdout.write("__GANGLION__\\n"); sys.stdout.flush()
while True:
    time.sleep(1)
"""


async def test_a_console_that_ignores_quit_is_killed_within_two_graces() -> None:
    """A hung dashboard must not outlive its tab: quit, then SIGTERM, then SIGKILL."""

    async def sink(_: object) -> None:
        return None

    async def close() -> None:
        return None

    grace_s = 0.5
    app = ConsoleProcess(
        [sys.executable, "-c", STUBBORN],
        write_bytes=sink,
        write_str=sink,
        close=close,
        quit_grace_s=grace_s,
    )
    await app.start(80, 24)
    await asyncio.sleep(0.5)
    process = app._process
    assert process is not None
    assert process.returncode is None
    started = time.monotonic()
    await app.stop()
    took_s = time.monotonic() - started
    assert process.returncode == -9  # SIGTERM was ignored: killed
    print(f"a console ignoring quit and SIGTERM ended after {took_s:.2f} s (grace {grace_s} s)")
    await app.stop()  # a second stop (both finally blocks) is harmless


def test_help_states_defaults_examples_and_exit_codes() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "treadctl.web", "dashboard", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for words in ("default 127.0.0.1", "default 8470", "TREADCTL_WEB_TOKEN", "--token-file",
                  "examples:", "exit codes:", "chromium --kiosk", "--quit-grace-s"):  # fmt: skip
        assert words in out, words
    top = subprocess.run(
        [sys.executable, "-m", "treadctl.web", "--help"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "{dashboard,monitor}" in top


def test_a_port_in_use_is_a_usage_error(tmp_path: Path) -> None:
    import socket  # noqa: PLC0415

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "treadctl.web", "dashboard", "--socket", str(tmp_path / "c"),
             "--port", str(port)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert out.returncode == 2, out
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr
    assert "token" not in out.stdout
