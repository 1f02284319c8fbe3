"""Sending a key's command to the controller, and showing its answer when it comes.

Each request runs as a worker on the App's event loop, so waiting for a reply never
holds up the screen, the keys or the heartbeat. Every answer is shown: a refusal, a
timeout and a lost connection alike.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol

from textual.worker import Worker

from treadctl.api.client import ApiError
from treadctl.api.messages import Action, Reply
from treadctl.tui import paint


class Commander(paint.Board, Protocol):
    """What sending a command needs of the App (a Protocol: this module never imports it)."""

    quitting: bool

    def refused(self, what: str, text: str) -> None: ...
    def answered(self, what: str, reply: Reply) -> None: ...
    def exit(self, result: int | None = None) -> None: ...
    def run_worker(
        self,
        work: Coroutine[Any, Any, None],
        name: str | None = "",
        group: str = "default",
        description: str = "",
        exit_on_error: bool = True,
    ) -> Worker[None]: ...


def send(app: Commander, what: str, action: Action, **kw: Any) -> None:
    client = app.link.client if app.link is not None else None
    if client is None:
        app.refused(what, "not connected to the controller")
        return
    paint.notice(app, f"… {what}: sent", "dim")

    async def request() -> None:
        try:
            reply = await client.command(action, **kw)
        except ApiError as exc:
            app.refused(what, str(exc))
            return
        app.answered(what, reply)
        if action is Action.QUIT and reply.accepted:
            app.quitting = True
            paint.notice(app, "ending the session: waiting for the controller", "bold")
            if app.ended is not None:
                app.exit(0)

    app.run_worker(request(), group="commands", exit_on_error=False)


def sim(app: Commander, what: str, name: str, value: float) -> None:
    """Set an input of the built-in simulator (the e and k keys)."""
    client = app.link.client if app.link is not None else None
    if client is None or app.session is None or not app.session.simulated:
        app.refused(what, "simulator keys work only with the built-in simulator")
        return

    async def request() -> None:
        try:
            reply = await client.sim(name, value)
        except ApiError as exc:
            app.refused(what, str(exc))
            return
        if reply.accepted and name == "estop":
            app.sim_estop = value != 0
        elif reply.accepted and name == "key":
            app.sim_key_in = value != 0
        app.answered(what, reply)
        paint.show_keys(app)

    app.run_worker(request(), group="commands", exit_on_error=False)
