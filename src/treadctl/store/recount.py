"""Recomputing the segment results of sessions recorded on a turn-round treadmill.

Before schema 6 the recorder credited each segment by the belt's direction. Where the
walker turns round the belt always runs forward, so every backward segment was recorded
as 0 s and its time went to a forward segment; progression then never advanced. The 10 Hz
samples always kept the walker's direction, and the segment events say which segment
ran when, so the segment results can be recomputed with the recorder's own rule
(treadctl.store.tally) where the samples are complete. Where they are not (samples lost
while the belt moved, no segment events), the session is marked 'unknown', and the
record and the report say so instead of showing a zero.
"""

from __future__ import annotations

import sqlite3

from treadctl.store.tally import SegmentTally

SAMPLE_PERIOD_S = 0.1  # the recorder's sample period
MAX_GAP_S = 0.5  # samples further apart while the belt moved: some were lost
DEFAULT_STANDSTILL_KMH = 0.05  # the machine default, for sessions that did not keep theirs
# Credited by the belt, a turn-round session's backward segments hold (almost) nothing of
# the backward walking its samples show; sampling alone never halves it.
MIN_SAMPLED_BACKWARD_S = 1.0

RECOMPUTED = "recomputed"
UNKNOWN = "unknown"

# What `sessions show` and the report say beside the segment table.
RECOUNT_NOTES = {
    RECOMPUTED: (
        "segment times recomputed from the 10 Hz samples at the upgrade to schema 6 "
        "(recorded by the belt's direction before, which left a turn-round session's "
        "backward segments at 0 s)"
    ),
    UNKNOWN: (
        "segment times unknown: recorded by the belt's direction on a turn-round treadmill "
        "before schema 6, and the samples are incomplete; time and distance per direction "
        "come from the samples"
    ),
}


def _is_turn_round(conn: sqlite3.Connection, session_id: int) -> bool:
    """A turn was confirmed: only a machine where the walker turns round asks for one."""
    row = conn.execute(
        "SELECT 1 FROM events WHERE session_id = ? AND kind = 'command' "
        "AND json_valid(record) AND json_extract(record, '$.command') = 'confirm_turn' LIMIT 1",
        (session_id,),
    ).fetchone()
    return row is not None


def _needs_recount(
    conn: sqlite3.Connection, session_id: int, segments: list[tuple[int, str, float]], still: float
) -> bool:
    if (
        not any(moving > 0 for _, _, moving in segments)
        and not conn.execute(
            "SELECT 1 FROM samples WHERE session_id = ? AND actual_kmh > ? LIMIT 1",
            (session_id, still),
        ).fetchone()
    ):
        return False  # the belt never moved: nothing was credited wrongly
    recorded = sum(moving for _, kind, moving in segments if kind == "backward")
    sampled = (
        SAMPLE_PERIOD_S
        * conn.execute(
            "SELECT count(*) FROM samples WHERE session_id = ? AND direction = 'backward' "
            "AND actual_kmh > ?",
            (session_id, still),
        ).fetchone()[0]
    )
    wrong = sampled > MIN_SAMPLED_BACKWARD_S and recorded < sampled / 2
    return wrong or _is_turn_round(conn, session_id)


def recount_session(
    conn: sqlite3.Connection, session_id: int, kinds: list[str], standstill_kmh: float
) -> SegmentTally | None:
    """The segment results from the samples, by the recorder's rule; None when the samples
    or the segment events are incomplete."""
    marks: list[tuple[float, int]] = []
    for t_s, index in conn.execute(
        "SELECT t_s, CASE WHEN json_valid(record) THEN json_extract(record, '$.index') END "
        "FROM events WHERE session_id = ? AND kind = 'segment' ORDER BY id",
        (session_id,),
    ):
        marks.append((float(t_s), len(kinds) if index is None else int(index)))
    if not marks:
        return None
    tally = SegmentTally(kinds)
    index, k = 0, 0
    prev_t: float | None = None
    prev_moving = False
    for t_s, actual, walking in conn.execute(
        "SELECT t_s, actual_kmh, direction FROM samples WHERE session_id = ? ORDER BY t_s, rowid",
        (session_id,),
    ):
        while k < len(marks) and marks[k][0] <= t_s + 1e-9:
            index = marks[k][1]
            k += 1
        moving = actual is not None and actual > standstill_kmh
        dt = 0.0 if prev_t is None else t_s - prev_t
        if dt > MAX_GAP_S and (moving or prev_moving):
            return None  # samples lost while the belt moved
        if moving:
            tally.add(index, walking, actual, dt)
        prev_t, prev_moving = t_s, moving
    if prev_moving:
        return None  # the samples end while the belt still moved
    return tally


def recount_turn_round(conn: sqlite3.Connection) -> None:
    """Schema 6's step: recompute (or mark unknown) every session credited by the belt."""
    sessions = conn.execute(
        f"SELECT id, coalesce(standstill_kmh, {DEFAULT_STANDSTILL_KMH}) FROM sessions"
    ).fetchall()
    for session_id, standstill in sessions:
        segments = [
            (int(i), str(kind), float(moving))
            for i, kind, moving in conn.execute(
                "SELECT idx, kind, moving_s FROM segment_results WHERE session_id = ? ORDER BY idx",
                (session_id,),
            )
        ]
        if not segments or not _needs_recount(conn, session_id, segments, standstill):
            continue
        tally = recount_session(conn, session_id, [kind for _, kind, _ in segments], standstill)
        if tally is None:
            conn.execute(
                "UPDATE sessions SET segments_recount = ? WHERE id = ?", (UNKNOWN, session_id)
            )
            continue
        conn.executemany(
            "UPDATE segment_results SET moving_s = ?, distance_m = ? "
            "WHERE session_id = ? AND idx = ?",
            [
                (tally.moving_s[n], tally.metres[n], session_id, idx)
                for n, (idx, _, _) in enumerate(segments)
            ],
        )
        conn.execute(
            "UPDATE sessions SET segments_recount = ? WHERE id = ?", (RECOMPUTED, session_id)
        )
