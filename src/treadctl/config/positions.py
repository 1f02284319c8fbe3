"""Where a field is in a TOML file: the line and column of its key, for error messages.

tomllib gives the parsed data and no positions, so `TomlPositions` scans the text once
more, in one pass, and notes where each key path first appears:

- `[a.b]` and `[[a.b]]` headers (an array of tables counts its elements, so the second
  `[[blocks.segments]]` under the first `[[blocks]]` is `blocks[0].segments[1]`);
- keys, dotted ones included (`forward.accel_mps2 = 1` in `[limits]`), at the top of
  a table and inside inline tables;
- the elements of inline arrays (`speeds = [1, 2]`: `speeds[1]`), and their tables.

A key that is never written (a table only implied, a missing field) is found at the
first place its path is named, or not at all: a path the scan did not see has no
position, never a guessed one. The scan runs only on text tomllib has parsed (and
`loader` has kept within its size, depth and key-part limits), so it can rely on the
text being TOML; anything it does not understand ends the scan with what it has.
Its cost is linear in the text: one regular-expression pass, a constant amount of work
per token (a path is at most a few dozen parts long) and a dictionary entry per key.
"""

from __future__ import annotations

import contextlib
import re
import tomllib
from bisect import bisect_right
from dataclasses import dataclass

PathKey = tuple[str | int, ...]

# The same string and comment forms as loader._TOML_TOKENS, with names: the scan must
# step over strings and comments exactly as tomllib does.
_TOKEN = re.compile(
    "|".join(
        (
            r"(?P<ws>[ \t]+)",
            r"(?P<nl>\r?\n)",
            r"(?P<comment>#[^\n]*)",
            r'(?P<str>"""(?:[^"\\]|\\.|"(?!""))*""""{0,2}',  # multi-line basic string
            r"'''(?:[^']|'(?!''))*''''{0,2}",  # multi-line literal string
            r'"(?:[^"\\\n]|\\.)*"',  # basic string
            r"'[^'\n]*')",  # literal string
            # a bare key, or a piece of a number, date, boolean (dots are punctuation)
            r"(?P<bare>[A-Za-z0-9_+:-]+)",
            r"(?P<punct>[\[\]{}.=,])",
            r"(?P<other>.)",
        )
    ),
    re.DOTALL,
)
# Nesting deeper than this ends the scan (loader refuses files nested past 32 levels).
_MAX_NESTING = 64


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # "nl", "str", "bare", "punct", "other", "eof"
    text: str
    start: int


class _GiveUpError(Exception):
    """The text is not what the scan expects: keep the positions found so far."""


def _key_name(tok: _Tok) -> str:
    if tok.kind == "bare":
        return tok.text
    if tok.kind != "str" or tok.text.startswith(('"""', "'''")):
        raise _GiveUpError
    if tok.text.startswith("'") or "\\" not in tok.text:
        return tok.text[1:-1]
    try:  # escapes: let tomllib decode them, as it did for the data
        name = tomllib.loads(f"k = {tok.text}")["k"]
    except (tomllib.TOMLDecodeError, KeyError):
        raise _GiveUpError from None
    if not isinstance(name, str):
        raise _GiveUpError
    return name


