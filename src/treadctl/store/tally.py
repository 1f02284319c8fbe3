"""Which planned segment the belt's movement counts for, by the walker's direction.

One rule, used by the recorder every cycle and by the schema upgrade that recomputes old
records from their 10 Hz samples: movement counts for the current segment when the walker
walks that segment's direction, else for the segment it counted for before (the stop
after a segment ended belongs to the segment that ran). The walker's direction is the
interlock's `direction`: on a machine whose belt reverses it is the belt's; where the
walker turns round the belt always runs forward and the walker walks backward. Crediting
by the belt's direction recorded every turn-round session as 0 s backward.
"""

from __future__ import annotations

from collections.abc import Sequence


class SegmentTally:
    """Moving seconds and metres per planned segment."""

    def __init__(self, kinds: Sequence[str]) -> None:
        # each segment's walking direction ("forward", "backward"), None for a rest
        self._walks = [k if k in ("forward", "backward") else None for k in kinds]
        n = len(kinds)
        self.moving_s = [0.0] * n
        self.metres = [0.0] * n
        self.owner: int | None = None

    def __len__(self) -> int:
        return len(self._walks)

    def add(self, index: int, walking: str, speed_kmh: float, dt_s: float) -> int | None:
        """Credit `dt_s` at `speed_kmh` (above standstill) walked `walking` while segment
        `index` is current. Returns the segment that stopped being credited, if one did."""
        walks = self._walks
        if not walks:
            return None
        owner = self.owner
        if index < len(walks) and walks[index] == walking:
            new = index
        elif owner is None:
            new = min(index, len(walks) - 1)
        else:
            new = owner
        self.moving_s[new] += dt_s
        self.metres[new] += speed_kmh / 3.6 * dt_s
        if new == owner:
            return None
        self.owner = new
        return owner
