"""The topic schema: `treadctl/<site>/<treadmill>/<leaf>`, with each leaf's QoS and retain.

status          retained, QoS 1  online / offline (also the Last Will)
state           retained, QoS 1  the latest state, published when it changes
telemetry       QoS 0            the running figures, 1-10 Hz (10 Hz by default)
events          QoS 1            every event-log record
summary         retained, QoS 1  the last session's summary
command         QoS 1, inbound   remote requests (stop, pause, start, speed, direction)
command/result  QoS 1            the answer to each request, with its id
"""

from __future__ import annotations

from dataclasses import dataclass

ROOT = "treadctl"


@dataclass(frozen=True)
class Leaf:
    name: str
    qos: int
    retain: bool


STATUS = Leaf("status", 1, True)
STATE = Leaf("state", 1, True)
TELEMETRY = Leaf("telemetry", 0, False)
EVENTS = Leaf("events", 1, False)
SUMMARY = Leaf("summary", 1, True)
COMMAND = Leaf("command", 1, False)
RESULT = Leaf("command/result", 1, False)
LEAVES = {leaf.name: leaf for leaf in (STATUS, STATE, TELEMETRY, EVENTS, SUMMARY, COMMAND, RESULT)}


@dataclass(frozen=True)
class Topics:
    site: str
    treadmill: str

    @property
    def base(self) -> str:
        return f"{ROOT}/{self.site}/{self.treadmill}"

    def of(self, leaf: Leaf) -> str:
        return f"{self.base}/{leaf.name}"

    @property
    def status(self) -> str:
        return self.of(STATUS)

    @property
    def state(self) -> str:
        return self.of(STATE)

    @property
    def telemetry(self) -> str:
        return self.of(TELEMETRY)

    @property
    def events(self) -> str:
        return self.of(EVENTS)

    @property
    def summary(self) -> str:
        return self.of(SUMMARY)

    @property
    def command(self) -> str:
        return self.of(COMMAND)

    @property
    def result(self) -> str:
        return self.of(RESULT)


def site_filter(site: str, leaf: Leaf | None = None) -> str:
    """Every treadmill of a site: all its topics, or one leaf of each."""
    return f"{ROOT}/{site}/+/{leaf.name}" if leaf is not None else f"{ROOT}/{site}/#"


def parse(topic: str) -> tuple[str, str, Leaf] | None:
    """(site, treadmill, leaf) of a treadctl topic; None for anything else."""
    parts = topic.split("/", 3)
    if len(parts) != 4 or parts[0] != ROOT:
        return None
    leaf = LEAVES.get(parts[3])
    if leaf is None:
        return None
    return parts[1], parts[2], leaf


__all__ = [
    "COMMAND",
    "EVENTS",
    "LEAVES",
    "RESULT",
    "STATE",
    "STATUS",
    "SUMMARY",
    "TELEMETRY",
    "Leaf",
    "Topics",
    "parse",
    "site_filter",
]