class _Scanner:
    def __init__(self, text: str) -> None:
        self.toks = [
            _Tok(str(m.lastgroup), m.group(), m.start())
            for m in _TOKEN.finditer(text)
            if m.lastgroup not in ("ws", "comment")
        ]
        self.eof = _Tok("eof", "", len(text))
        self.i = 0
        self.found: dict[PathKey, int] = {}
        self.table_counts: dict[PathKey, int] = {}  # array of tables -> elements so far

    def peek(self, ahead: int = 0) -> _Tok:
        j = self.i + ahead
        return self.toks[j] if j < len(self.toks) else self.eof

    def take(self) -> _Tok:
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, text: str) -> _Tok:
        tok = self.take()
        if tok.text != text or tok.kind != "punct":
            raise _GiveUpError
        return tok

    def note(self, path: PathKey, start: int) -> None:
        self.found.setdefault(path, start)

    def key(self) -> list[tuple[str, int]]:
        """A (dotted) key: each part's name and where it starts."""
        tok = self.take()
        parts = [(_key_name(tok), tok.start)]
        while self.peek().text == "." and self.peek().kind == "punct":
            self.i += 1
            tok = self.take()
            parts.append((_key_name(tok), tok.start))
        return parts

    def key_value(self, base: PathKey, depth: int) -> None:
        path = base
        for name, start in self.key():
            path = (*path, name)
            self.note(path, start)
        self.expect("=")
        self.value(path, depth)

    def value(self, path: PathKey, depth: int) -> None:
        if depth > _MAX_NESTING:
            raise _GiveUpError
        tok = self.peek()
        if tok.kind == "punct" and tok.text == "[":
            self.i += 1
            index = 0
            while True:
                tok = self.peek()
                if tok.kind == "nl" or (tok.kind == "punct" and tok.text == ","):
                    self.i += 1
                elif tok.kind == "punct" and tok.text == "]":
                    self.i += 1
                    return
                elif tok.kind == "eof":
                    raise _GiveUpError
                else:
                    self.note((*path, index), tok.start)
                    self.value((*path, index), depth + 1)
                    index += 1
        elif tok.kind == "punct" and tok.text == "{":
            self.i += 1
            while True:
                tok = self.peek()
                if tok.kind == "punct" and tok.text == ",":
                    self.i += 1
                elif tok.kind == "punct" and tok.text == "}":
                    self.i += 1
                    return
                elif tok.kind in ("bare", "str"):
                    self.key_value(path, depth + 1)
                else:
                    raise _GiveUpError
        elif tok.kind == "str":
            self.i += 1
        else:  # a number, date or boolean: bare pieces and dots (a date may hold a space)
            while tok.kind in ("bare", "other") or (tok.kind == "punct" and tok.text == "."):
                self.i += 1
                tok = self.peek()

    def header(self) -> PathKey:
        """A `[table]` or `[[array.of.tables]]` header: the table's path from now on."""
        opening = self.expect("[")
        nxt = self.peek()
        array = nxt.kind == "punct" and nxt.text == "[" and nxt.start == opening.start + 1
        if array:
            self.i += 1
        parts = self.key()
        self.expect("]")
        if array:
            self.expect("]")
        path: PathKey = ()
        for n, (name, start) in enumerate(parts):
            path = (*path, name)
            self.note(path, start)
            last = n == len(parts) - 1
            if last and array:
                count = self.table_counts.get(path, 0)
                self.table_counts[path] = count + 1
                path = (*path, count)
                self.note(path, opening.start)
            elif path in self.table_counts:  # a table inside the newest element
                path = (*path, self.table_counts[path] - 1)
        return path

    def document(self) -> None:
        table: PathKey = ()
        while True:
            tok = self.peek()
            if tok.kind == "eof":
                return
            if tok.kind == "nl":
                self.i += 1
                continue
            if tok.kind == "punct" and tok.text == "[":
                table = self.header()
            elif tok.kind in ("bare", "str"):
                self.key_value(table, 1)
            else:
                raise _GiveUpError
            # the rest of the line holds nothing named (a comment, or nothing)
            while self.peek().kind not in ("nl", "eof"):
                self.i += 1


class TomlPositions:
    """Line and column (both from 1) of each key path in a TOML text that parsed."""

    def __init__(self, text: str) -> None:
        scanner = _Scanner(text)
        with contextlib.suppress(_GiveUpError):
            scanner.document()
        self._found = scanner.found
        self._line_starts = [0, *(m.end() for m in re.finditer("\n", text))]

    def offset_of(self, path: PathKey) -> int | None:
        return self._found.get(path)

    def find(self, path: PathKey) -> tuple[int, int] | None:
        """(line, column) where `path` is first named, or None if the scan never saw it."""
        offset = self._found.get(tuple(path))
        if offset is None:
            return None
        line = bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1
