"""A client's words before any command: each line parsed and validated into a message
(or the reason it is refused), and the hello that names the client and decides its role."""

from __future__ import annotations

import os

from pydantic import ValidationError

from treadctl.api.connection import Client
from treadctl.api.messages import (
    MAX_CLIENT_DEPTH,
    MAX_CLIENT_LINE_BYTES,
    PROTOCOL_VERSION,
    CommandRequest,
    Error,
    Heartbeat,
    Hello,
    Role,
    SimControl,
    client_message,
)
from treadctl.untrusted import InputRefusedError, decode_json, printable

ClientMessage = Hello | Heartbeat | CommandRequest | SimControl


def parse_line(line: bytes) -> ClientMessage | Error:
    """The message on `line`, or the error that refuses it: with the message's id when it
    had one that can be read (so the sender can match the refusal), else a null id."""
    try:
        raw = decode_json(line, max_bytes=MAX_CLIENT_LINE_BYTES, max_depth=MAX_CLIENT_DEPTH)
    except InputRefusedError as exc:
        return Error(text=f"refused: {exc}")
    try:
        return client_message.validate_python(raw)
    except ValidationError as exc:
        return Error(text=_validation_text(exc), id=readable_id(raw))


def readable_id(raw: object) -> int | None:
    """A refused message's id, when it is one a reply could carry (a JSON integer)."""
    if not isinstance(raw, dict):
        return None
    value = raw.get("id")
    if type(value) is int and 0 <= value < 2**63:
        return value
    return None


def accept_hello(client: Client, msg: Hello, operator: Client | None) -> bool:
    """Name the client and give it the role it asks for, or the observer's when the
    operator role is not its to have (it is told why). False, the client told why, when
    the hello itself is refused: a second one, or another protocol (then it is closed)."""
    if client.greeted:
        client.send(Error(text="refused: hello was said already on this connection"))
        return False
    if msg.protocol != PROTOCOL_VERSION:
        client.send(
            Error(text=f"protocol {msg.protocol} not spoken here (this is {PROTOCOL_VERSION})")
        )
        client.close()
        return False
    client.name = msg.client
    client.role = msg.role
    if msg.role is Role.OPERATOR:
        if not _may_operate(client):
            client.role = Role.OBSERVER
            client.send(
                Error(
                    text=f"operator role refused: the peer's user id {client.peer_uid} is "
                    "not the controller's: attached as an observer (stop and pause only)"
                )
            )
        elif operator is not None and operator is not client:
            client.role = Role.OBSERVER
            client.send(
                Error(
                    text=f"operator console {operator.name!r} is already attached: "
                    "attached as an observer (stop and pause only)"
                )
            )
    return True


def _may_operate(client: Client) -> bool:
    """The operator role is the controller's own user's (or root's), whatever it says.

    The socket's mode (0600) already keeps other users out; this holds even if someone
    loosens the mode by hand.
    """
    return client.peer_uid is None or client.peer_uid in (os.getuid(), 0)


def _validation_text(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:3]:
        where = ".".join(str(x) for x in err["loc"]) or "message"
        parts.append(f"{where}: {printable(err['msg'], 160)}")
    return "refused: " + "; ".join(parts)
