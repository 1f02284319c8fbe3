"""The login gate over real HTTP: no token, a wrong token, another page's Origin or a
foreign Host name are refused before any console process starts; the token, given once,
becomes a cookie and leaves the address bar."""

from __future__ import annotations

import asyncio
import http.client
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from web_rig import TOKEN, Proc, children, until

from treadctl.web.auth import COOKIE


def get(base: str, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def login_cookie(base: str) -> str:
    first = get(base, f"/?token={TOKEN}")
    assert first.status == 303
    assert first.headers["Location"] == "/"
    cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert TOKEN not in cookie  # the cookie is not the token
    return cookie.split(";", 1)[0].split("=", 1)[1]


def test_http_refusals(web: tuple[Proc, str]) -> None:
    proc, base = web
    assert get(base, "/").status == 401
    assert get(base, "/static/js/textual.js").status == 401
    assert get(base, "/?token=" + "x" * len(TOKEN)).status == 403
    assert get(base, "/?token=" + "x" * 10_000).status in (403, 414, 400)
    assert get(base, f"/static/js/textual.js?token={TOKEN}").status == 403  # page only
    cookie = login_cookie(base)
    ok = {"Cookie": f"{COOKIE}={cookie}"}
    assert get(base, "/", ok).status == 200
    assert get(base, "/static/js/textual.js", ok).status == 200
    other = "B" if cookie.endswith("A") else "A"  # one character off, never the same
    wrong = {"Cookie": f"{COOKIE}={cookie[:-1]}{other}"}
    assert get(base, "/", wrong).status == 401
    # DNS rebinding: a page on another name that resolves to this machine.
    assert get(base, f"/?token={TOKEN}", {"Host": "evil.example:80"}).status == 421
    assert children(proc.proc.pid) == []


async def _ws_status(base: str, cookie: str | None, origin: str | None) -> int:
    headers = {}
    if cookie is not None:
        headers["Cookie"] = f"{COOKIE}={cookie}"
    if origin is not None:
        headers["Origin"] = origin
    url = base.replace("http:", "ws:") + "/ws?width=80&height=24"
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(url, headers=headers) as ws:
                await ws.close()
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


def test_websocket_refusals(web: tuple[Proc, str]) -> None:
    proc, base = web
    cookie = login_cookie(base)
    assert asyncio.run(_ws_status(base, None, base)) == 401
    assert asyncio.run(_ws_status(base, cookie, None)) == 403
    assert asyncio.run(_ws_status(base, cookie, "http://evil.example")) == 403
    assert asyncio.run(_ws_status(base, cookie, base.replace("127.0.0.1", "localhost"))) == 403
    assert children(proc.proc.pid) == []
    # The right cookie from our own page: a console starts, and ends with the socket.
    assert asyncio.run(_ws_status(base, cookie, base)) == 101
    until(lambda: children(proc.proc.pid) == [], "the console to end with its websocket")
    out = proc.output()
    assert out.count(TOKEN) == 1, "the token appears beyond the one URL printed"
    assert cookie not in out


def test_max_sessions_bounds_the_processes(short_dir: Path, controller: tuple[Proc, Path]) -> None:
    from web_rig import start_web  # noqa: PLC0415

    proc, base = start_web(short_dir, controller[1], "--max-sessions", "1")
    try:
        cookie = login_cookie(base)

        async def two() -> list[int]:
            headers = {"Cookie": f"{COOKIE}={cookie}", "Origin": base}
            url = base.replace("http:", "ws:") + "/ws"
            async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=headers):
                try:
                    async with session.ws_connect(url, headers=headers):
                        return [101, 101]
                except aiohttp.WSServerHandshakeError as exc:
                    return [101, exc.status]

        assert asyncio.run(two()) == [101, 503]
    finally:
        proc.stop()


@pytest.mark.parametrize("token", ["short", "has space in it ok", "x" * 300])
def test_unusable_token_files_are_refused(tmp_path: Path, token: str) -> None:
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    bad = tmp_path / "token"
    bad.write_text(token + "\n")
    out = subprocess.run(
        [sys.executable, "-m", "treadctl.web", "dashboard", "--socket", str(tmp_path / "c.sock"),
         "--port", "0", "--token-file", str(bad)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 2, out
    assert "--token-file" in out.stderr
    assert token not in out.stderr + out.stdout
