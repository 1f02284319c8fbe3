"""Commands from the socket's clients: refused here when they can never apply or the
client may not give them, else submitted to the control loop, whose decision at its next
cycle is the reply."""

from __future__ import annotations

from dataclasses import dataclass, field

from treadctl.api.budgets import MAX_HELD_HOMES
from treadctl.api.connection import Client
from treadctl.api.messages import Action, CommandRequest, Reply, Role
from treadctl.api.remote import RemoteDesk
from treadctl.api.status import incline_home_refusal, is_moving
from treadctl.control.loop import ControlLoop, LoopSnapshot
from treadctl.safety.types import Command, CommandKind, Direction, Mode

SIMPLE = {
    Action.START: CommandKind.START,
    Action.STOP: CommandKind.STOP,
    Action.PAUSE: CommandKind.PAUSE,
    Action.RESET: CommandKind.RESET,
}
OBSERVER_ACTIONS = frozenset({Action.STOP, Action.PAUSE})


@dataclass
class Pending:
    command: Command
    client: Client
    request_id: int


def busy(command: Command) -> tuple[bool, str]:
    """The answer to a command the loop's queue has no room for: a stop is already waiting
    (the belt stops at the next cycle), or the controller is busy (sent again later)."""
    if command.kind is CommandKind.STOP:
        return True, "a stop is already waiting: the belt stops at the next cycle"
    return False, f"{command.kind.value}: refused, too many commands are waiting: send it again"


def reply(client: Client, request_id: int, accepted: bool, text: str) -> None:
    client.send(Reply(id=request_id, accepted=accepted, text=text))


