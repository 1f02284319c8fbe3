"""The HTTP side: the console page, its websocket and textual-serve's static files.

Built on textual-serve's page, scripts and AppService (one process per websocket), with
the login gate in front of every route, bounded request and message sizes, and no access
log (a request line would carry the token).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
import textual_serve
from aiohttp import WSMsgType, web

from treadctl.web.auth import COOKIE, Gate
from treadctl.web.session import ConsoleProcess

log = logging.getLogger("treadctl.web")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_SERVE_DIR = Path(textual_serve.__file__).resolve().parent
_GATE_KEY = web.AppKey("gate", Gate)


@dataclass(frozen=True)
class WebConfig:
    """What `treadctl web` was told; the limits bound what a browser can make us do."""

    argv: Sequence[str]  # the console process each tab runs
    title: str
    host: str
    port: int
    public_url: str | None
    max_sessions: int
    max_request_bytes: int
    max_header_bytes: int
    max_ws_message_bytes: int
    max_input_chars: int
    ws_heartbeat_s: float
    quit_grace_s: float
    max_cols: int
    max_rows: int


@dataclass
class Sessions:
    """The running consoles (bounded: each is a process)."""

    live: dict[int, ConsoleProcess]


_SESSIONS_KEY = web.AppKey("sessions", Sessions)
_CONF_KEY = web.AppKey("conf", WebConfig)


def _refuse(request: web.Request, status: int, why: str) -> web.Response:
    log.warning("refused %s %s from %s: %s", request.method, request.path, request.remote, why)
    return web.Response(status=status, text=f"{why}\n", content_type="text/plain")


@web.middleware
async def _login(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every route: a known Host, then the token (once) or the cookie."""
    gate = request.app[_GATE_KEY]
    if not gate.host_ok(request.headers.get("Host")):
        return _refuse(request, 421, "unknown host name")
    given = request.query.get("token")
    if given is not None:
        if not gate.token_ok(given):
            return _refuse(request, 403, "wrong login token")
        if request.path != "/" or request.method != "GET":
            return _refuse(request, 403, "the token opens the page only")
        # The token leaves the address bar; the cookie carries the login from now on.
        query = {k: v for k, v in request.query.items() if k != "token"}
        target = request.rel_url.with_query(query)
        conf = request.app[_CONF_KEY]
        moved = web.HTTPSeeOther(location=str(target))
        secure = conf.public_url is not None and conf.public_url.startswith("https:")
        moved.set_cookie(
            COOKIE, gate.cookie_value, httponly=True, samesite="Strict", secure=secure, path="/"
        )
        return moved
    if not gate.cookie_ok(request.cookies.get(COOKIE)):
        return _refuse(request, 401, "login token required: open the URL treadctl web printed")
    response = await handler(request)
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def _bounded_int(text: str | None, default: int, high: int) -> int:
    try:
        value = int(text) if text is not None and len(text) <= 6 else default
    except ValueError:
        value = default
    return min(max(value, 1), high)


def _page_urls(request: web.Request, conf: WebConfig) -> tuple[str, str]:
    """(static base, websocket URL) for the page, from --public-url or this request."""
    if conf.public_url is not None:
        parts = urlsplit(conf.public_url)
        scheme, host = parts.scheme, parts.netloc
    else:
        scheme, host = request.scheme, request.host  # Host already checked by the gate
    ws_scheme = "wss" if scheme == "https" else "ws"
    return f"{scheme}://{host}/static/", f"{ws_scheme}://{host}/ws"


@aiohttp_jinja2.template("app_index.html")
async def _index(request: web.Request) -> dict[str, Any]:
    conf = request.app[_CONF_KEY]
    static_url, ws_url = _page_urls(request, conf)
    return {
        "font_size": _bounded_int(request.query.get("fontsize"), 16, 64),
        "app_websocket_url": ws_url,
        "config": {"static": {"url": static_url}},
        "application": {"name": conf.title},
        "ping_url": "",
    }


