"""One browser tab's console: a dashboard process that ends when the tab does.

textual-serve's AppService runs the command through a shell, passes the server's whole
environment on and, on a closed websocket, asks the app to quit and waits for it with no
limit. An operator's console whose tab is gone must stop heartbeating, so here the
process is exec'd directly (no shell between us and it), the login token is not in its
environment, and a process that has not left `quit_grace_s` after the quit request is
terminated, then killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from asyncio.subprocess import Process
from collections.abc import Awaitable, Callable, Sequence

from textual_serve.app_service import AppService
from textual_serve.download_manager import DownloadManager

from treadctl.web.auth import TOKEN_ENV

PARENT_PID_ENV = "TREADCTL_WEB_PARENT_PID"


class ConsoleProcess(AppService):
    """textual-serve's app service with a bounded stop and a direct exec."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        write_bytes: Callable[[bytes], Awaitable[None]],
        write_str: Callable[[str], Awaitable[None]],
        close: Callable[[], Awaitable[None]],
        quit_grace_s: float,
    ) -> None:
        super().__init__(
            " ".join(argv),
            write_bytes=write_bytes,
            write_str=write_str,
            close=close,
            download_manager=DownloadManager(),
        )
        self.argv = list(argv)
        self.quit_grace_s = quit_grace_s
        self._stopped = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        env = super()._build_environment(width, height)
        env.pop(TOKEN_ENV, None)
        env[PARENT_PID_ENV] = str(os.getpid())
        return env

    async def _open_app_process(self, width: int = 80, height: int = 24) -> Process:
        env = self._build_environment(width=width, height=height)
        self._process = process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        assert process.stdin is not None
        self._stdin = process.stdin
        return process

    async def stop(self) -> None:
        """Ask the app to quit; after `quit_grace_s` end it (SIGTERM, then SIGKILL)."""
        if self._stopped:
            return
        self._stopped = True
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(Exception):  # a dead pipe: the app is leaving anyway
                await asyncio.wait_for(self.send_meta({"type": "quit"}), self.quit_grace_s)
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None and process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), self.quit_grace_s)
            if process.returncode is not None:
                break
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
