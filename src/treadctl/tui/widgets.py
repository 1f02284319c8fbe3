"""The dashboard's panels. Each shows one part of a Status; none talks to the controller."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.widgets import Digits, RichLog, Static

from treadctl.api.messages import Indicator, Level
from treadctl.tui import view


class Line(Static):
    """A Static that repaints only when its text changes, and says what it shows."""

    def __init__(self, text: str | Text = "", *, id: str | None = None, classes: str = "") -> None:
        self._text = text if isinstance(text, Text) else Text(text)
        super().__init__(self._text, id=id, classes=classes, markup=False)

    def show(self, text: str | Text) -> None:
        new = text if isinstance(text, Text) else Text(text)
        if new.plain != self._text.plain or new.spans != self._text.spans:
            self._text = new
            self.update(new)

    @property
    def plain(self) -> str:
        return self._text.plain


class EventLog(RichLog):
    """The event log: the newest line stays in view when the pane changes size (a banner
    appearing above it takes its rows; RichLog keeps the old scroll offset otherwise)."""

    def on_resize(self, _: events.Resize) -> None:
        self.call_after_refresh(self.scroll_end, animate=False, immediate=True)


class SpeedBox(Vertical):
    """A caption and a big number."""

    def __init__(self, caption: str, *, id: str) -> None:
        super().__init__(id=id, classes="speedbox")
        self.caption = caption
        self.value = ""

    def compose(self) -> ComposeResult:
        yield Line(self.caption, classes="caption")
        yield Digits("-.--")

    def show(self, kmh: float | None, mph: bool, note: str = "") -> None:
        value = view.speed_digits(kmh, mph)
        self.query_one(Line).show(f"{self.caption} {view.unit(mph)}{note}")
        if value != self.value:
            self.value = value
            self.query_one(Digits).update(value)
        self.set_class(kmh is None, "-unknown")


class DirectionBadge(Line):
    """The belt's direction in its own colour: BACKWARD can never pass unnoticed."""

    def __init__(self, *, id: str) -> None:
        super().__init__(id=id)
        self.direction = ""

    def set_direction(self, direction: str, note: str = "") -> None:
        word, style = view.direction_badge(direction, note)
        self.direction = direction
        self.show(Text(word, style))
        self.set_class(direction == "backward", "-backward")
        self.set_class(direction != "backward", "-forward")


class Interlock(Container):
    """The interlock panel: one row per safety input, its level and its reason in words."""

    def __init__(self, *, id: str) -> None:
        super().__init__(id=id)
        self.names: list[str] = []

    def show(self, indicators: list[Indicator]) -> None:
        names = [i.name for i in indicators]
        if names != self.names:
            self.names = names
            self.remove_children()
            self.mount_all([Line(classes="indicator") for _ in indicators])
        for row, ind in zip(self.query(Line), indicators, strict=False):
            row.show(indicator_text(ind))
            row.set_class(ind.level is Level.FAULT, "-fault")
            row.set_class(ind.level is Level.WARN, "-warn")

    @property
    def plain(self) -> str:
        return "\n".join(row.plain for row in self.query(Line))


def indicator_text(ind: Indicator) -> Text:
    text = Text()
    if ind.level is Level.OK:
        text.append(view.LEVEL_MARK[ind.level] + " ", view.LEVEL_DOT[ind.level])
        text.append(f"{ind.label:<13}", "bold")
        text.append(ind.text)
    else:
        style = view.LEVEL_STYLE[ind.level]
        text.append(f"{view.LEVEL_MARK[ind.level]} {ind.label:<13}{ind.text}", style)
    return text


KEYS = [  # key, what (large layout), what (compact)
    ("space", "STOP", "STOP"),
    ("s", "start", "start"),
    ("p", "pause", "pause"),
    ("+/-", "speed", "speed"),
    ("r", "reset", "reset"),
    ("u", "km/h|mph", "units"),
    ("q", "quit", "quit"),
]
KEY_STYLE = "bold #000000 on #d0d0d0"
STOP_STYLE = "bold #ffffff on #d70000"


class KeyBar(Line):
    """The footer: every key; the simulator's only when simulated, c/x and t only when asked.

    `d` is not offered: in a profile the controller sets the direction at each turnaround
    (and refuses any other), so the key would only ever be refused."""

    def set_keys(
        self,
        *,
        compact: bool,
        simulated: bool,
        remote: bool,
        estop: bool,
        key_in: bool,
        turn: bool = False,
    ) -> None:
        keys = [(k, short if compact else long) for k, long, short in KEYS]
        if turn:  # a turn-round machine's turnaround: the walker's turn waits for t
            keys.insert(1, ("t", "turned" if compact else "walker turned"))
        if remote:
            keys += [("c", "confirm"), ("x", "reject")]
        if simulated:
            keys += [
                ("e", "release" if estop else "estop"),
                ("k", "key in" if not key_in else "key"),
            ]
        text = Text()
        for key, what in keys:
            if key == "e":
                text.append("│", "dim")
            label = key.upper() if key == "space" else key
            text.append(
                label if compact else f" {label} ", STOP_STYLE if key == "space" else KEY_STYLE
            )
            text.append(f" {what} " if compact else f" {what}  ")
        text.rstrip()
        self.show(text)
