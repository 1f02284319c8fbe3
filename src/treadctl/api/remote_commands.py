"""Commands from afar (the MQTT bridge): stop and pause at once, always; start, speed and
direction only when the machine file enables them and a local operator console is
attached, and then held on the remote desk until the operator at the belt confirms."""

from __future__ import annotations

from treadctl.api.admission import SIMPLE, busy
from treadctl.api.messages import Action
from treadctl.api.remote import RemoteDesk
from treadctl.control.loop import ControlLoop
from treadctl.safety.types import Command, Direction


def remote_command(
    loop: ControlLoop,
    desk: RemoteDesk,
    operator_attached: bool,
    origin: str,
    action: Action,
    speed_kmh: float | None = None,
    direction: Direction | None = None,
) -> tuple[bool, str]:
    """(accepted, the answer's text); call it in the control loop's thread."""
    if action in (Action.STOP, Action.PAUSE):
        command = Command(SIMPLE[action], origin)
        if not loop.submit(command):
            return busy(command)
        return True, f"{action.value} submitted"
    allowed = loop.p.machine.remote_commands
    enabled = {
        Action.START: allowed.start,
        Action.SPEED: allowed.speed,
        Action.DIRECTION: allowed.direction,
    }
    if action not in enabled:
        return False, f"{action.value}: not a remote command"
    if not enabled[action]:
        return False, (
            f"{action.value}: remote {action.value} is not enabled in the machine file "
            f"(remote_commands.{action.value})"
        )
    if not operator_attached:
        return False, f"{action.value}: no local operator console attached to confirm it"
    if action is Action.SPEED and (speed_kmh is None or not speed_kmh > 0):
        return False, "speed: give a positive speed_kmh"
    if action is Action.DIRECTION and direction is None:
        return False, "direction: give forward or backward"
    ref = desk.ask(origin, action, loop.p.clock.now(), speed_kmh, direction)
    if ref is None:
        return False, (
            f"{action.value}: {desk.max_held} remote requests are waiting for the "
            "local operator already: refused"
        )
    loop.log_event(
        "remote_request", origin=origin, action=action.value, ref=ref, speed_kmh=speed_kmh
    )
    return True, f"waiting for the local operator's confirmation (request {ref})"
