"""Configuration errors that name the file, the field path and the reason."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ConfigProblem:
    """One problem: `file:line:column: field.path: reason`.

    `line` and `column` (both from 1) say where the field's key is written in the file,
    when the loader could tell; the field path is the one in the file (`drive.link.port`).
    Without a position the line reads `file: field.path: reason`.
    """

    source: str
    field: str
    reason: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}" + (f":{self.column}" if self.column is not None else "")
        if self.field:
            where += f": {self.field}"
        return f"{where}: {self.reason}"


class FieldError(ValueError):
    """Raised by a validator that checks several fields together, to blame one of them.

    `field` is a dotted path relative to the model that raised it; the loader appends it
    to the model's own location so the problem names the full field path.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class ConfigError(Exception):
    """One or more problems found before anything moves."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    @classmethod
    def single(cls, source: Path | str, field: str, reason: str) -> ConfigError:
        return cls([ConfigProblem(str(source), field, reason)])