async def _pump(ws: web.WebSocketResponse, app: ConsoleProcess, conf: WebConfig) -> None:
    """The browser's messages to the process; anything malformed ends the connection."""
    async for message in ws:
        if message.type != WSMsgType.TEXT:
            continue
        try:
            envelope = json.loads(message.data)
        except ValueError:
            return
        if not isinstance(envelope, list) or not envelope or not isinstance(envelope[0], str):
            return
        kind, data = envelope[0], envelope[1] if len(envelope) > 1 else None
        if kind == "stdin" and isinstance(data, str) and len(data) <= conf.max_input_chars:
            await app.send_bytes(data.encode("utf-8", "replace"))
        elif kind == "resize" and isinstance(data, dict):
            cols, rows = data.get("width"), data.get("height")
            if type(cols) is int and type(rows) is int:
                await app.set_terminal_size(
                    min(max(cols, 1), conf.max_cols), min(max(rows, 1), conf.max_rows)
                )
        elif kind == "ping" and isinstance(data, str) and len(data) <= 32:
            await ws.send_json(["pong", data])
        elif kind == "blur":
            await app.blur()
        elif kind == "focus":
            await app.focus()


def _closer(ws: web.WebSocketResponse) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        await ws.close()

    return close


async def _websocket(request: web.Request) -> web.StreamResponse:
    conf = request.app[_CONF_KEY]
    gate = request.app[_GATE_KEY]
    origin = request.headers.get("Origin")
    public = urlsplit(conf.public_url).netloc if conf.public_url else None
    if not (gate.origin_ok(origin, request.host) or (public and gate.origin_ok(origin, public))):
        return _refuse(request, 403, "websocket from another page")
    sessions = request.app[_SESSIONS_KEY]
    if len(sessions.live) >= conf.max_sessions:
        return _refuse(request, 503, f"{conf.max_sessions} consoles open already")
    ws = web.WebSocketResponse(
        heartbeat=conf.ws_heartbeat_s, max_msg_size=conf.max_ws_message_bytes
    )
    await ws.prepare(request)
    cols = _bounded_int(request.query.get("width"), 80, conf.max_cols)
    rows = _bounded_int(request.query.get("height"), 24, conf.max_rows)
    app = ConsoleProcess(
        conf.argv,
        write_bytes=ws.send_bytes,
        write_str=ws.send_str,
        close=_closer(ws),
        quit_grace_s=conf.quit_grace_s,
    )
    key = id(app)
    sessions.live[key] = app
    try:
        await app.start(cols, rows)
        log.info("console %s opened (process %s)", key, app.pid)
        await _pump(ws, app, conf)
    finally:
        # The tab is gone (closed, reloaded, network lost): the console leaves now.
        await asyncio.shield(app.stop())
        del sessions.live[key]
        log.info("console %s closed (process %s)", key, app.pid)
        await ws.close()
    return ws


async def _stop_all(app: web.Application) -> None:
    live = list(app[_SESSIONS_KEY].live.values())
    await asyncio.gather(*(s.stop() for s in live), return_exceptions=True)


def make_app(conf: WebConfig, gate: Gate) -> web.Application:
    app = web.Application(middlewares=[_login], client_max_size=conf.max_request_bytes)
    app[_CONF_KEY] = conf
    app[_GATE_KEY] = gate
    app[_SESSIONS_KEY] = Sessions({})
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(_SERVE_DIR / "templates"),
        autoescape=True,
    )
    app.add_routes(
        [
            web.get("/", _index),
            web.get("/ws", _websocket),
            web.static("/static", _SERVE_DIR / "static", show_index=False),
        ]
    )
    app.on_shutdown.append(_stop_all)
    return app


async def serve(conf: WebConfig, token: str, public_host: str | None) -> None:
    """Serve until cancelled; print the one URL (with the token) for the operator.

    The socket is bound first, so the login gate knows the port (--port 0) and a port in
    use is an OSError before anything is printed."""
    family = socket.AF_INET6 if ":" in conf.host else socket.AF_INET
    sock = socket.create_server((conf.host, conf.port), family=family)
    port = int(sock.getsockname()[1])
    gate = Gate.create(token, conf.host, port, public_host)
    runner = web.AppRunner(
        make_app(conf, gate),
        access_log=None,
        handle_signals=False,
        max_line_size=conf.max_header_bytes,
        max_field_size=conf.max_header_bytes,
    )
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        base = conf.public_url or f"http://{_url_host(conf.host)}:{port}"
        print(f"treadctl web: {conf.title} at {base.rstrip('/')}/?token={token}", flush=True)
        print("treadctl web: closing a tab ends its console; ctrl+c stops serving", flush=True)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        sock.close()


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="treadctl web: %(message)s",
        stream=sys.stderr,
    )
