"""Configuration errors that name the file, the field path and the reason."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ConfigProblem:
    source: str
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.source}: {self.field}" if self.field else self.source
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
