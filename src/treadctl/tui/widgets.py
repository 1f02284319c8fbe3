"""The dashboard's panels. Each shows one part of a Status; none talks to the controller."""

from __future__ import annotations

from collections import deque

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
            old, self._text = self._text, new
            # the whole screen is laid out again only when this line's size may follow
            # its text; a line of fixed size in the CSS (the countdowns, the beat) is
            # repainted alone, several times a second
            self.update(new, layout=self._sized_by_text(old, new))

    def _sized_by_text(self, old: Text, new: Text) -> bool:
        styles = self.styles
        if styles.width is not None and styles.width.is_auto and old.cell_len != new.cell_len:
            return True
        return styles.height is None or styles.height.is_auto

    @property
    def plain(self) -> str:
        return self._text.plain

    @property
    def shown(self) -> Text:
        """What it shows, with its styles."""
        return self._text


class EventLog(RichLog):
    """The event log: lines wrap, never cut (80 columns leave the log about 44), and are
    wrapped again when the pane's width changes; the newest line stays in view when the
    pane changes size (a banner appearing above it takes its rows)."""

    def __init__(self, *, id: str, max_lines: int) -> None:
        super().__init__(id=id, max_lines=max_lines, min_width=20, wrap=True, markup=False)
        self.texts: deque[Text] = deque(maxlen=max_lines)
        self._wrapped_at = 0

    def add(self, text: Text) -> None:
        self.texts.append(text)
        self.write(text)

    def on_resize(self, _: events.Resize) -> None:
        width = self.scrollable_content_region.width
        if width != self._wrapped_at:
            if self._wrapped_at:  # written at another width: wrap them again
                self.clear()
                for text in self.texts:
                    self.write(text)
            self._wrapped_at = width
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
        self.rows: list[Line] = []
        self._shown: list[Indicator] | None = None  # what the rows show now

    def show(self, indicators: list[Indicator]) -> None:
        if indicators == self._shown:
            return  # every field as shown: a change (a trip) is painted at once below
        self._shown = list(indicators)
        names = [i.name for i in indicators]
        if names != self.names:
            self.names = names
            self.remove_children()
            self.rows = [Line(classes="indicator") for _ in indicators]
            self.mount_all(self.rows)
        for row, ind in zip(self.rows, indicators, strict=True):
            row.show(indicator_text(ind))
            row.set_class(ind.level is Level.FAULT, "-fault")
            row.set_class(ind.level is Level.WARN, "-warn")

    @property
    def plain(self) -> str:
        return "\n".join(row.plain for row in self.rows)


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


KEYS = {  # key: (what in the large layout, what in the compact one); in display order
    "space": ("STOP", "STOP"),
    "t": ("walker turned", "turned"),
    "s": ("start", "start"),
    "p": ("pause", "pause"),
    "+/-": ("speed", "speed"),
    "r": ("reset", "reset"),
    "c": ("confirm remote", "confirm"),
    "x": ("reject remote", "reject"),
    "h": ("incline home", "home"),
    "u": ("km/h|mph", "units"),
    "q": ("quit", "quit"),
    "e": ("estop", "estop"),
    "k": ("key", "key"),
}
# What goes first when the row is short, per state: the stop first, always; then what
# the operator is asked to do now (t at a turn, c/x for a remote request, r when
# latched, and the simulator's e/k that may have latched it; p and +/- while running, s at
# standstill); units last.
PRIORITY = {
    "latched": ["space", "t", "c", "x", "r", "e", "k", "q", "s", "p", "+/-", "u"],
    "running": ["space", "t", "c", "x", "p", "+/-", "q", "s", "r", "e", "k", "u"],
    "idle": ["space", "t", "c", "x", "s", "r", "q", "p", "+/-", "e", "k", "h", "u"],
    "ended": ["space", "q", "u"],
}
KEY_STYLE = "bold #000000 on #d0d0d0"
STOP_STYLE = "bold #ffffff on #d70000"


class KeyBar(Line):
    """The footer: one row, never wrapped. The simulator's keys only when simulated, c/x
    and t only when asked; when the row is too short for every key the least urgent go
    (PRIORITY), never the stop.

    `d` is not offered: in a profile the controller sets the direction at each turnaround
    (and refuses any other), so the key would only ever be refused."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._asked: tuple[object, ...] = ()  # set_keys' arguments for the row shown

    def set_keys(
        self,
        *,
        compact: bool,
        simulated: bool,
        remote: bool,
        estop: bool,
        key_in: bool,
        turn: bool = False,
        home: bool = False,
        state: str = "idle",
        width: int = 80,
    ) -> None:
        asked = (compact, simulated, remote, estop, key_in, turn, home, state, width)
        if asked == self._asked:
            return  # the same row as shown: each status asks, few change it
        self._asked = asked
        offered = set(KEYS) - {"t", "c", "x", "e", "k", "h"}
        offered |= {"t"} if turn else set()
        offered |= {"h"} if home else set()
        offered |= {"c", "x"} if remote else set()
        offered |= {"e", "k"} if simulated else set()
        order = PRIORITY.get(state, PRIORITY["idle"])
        row = self._fit(order, offered, width, compact, simulated, estop, key_in, state)
        if not compact and len(row) < len(offered & set(order)):
            # the large labels leave keys out: the short ones, if they keep more
            short = self._fit(order, offered, width, True, simulated, estop, key_in, state)
            row, compact = (short, True) if len(short) > len(row) else (row, compact)
        self.show(key_row(row, words_of(compact, simulated, estop, key_in, state), compact))

    @staticmethod
    def _fit(
        order: list[str],
        offered: set[str],
        width: int,
        compact: bool,
        simulated: bool,
        estop: bool,
        key_in: bool,
        state: str,
    ) -> list[str]:
        """The most urgent keys that fit `width` columns, in display order."""
        words = words_of(compact, simulated, estop, key_in, state)
        chosen = ["space"]  # the stop, whatever the width
        for key in order:
            if key == "space":
                continue
            if key in offered and len(key_row([*chosen, key], words, compact).plain) <= width:
                chosen.append(key)
        return [k for k in KEYS if k in chosen]


def words_of(
    compact: bool, simulated: bool, estop: bool, key_in: bool, state: str
) -> dict[str, str]:
    words = {k: (short if compact else long) for k, (long, short) in KEYS.items()}
    if simulated:
        words["e"] = "release" if estop else "estop"
        words["k"] = "key in" if not key_in else "key"
    if state == "ended":
        words["q"] = "exit"
    return words


def key_row(keys: list[str], words: dict[str, str], compact: bool) -> Text:
    """The key bar's text for `keys` (in the order given)."""
    text = Text()
    for key in keys:
        if key == "e":
            text.append("│", "dim")
        label = key.upper() if key == "space" else key
        style = STOP_STYLE if key == "space" else KEY_STYLE
        text.append(label if compact else f" {label} ", style)
        text.append(f" {words[key]} " if compact else f" {words[key]}  ")
    text.rstrip()
    return text
