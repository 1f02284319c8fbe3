"""The clients' commands, taken at a bounded number per cycle.

Any number of clients (the dashboard, a browser console, MQTT, `treadctl stop`) may queue
commands from other threads. A flood must never lengthen a cycle nor make a stop go
missing, so:
- a stop has a lane of its own: it never waits behind other commands, and the stops taken
  in a cycle are judged after that cycle's other commands, so no start of the same cycle
  overrides them;
- other commands are taken at most `per_cycle` a cycle, in order; an equal command right
  after another (the same action from the same source) is coalesced with it and gets the
  same decision;
- at most `max_queued` wait in each lane; `submit` refuses more at once, so the caller can
  answer "busy" (a refused stop means a stop is already waiting).
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace

from treadctl.safety.types import Command, CommandKind, Decision, SafetyOutputs


class CommandIntake:
    def __init__(self, per_cycle: int, max_queued: int) -> None:
        self.per_cycle = per_cycle
        self.max_queued = max_queued
        self.queue: deque[Command] = deque()  # appends from any thread (atomic)
        self.stops: deque[Command] = deque()
        self.merged: list[tuple[Command, Command]] = []  # (coalesced, kept) this cycle

    def __len__(self) -> int:
        return len(self.queue) + len(self.stops)

    def submit(self, command: Command) -> bool:
        """Queue `command` for the next cycles; False: refused, its lane is full."""
        lane = self.stops if command.kind is CommandKind.STOP else self.queue
        if len(lane) >= self.max_queued:
            return False
        lane.append(command)
        return True

    def take(self) -> tuple[list[Command], list[Command]]:
        """This cycle's commands (at most `per_cycle`, equal neighbours coalesced) and stops."""
        taken: list[Command] = []
        merged = self.merged
        merged.clear()
        queue = self.queue
        budget = self.per_cycle
        while queue and budget > 0:
            command = queue.popleft()
            if taken and command == taken[-1]:
                merged.append((command, taken[-1]))
                continue
            taken.append(command)
            budget -= 1
        stops: list[Command] = []
        lane = self.stops
        while lane:
            stop = lane.popleft()
            if stops and stop == stops[-1]:
                merged.append((stop, stops[-1]))
            else:
                stops.append(stop)
        return taken, stops

    def answer(self, out: SafetyOutputs) -> SafetyOutputs:
        """The interlock's outputs with a decision for each coalesced command: the same as
        the command it was coalesced with (none if that one was not judged)."""
        if not self.merged:
            return out
        decided = {id(d.command): d for d in out.decisions}
        extra = tuple(
            Decision(command, d.accepted, d.detail)
            for command, kept in self.merged
            if (d := decided.get(id(kept))) is not None
        )
        return replace(out, decisions=out.decisions + extra) if extra else out
