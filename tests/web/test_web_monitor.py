"""The clinic monitor served the same way: its screen reaches the browser's websocket
(with no broker answering: it says so and retries, it does not die)."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import aiohttp
from web_rig import TOKEN, children, spawn, terminal_text, until

from treadctl.web.auth import COOKIE


async def test_the_monitor_is_served(short_dir: Path) -> None:
    token_file = short_dir / "token"
    token_file.write_text(TOKEN)
    web = spawn(
        [sys.executable, "-m", "treadctl.web", "monitor", "--broker", "127.0.0.1:1",
         "--site", "clinic-a", "--port", "0", "--token-file", str(token_file)],
        short_dir,
        "web",
    )  # fmt: skip
    try:

        def url() -> str | None:
            assert web.proc.poll() is None, web.output()
            m = re.search(r"monitor at (http://127\.0\.0\.1:\d+)/", web.out.read_text())
            return m[1] if m else None

        base = await asyncio.to_thread(until, url, "the monitor's URL")
        frames: list[bytes] = []
        async with aiohttp.ClientSession() as session:
            first = await session.get(f"{base}/?token={TOKEN}", allow_redirects=False)
            cookie = first.cookies[COOKIE].value
            headers = {"Cookie": f"{COOKIE}={cookie}", "Origin": base}
            ws_url = base.replace("http:", "ws:") + "/ws?width=100&height=30"
            async with session.ws_connect(ws_url, headers=headers) as ws:

                async def read() -> None:
                    async for msg in ws:
                        if msg.type == aiohttp.WSMsgType.BINARY:
                            frames.append(msg.data)

                reader = asyncio.create_task(read())
                text = lambda: terminal_text(frames)  # noqa: E731
                await asyncio.to_thread(
                    until, lambda: "no treadmill seen yet" in text(), "the monitor's screen"
                )
                await asyncio.to_thread(
                    until, lambda: "Connection refused" in text(), "the broker's state"
                )
                await ws.close()
                await reader
        await asyncio.to_thread(
            until, lambda: children(web.proc.pid) == [], "the monitor to end with its tab"
        )
    finally:
        web.stop()
