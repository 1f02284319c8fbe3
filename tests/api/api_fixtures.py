"""Helpers for the socket tests: a running controller and waiting on conditions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from treadctl.api.client import ControllerClient
from treadctl.api.messages import Role, Status
from treadctl.serve import Controller
from treadctl.store.eventlog import EventLog

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 20.0  # generous: a wait that passes this is a failure, not a slow machine

PROFILE = """
name = "API test: forward then backward"
[[blocks]]
name = "main"
  [[blocks.segments]]
  direction = "forward"
  duration_s = 600
  speed_kmh = 2.0
  [[blocks.segments]]
  direction = "backward"
  duration_s = 600
  speed_kmh = 1.0
"""


async def wait_for(cond: Callable[[], bool], what: str, timeout_s: float = DEADLINE_S) -> None:
    async with asyncio.timeout(timeout_s):
        while not cond():
            await asyncio.sleep(0.02)
    assert cond(), what


@dataclass
class Running:
    controller: Controller
    task: asyncio.Task[object]
    socket: Path
    events: EventLog

    async def client(self, role: Role = Role.OBSERVER, name: str = "test") -> ControllerClient:
        client = ControllerClient(self.socket, role, name)
        await client.connect()
        return client

    def status(self, client: ControllerClient) -> Status:
        assert client.status is not None
        return client.status
