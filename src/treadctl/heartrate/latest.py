"""The latest heart-rate reading of one source: bounded, timestamped, aged out.

Network tasks `offer` values; the control loop `read`s without awaiting anything. A
value outside the plausible range, a non-finite one, or anything the source refused
(`clear`) leaves no reading at all: the previous value is never shown in its place,
because a stale rate that looks fine is worse than none (the interlock handles none).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from treadctl.config.heartrate import Plausible

# The same log line at most once per this many seconds: a gateway alternating good and bad
# messages thousands of times a second must not flood the log (and the disk).
LOG_REPEAT_S = 10.0
LOG_KEYS_MAX = 64  # distinct lines remembered for that; forgotten all at once beyond


class Latest:
    def __init__(
        self,
        source: str,
        plausible: Plausible,
        logger: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.plausible = plausible
        self._log = logger
        self._clock = clock
        self._bpm: float | None = None
        self._at: float = 0.0
        self.reason: str | None = "no reading yet"  # why there is no reading now
        self.accepted = 0
        self.refused = 0
        self.suppressed = 0  # log lines left out as repeats
        self._logged_at: dict[str, float] = {}

    def offer(self, bpm: float) -> bool:
        """Take a new reading; an implausible one clears the latest and says why."""
        p = self.plausible
        if not math.isfinite(bpm):
            self.clear(f"refused a non-finite rate ({bpm})")
            return False
        if not p.bpm_min <= bpm <= p.bpm_max:
            self.clear(f"refused {bpm:g} bpm (plausible {p.bpm_min:g}..{p.bpm_max:g})")
            return False
        self._bpm = float(bpm)
        self._at = self._clock()
        self.accepted += 1
        if self.reason is not None and self._may_log("signal back"):
            self._log.info("%s: heart rate %g bpm (signal back)", self.source, bpm)
        self.reason = None
        return True

    def clear(self, reason: str) -> None:
        """No reading from now on until the next good one; logged once per reason."""
        self.refused += 1
        self._bpm = None
        self._note(reason)

    def _note(self, reason: str) -> None:
        if reason != self.reason and self._may_log(reason):
            self._log.warning("%s: no heart rate: %s", self.source, reason)
        self.reason = reason

    def _may_log(self, key: str) -> bool:
        now = self._clock()
        last = self._logged_at.get(key)
        if last is not None and now - last < LOG_REPEAT_S:
            self.suppressed += 1
            return False
        if len(self._logged_at) >= LOG_KEYS_MAX:
            self._logged_at.clear()
        self._logged_at[key] = now
        return True

    def age_s(self) -> float | None:
        """Seconds since the latest accepted reading, or None when there is none."""
        if self._bpm is None:
            return None
        return self._clock() - self._at

    def read(self) -> float | None:
        """The latest rate, or None when there is none or it is older than the limit."""
        age = self.age_s()
        if age is None:
            return None
        if age > self.plausible.stale_after_s:
            self._bpm = None
            self._note(
                f"stale: the last reading is {age:.1f} s old "
                f"(limit {self.plausible.stale_after_s:g} s)"
            )
            return None
        return self._bpm
