"""Cycle-time figures in constant memory: a fine histogram plus an exact maximum."""

from __future__ import annotations

from dataclasses import dataclass

BIN_US = 10  # histogram resolution
MAX_BINS = 10_000  # 100 ms; slower cycles land in the last bin (the max stays exact)


class DurationHistogram:
    def __init__(self) -> None:
        self._bins = [0] * (MAX_BINS + 1)
        self.count = 0
        self.max_s = 0.0
        self._sum_s = 0.0

    def add(self, seconds: float) -> None:
        # max(seconds, 0.0) and max(self.max_s, seconds) without their calls: every cycle
        seconds = 0.0 if seconds < 0.0 else seconds
        index = int(seconds * 1e6) // BIN_US
        self._bins[index if index < MAX_BINS else MAX_BINS] += 1
        self.count += 1
        self._sum_s += seconds
        self.max_s = seconds if seconds > self.max_s else self.max_s

    def percentile(self, fraction: float) -> float:
        """Upper edge of the bin holding the given fraction, in seconds."""
        if self.count == 0:
            return 0.0
        wanted = fraction * self.count
        seen = 0
        for index, n in enumerate(self._bins):
            seen += n
            if seen >= wanted and n:
                if index == MAX_BINS:  # overflow bin: only the maximum is known
                    return self.max_s
                return min((index + 1) * BIN_US / 1e6, self.max_s)
        return self.max_s

    @property
    def mean_s(self) -> float:
        return self._sum_s / self.count if self.count else 0.0


@dataclass(frozen=True)
class CycleFigures:
    cycles: int
    overruns: int
    skipped_deadlines: int
    work_p50_ms: float
    work_p99_ms: float
    work_max_ms: float
    late_p50_ms: float
    late_p99_ms: float
    late_max_ms: float

    def lines(self) -> list[str]:
        return [
            f"cycles {self.cycles}, overruns {self.overruns}, "
            f"skipped deadlines {self.skipped_deadlines}",
            f"cycle work  p50 {self.work_p50_ms:.3f} ms  p99 {self.work_p99_ms:.3f} ms  "
            f"max {self.work_max_ms:.3f} ms",
            f"wake-up lateness  p50 {self.late_p50_ms:.3f} ms  p99 {self.late_p99_ms:.3f} ms  "
            f"max {self.late_max_ms:.3f} ms",
        ]


class CycleStats:
    def __init__(self) -> None:
        self.work = DurationHistogram()
        self.lateness = DurationHistogram()
        self.overruns = 0
        self.skipped_deadlines = 0

    def figures(self) -> CycleFigures:
        return CycleFigures(
            cycles=self.work.count,
            overruns=self.overruns,
            skipped_deadlines=self.skipped_deadlines,
            work_p50_ms=self.work.percentile(0.5) * 1e3,
            work_p99_ms=self.work.percentile(0.99) * 1e3,
            work_max_ms=self.work.max_s * 1e3,
            late_p50_ms=self.lateness.percentile(0.5) * 1e3,
            late_p99_ms=self.lateness.percentile(0.99) * 1e3,
            late_max_ms=self.lateness.max_s * 1e3,
        )