@dataclass
class Admission:
    loop: ControlLoop
    desk: RemoteDesk
    pending: dict[int, Pending] = field(default_factory=dict)
    # incline_home requests waiting for the incline rules' decision at the next cycle
    homes: list[tuple[Client, int]] = field(default_factory=list)

    def on_cycle(self, snap: LoopSnapshot) -> None:
        """Reply to every command the cycle decided (from the control loop: at once)."""
        if self.homes:
            self._home_replies(snap)
        out = snap.outputs
        if out is None or not out.decisions or not self.pending:
            return
        for decision in out.decisions:
            pending = self.pending.pop(id(decision.command), None)
            if pending is not None and pending.command is decision.command:
                text = decision.detail or ("accepted" if decision.accepted else "refused")
                pending.client.send(
                    Reply(id=pending.request_id, accepted=decision.accepted, text=text)
                )

    def _home_replies(self, snap: LoopSnapshot) -> None:
        """Answer incline_home requests with the incline rules' decision (one per cycle,
        every request since the last cycle shares it)."""
        inc = snap.incline
        if inc is None:
            return
        for what, accepted, detail in inc.decisions:
            if what == "incline_home":
                homes, self.homes = self.homes, []
                for client, request_id in homes:
                    client.send(Reply(id=request_id, accepted=accepted, text=detail))
                return

    def _submit(self, client: Client, request_id: int, command: Command) -> None:
        """To the loop, whose decision is the reply; refused at once when too many wait."""
        if not self.loop.submit(command):
            reply(client, request_id, *busy(command))
            return
        self.pending[id(command)] = Pending(command, client, request_id)

    def command(self, client: Client, msg: CommandRequest, ended: bool) -> None:
        action = msg.action
        who = client.name
        if ended:
            reply(client, msg.id, False, "the session has ended")
            return
        if client.role is not Role.OPERATOR and action not in OBSERVER_ACTIONS:
            reply(
                client,
                msg.id,
                False,
                f"{action.value}: only the operator console may do this (observers: stop, pause)",
            )
            return
        if action in SIMPLE:
            self._submit(client, msg.id, Command(SIMPLE[action], who))
        elif action in (Action.SPEED, Action.SPEED_STEP):
            self._speed(client, msg)
        elif action in (Action.DIRECTION, Action.CONFIRM_TURN):
            self._direction(client, msg)
        elif action is Action.QUIT:
            out = self.loop.snapshot.outputs
            if out is None or is_moving(out):
                reply(
                    client,
                    msg.id,
                    False,
                    "the belt is not at verified standstill: stop it first (space)",
                )
                return
            self.loop.request_quit(who)
            reply(client, msg.id, True, "ending the session")
        elif action in (Action.CONFIRM_REMOTE, Action.REJECT_REMOTE):
            self._confirm(client, msg)
        elif action is Action.INCLINE_HOME:
            self._home(client, msg.id)

    def _speed(self, client: Client, msg: CommandRequest) -> None:
        """A speed of its own (speed), or a step from the one wanted now (speed_step)."""
        who = client.name
        if msg.action is Action.SPEED:
            if msg.speed_kmh is None:
                reply(client, msg.id, False, "speed: give speed_kmh")
                return
            self._submit(
                client, msg.id, Command(CommandKind.SET_SPEED, who, speed_kmh=msg.speed_kmh)
            )
            return
        if msg.steps is None or msg.steps == 0:
            reply(client, msg.id, False, "speed_step: give steps (+1 or -1)")
            return
        wanted = self._wanted_kmh()
        if wanted is None:
            reply(client, msg.id, False, "no moving segment: nothing to change")
            return
        step = self.loop.p.machine.speed_step_kmh
        kmh = round(wanted + msg.steps * step, 3)
        self._submit(client, msg.id, Command(CommandKind.SET_SPEED, who, speed_kmh=kmh))

    def _direction(self, client: Client, msg: CommandRequest) -> None:
        """The belt's direction (direction), or the walker's after a turn (confirm_turn)."""
        who = client.name
        if msg.action is Action.DIRECTION:
            if msg.direction is None:
                reply(client, msg.id, False, "direction: give forward or backward")
                return
            why_not = self._profile_direction(Direction(msg.direction))
            if why_not:
                reply(client, msg.id, False, why_not)
                return
            self._submit(
                client,
                msg.id,
                Command(CommandKind.SET_DIRECTION, who, direction=Direction(msg.direction)),
            )
            return
        if msg.direction is None:
            reply(client, msg.id, False, "confirm_turn: give the direction the walker now walks")
            return
        self._submit(
            client,
            msg.id,
            Command(CommandKind.CONFIRM_TURN, who, direction=Direction(msg.direction)),
        )

    def _home(self, client: Client, request_id: int) -> None:
        """Incline to 0 %: refused here when it can never apply; otherwise the incline
        rules decide at the next cycle (belt stopped, no fault) and the reply says so."""
        why = incline_home_refusal(self.loop)
        if why:
            reply(client, request_id, False, why)
            return
        if len(self.homes) >= MAX_HELD_HOMES:
            reply(client, request_id, False, "incline_home: already asked, wait")
            return
        self.homes.append((client, request_id))
        self.loop.incline_home()

    def _profile_direction(self, wanted: Direction) -> str:
        """Why the profile forbids turning to `wanted` now ("" when it does not).

        The current segment sets the belt's direction (a rest faces the next moving
        segment) and the sequencer turns the belt to it at standstill: a turn the other
        way would be undone, or leave a start that the interlock refuses.
        """
        snap = self.loop.snapshot
        out = snap.outputs
        if out is None or out.mode in (Mode.RUNNING, Mode.STOPPING):
            return ""  # the interlock refuses it first: stop first
        policy = self.loop.sequencer.policy(snap.sequencer)
        if policy is None or policy.direction is wanted:
            return ""
        seg = self.loop.p.plan.segments[policy.index]
        walks = "rests facing" if not policy.moving else "walks"
        return (
            f"the profile sets the direction: segment {seg.label} {walks} {policy.direction.value}"
        )

    def _wanted_kmh(self) -> float | None:
        """The current segment's wanted speed: the operator's own, else the profile's."""
        snap = self.loop.snapshot
        segs = self.loop.p.plan.segments
        i = snap.segment_index
        if snap.sequencer.ended or i >= len(segs) or segs[i].target_kmh <= 0:
            return None
        il = snap.interlock
        if il.operator_speed_kmh is not None and il.operator_speed_segment == i:
            return il.operator_speed_kmh
        return segs[i].target_kmh

    def _confirm(self, client: Client, msg: CommandRequest) -> None:
        """The local operator's answer to a remote request the desk holds."""
        if msg.ref is None:
            reply(client, msg.id, False, f"{msg.action.value}: give ref")
            return
        now = self.loop.p.clock.now()
        if msg.action is Action.REJECT_REMOTE:
            found = self.desk.reject(msg.ref, now)
            reply(
                client,
                msg.id,
                found is not None,
                "remote request rejected" if found else f"no remote request {msg.ref}",
            )
            return
        command = self.desk.confirm(msg.ref, now, confirmed_by=client.name)
        if command is None:
            reply(client, msg.id, False, f"no remote request {msg.ref} (expired?)")
            return
        self._submit(client, msg.id, command)
