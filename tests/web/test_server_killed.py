"""A web server that dies (SIGKILL, out of memory) takes its consoles with it: nobody sees
them any more, so their heartbeats must stop and the presence rule stop the belt."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path

import aiohttp
from test_gate import login_cookie
from web_rig import Proc, children, status, terminal_text, until

from treadctl.web.auth import COOKIE


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def test_a_killed_server_ends_its_console_and_the_belt_stops(
    web: tuple[Proc, str], controller: tuple[Proc, Path]
) -> None:
    proc, base = web
    sock = controller[1]
    cookie = login_cookie(base)
    headers = {"Cookie": f"{COOKIE}={cookie}", "Origin": base}
    url = base.replace("http:", "ws:") + "/ws?width=100&height=30"
    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=headers) as ws:
        frames: list[bytes] = []

        async def drain() -> None:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    frames.append(msg.data)

        reader = asyncio.create_task(drain())

        async def wait(cond: object, what: str) -> None:
            await asyncio.to_thread(until, cond, what)  # type: ignore[arg-type]

        async def key(k: str) -> None:
            await ws.send_str(json.dumps(["stdin", k]))

        await wait(lambda: status(sock).operator_present, "the console as the operator")
        consoles = children(proc.proc.pid)
        assert len(consoles) == 1
        await wait(lambda: status(sock).at_standstill, "standstill")
        await key("r")
        await wait(lambda: status(sock).mode == "stopped", "reset")
        await wait(lambda: "✓ reset" in terminal_text(frames), "the reset's reply")
        seen = len(frames)
        await key("s")
        await wait(lambda: "START THE BELT?" in terminal_text(frames[seen:]), "the start dialog")
        await key("y")
        await wait(lambda: status(sock).mode == "running", "the belt running")

        os.kill(proc.proc.pid, signal.SIGKILL)
        proc.proc.wait(30)

        await wait(lambda: not alive(consoles[0]), "the orphaned console to end")
        await wait(
            lambda: (s := status(sock)).mode != "running" and s.operator_present is False,
            "the belt stopped for the absent operator",
        )
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
