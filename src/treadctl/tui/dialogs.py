"""The start confirmation: the checklist of the segment about to start (not only the
session's first: at a turnaround it is the next segment's, e.g. a walker turned round to
face away from the console), then y/Enter to start.

Space is not bound here: the app's priority binding stops the belt (and closes this
dialog) from every screen, so no focused button can swallow it.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class StartConfirm(ModalScreen[bool]):
    """Dismisses True to start, False to cancel."""

    BINDINGS = [  # noqa: RUF012 - Textual's own class-level declaration
        Binding("y,enter", "confirm", "start"),
        Binding("n,escape", "cancel", "cancel"),
    ]

    def __init__(self, checks: list[str], what: str) -> None:
        super().__init__(id="start-confirm")
        self.checks = checks
        self.what = what

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("START THE BELT?", id="dialog-title")
            yield Static(self.what, id="dialog-what", markup=False)
            if self.checks:
                yield Static("Before starting, check:", classes="dialog-sub")
                for check in self.checks:
                    with Horizontal(classes="check-row"):
                        yield Static("[ ]", classes="check-box")
                        yield Static(check, classes="check", markup=False)
            else:
                yield Static("(the profile lists no pre-start checks)", classes="dialog-sub")
            with Horizontal(id="dialog-buttons"):
                # not focusable: Enter always means start here, never "the focused button"
                yield Button("y / Enter: START", id="yes", variant="success", compact=True)
                yield Button("n / Esc: cancel", id="no", variant="default", compact=True)

    def on_mount(self) -> None:
        for button in self.query(Button):
            button.can_focus = False

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
