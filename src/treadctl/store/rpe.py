"""Ratings of perceived exertion: the scales a session's RPE is recorded on.

A module of its own, importing nothing of treadctl's, so that the CLI states the scales
in its help without loading the session history's models (`treadctl --help` stays fast).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


class RpeError(ValueError):
    """A rating of perceived exertion that cannot be recorded or used; says why."""


@dataclass(frozen=True, slots=True)
class RpeScale:
    key: str
    label: str
    low: float
    high: float
    whole: bool  # only whole numbers are on the scale

    def check(self, value: float) -> float:
        if not math.isfinite(value):
            raise RpeError(f"RPE must be a number on the {self.label} scale")
        if not self.low <= value <= self.high:
            raise RpeError(
                f"RPE {value:g} is outside the {self.label} scale ({self.low:g} to {self.high:g})"
            )
        if self.whole and value != math.floor(value):
            raise RpeError(f"RPE {value:g}: the {self.label} scale has whole numbers only")
        return value

    def parse(self, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise RpeError(
                f"RPE {text!r} is not a number (the {self.label} scale: "
                f"{self.low:g} to {self.high:g})"
            ) from None
        return self.check(value)


RPE_SCALES = {
    s.key: s
    for s in (
        RpeScale("borg", "Borg 6-20", 6, 20, whole=True),
        RpeScale("cr10", "Borg CR10 0-10", 0, 10, whole=False),
    )
}
DEFAULT_RPE_SCALE = "borg"
