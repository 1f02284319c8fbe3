"""The built-in simulator's panel inputs (e-stop, key, rails, drive fault, heart rate),
set from the operator console: there is no panel to touch on a simulated treadmill."""

from __future__ import annotations

from treadctl.api.admission import reply
from treadctl.api.connection import Client
from treadctl.api.messages import Role, SimControl
from treadctl.control.loop import ControlLoop
from treadctl.sim.world import BeltSim


def sim_input(belt: BeltSim | None, loop: ControlLoop, client: Client, msg: SimControl) -> None:
    """Set one input when there is a simulator and the client is the operator console."""
    if belt is None:
        reply(client, msg.id, False, "no built-in simulator: this drive is real")
        return
    if client.role is not Role.OPERATOR:
        reply(client, msg.id, False, "sim: only the operator console may set simulator inputs")
        return
    panel = belt.panel
    on = msg.value != 0
    if msg.input == "estop":
        panel.estop_chain_ok = not on
    elif msg.input == "key":
        panel.key_present = on
    elif msg.input == "rail_left":
        panel.rail_left = on
    elif msg.input == "rail_right":
        panel.rail_right = on
    elif msg.input == "drive_fault":
        if on:
            belt.trip(int(msg.value))
        else:
            belt.reset_fault()
    elif msg.input == "heart_rate":
        panel.heart_rate_bpm = msg.value if on else None
    loop.log_event("sim_input", input=msg.input, value=msg.value, client=client.name)
    reply(client, msg.id, True, f"simulator: {msg.input} = {msg.value:g}")
