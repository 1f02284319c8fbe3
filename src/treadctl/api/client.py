"""A client of the controller's socket: the dashboard, `treadctl stop` and `status` use it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

from pydantic import ValidationError

from treadctl.api.messages import (
    MAX_LINE_BYTES,
    Action,
    CommandRequest,
    Ended,
    Error,
    Event,
    Heartbeat,
    Hello,
    Msg,
    Reply,
    Role,
    SimControl,
    Status,
    Welcome,
    encode,
    server_message,
)

ServerMsg = Welcome | Status | Reply | Event | Ended | Error


class ApiError(Exception):
    """The controller could not be reached or spoke out of turn: names the socket."""


class ControllerClient:
    def __init__(self, path: Path, role: Role = Role.OBSERVER, name: str = "client") -> None:
        self.path = path
        self.role = role
        self.name = name
        self.welcome: Welcome | None = None
        self.status: Status | None = None
        self.notices: list[str] = []
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ids = itertools.count(1)
        self._replies: dict[int, asyncio.Future[Reply]] = {}
        self._inbox: asyncio.Queue[ServerMsg | None] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None

    async def connect(self, timeout_s: float = 5.0) -> Welcome:
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(self.path), limit=MAX_LINE_BYTES), timeout_s
            )
        except (OSError, TimeoutError) as exc:
            raise ApiError(f"{self.path}: no controller answering: {exc}") from exc
        self.send(Hello(role=self.role, client=self.name))
        self._pump = asyncio.create_task(self._read(), name=f"api-client-{self.name}")
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    msg = await self._inbox.get()
                    if isinstance(msg, Welcome):
                        break
                    if isinstance(msg, Error):
                        self.notices.append(msg.text)  # a demotion to observer, say
                    elif msg is None:
                        why = "; ".join(self.notices) or "closed"
                        raise ApiError(f"{self.path}: the controller refused: {why}")
        except TimeoutError as exc:
            raise ApiError(f"{self.path}: the controller did not say welcome") from exc
        self.welcome = msg
        return msg

    def send(self, msg: Msg) -> None:
        if self._writer is None or self._writer.is_closing():
            raise ApiError(f"{self.path}: not connected")
        self._writer.write(encode(msg))

    def heartbeat(self) -> None:
        self.send(Heartbeat())

    async def command(
        self,
        action: Action,
        *,
        speed_kmh: float | None = None,
        steps: int | None = None,
        direction: str | None = None,
        ref: int | None = None,
        timeout_s: float = 5.0,
    ) -> Reply:
        request_id = next(self._ids)
        msg = CommandRequest.model_validate(
            {
                "id": request_id,
                "action": action,
                "speed_kmh": speed_kmh,
                "steps": steps,
                "direction": direction,
                "ref": ref,
            }
        )
        return await self._request(request_id, msg, timeout_s)

    async def sim(self, name: str, value: float, timeout_s: float = 5.0) -> Reply:
        request_id = next(self._ids)
        msg = SimControl.model_validate({"id": request_id, "input": name, "value": value})
        return await self._request(request_id, msg, timeout_s)

    async def _request(self, request_id: int, msg: Msg, timeout_s: float) -> Reply:
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._replies[request_id] = future
        self.send(msg)
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError as exc:
            raise ApiError(f"{self.path}: no reply to {msg!r} within {timeout_s} s") from exc
        finally:
            self._replies.pop(request_id, None)

    async def messages(self) -> AsyncIterator[ServerMsg]:
        """Every message after the welcome (replies too), until the controller closes."""
        while True:
            msg = await self._inbox.get()
            if msg is None:
                return
            yield msg

    async def _read(self) -> None:
        assert self._reader is not None
        try:
            while True:
                try:
                    line = await self._reader.readline()
                except (ValueError, ConnectionError):
                    break
                if not line:
                    break
                try:
                    msg = server_message.validate_json(line)
                except ValidationError:
                    continue  # a newer controller's message this client does not know
                if isinstance(msg, Status):
                    self.status = msg
                if isinstance(msg, Reply):
                    future = self._replies.get(msg.id)
                    if future is not None and not future.done():
                        future.set_result(msg)
                self._inbox.put_nowait(msg)
        finally:
            for future in self._replies.values():
                if not future.done():
                    future.set_exception(ApiError(f"{self.path}: the controller closed"))
            self._inbox.put_nowait(None)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
