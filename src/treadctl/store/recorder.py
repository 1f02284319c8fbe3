"""Recording a session into the database without ever delaying a control cycle.

The control loop calls `cycle()` once per cycle: a few additions for the per-segment
totals and, every 0.1 s, one append of a small tuple to a bounded deque. Event
records arrive the same way from the EventLog (a sink). Everything else (opening
the database, SQL, commits) happens in the writer thread, which commits every
`flush_s` (0.25 s by default), so a controller killed with SIGKILL loses well under
a second of samples.

When the database cannot be opened or written (disk full, locked, read-only) the
writer logs the failure once to the event log, drops what it cannot write, tries
again every `RETRY_S`, and the loop reads a warning for the session summary from
`warnings()`. The control loop never waits for the database and never sees its
errors.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from treadctl.clock import Clock
from treadctl.config.patient import PatientConfig
from treadctl.control.summary import SessionSummary
from treadctl.protocol.plan import PlannedSegment
from treadctl.protocol.progression import Prescription
from treadctl.safety.incline import InclineOutputs
from treadctl.safety.types import (
    DriveStatus,
    Mode,
    Reason,
    SafetyIO,
    SafetyOutputs,
)
from treadctl.store.db import DatabaseError, dumps, open_db, upsert_patient
from treadctl.store.eventlog import EventLog
from treadctl.store.schema import mark_session
from treadctl.store.tally import SegmentTally
from treadctl.store.timeutil import utc_iso

SAMPLE_PERIOD_S = 0.1  # 10 Hz
FLUSH_S = 0.25  # the writer commits at least this often while records arrive
RETRY_S = 5.0  # a failing database is tried again after this long
MAX_QUEUE = 100_000  # records waiting for the writer; more are dropped (and counted)
SEGMENT_UPDATE_SAMPLES = 10  # the current segment's totals are written once a second

_SAMPLE, _EVENT, _SEGMENT, _END = 0, 1, 2, 3

_INSERT_SAMPLE = (
    "INSERT INTO samples (session_id, t_s, target_kmh, setpoint_kmh, actual_kmh, direction, "
    "belt_direction, incline_pct, incline_target_pct, rail_left, rail_right, heart_rate_bpm, "
    "mode) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True)
class SessionInfo:
    """What the session row says about the session before it runs."""

    kind: str  # "run" or "simulate"
    profile_name: str
    machine_name: str
    segments: tuple[PlannedSegment, ...]
    patient: PatientConfig | None = None
    profile_text: str | None = None
    prescription: Prescription | None = None  # what set the progressing segments, if given

    @property
    def planned_s(self) -> float:
        return sum(s.duration_s for s in self.segments)


def session_status(summary: SessionSummary) -> str:
    if summary.outcome == "completed":
        return "completed"
    if summary.final_mode is Mode.FAULTED and summary.final_reasons != (Reason.POWER_ON,):
        return "faulted"
    return "stopped"  # an idle session still holding only the power-on latch is no fault


class SessionRecorder:
    def __init__(
        self,
        path: Path,
        info: SessionInfo,
        events: EventLog,
        clock: Clock,
        standstill_kmh: float,
        *,
        flush_s: float = FLUSH_S,
        busy_timeout_s: float = 5.0,
        max_queue: int = MAX_QUEUE,
    ) -> None:
        self.path = path
        self._info = info
        self._events = events
        self._clock = clock
        self._standstill = standstill_kmh
        self._flush_s = flush_s
        self._busy_timeout_s = busy_timeout_s
        self._max_queue = max_queue
        self._queue: deque[tuple[Any, ...]] = deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._ended = False
        # state of the loop's thread
        self._t0 = clock.now()
        self._started_wall = clock.wall_time()
        self._last_now: float | None = None
        self._k = 0
        self._next_sample = float("-inf")
        self._tally = SegmentTally([s.kind.value for s in info.segments])
        self._completed = [False] * len(info.segments)
        self._index = 0
        self._samples_since_update = 0
        # the powered incline as its last cycle left it (actual, target %); None: none
        self._incline_actual: float | None = None
        self._incline_target: float | None = None
        self._full = [0, 0, 0]  # samples, events, segment results dropped: writer behind
        # state of the writer's thread
        self._conn: sqlite3.Connection | None = None
        self.session_id: int | None = None
        self.problem: str | None = None  # the first failure's reason
        self._failing = False
        self._retry_at = 0.0
        self._kept: list[tuple[Any, ...]] = []  # segment results and the end, not yet written
        self.dropped_samples = 0
        self.dropped_events = 0
        self.samples_written = 0
        self.events_written = 0
        events.add_sink(self.event)

    # --- called by the control loop (its thread): cheap, never blocking, never raising ---

    def start(self, t0: float, wall_s: float) -> None:
        """The session starts: sample times count from t0; the writer thread starts."""
        if self._thread is not None or self._closed:
            return
        self._t0, self._started_wall = t0, wall_s
        self._last_now = t0
        self._thread = threading.Thread(target=self._writer, name="recorder", daemon=True)
        self._thread.start()

    def cycle(
        self,
        now: float,
        out: SafetyOutputs,
        setpoint_kmh: float,
        drive: DriveStatus | None,
        io: SafetyIO | None,
        heart_rate_bpm: float | None,
        segment_index: int,
    ) -> None:
        try:
            last = self._last_now
            dt = 0.0 if last is None else now - last
            self._last_now = now
            if segment_index != self._index:
                self._segment_changed(segment_index)
            actual = None
            if drive is not None:
                actual = drive.actual_speed_kmh
                if actual > self._standstill:
                    # the walker's direction, as the summary counts it (not the belt's)
                    left = self._tally.add(segment_index, out.direction, actual, dt)
                    if left is not None:
                        self._put_segment(left)
            if now < self._next_sample:
                return
            t_s = now - self._t0
            self._k = max(self._k + 1, int(t_s / SAMPLE_PERIOD_S + 1e-6) + 1)
            self._next_sample = self._t0 + self._k * SAMPLE_PERIOD_S - 1e-6
            left = right = None
            if io is not None:
                left, right = io.rail_left, io.rail_right
            belt = drive.direction.value if drive is not None else None  # only when sampled
            self._put(
                (
                    _SAMPLE,
                    t_s,
                    out.target_kmh,
                    setpoint_kmh,
                    actual,
                    out.direction.value,
                    belt,
                    self._incline_actual,
                    self._incline_target,
                    left,
                    right,
                    heart_rate_bpm,
                    out.mode.value,
                )
            )
            self._samples_since_update += 1
            owner = self._tally.owner
            if self._samples_since_update >= SEGMENT_UPDATE_SAMPLES and owner is not None:
                self._samples_since_update = 0
                self._put_segment(owner)
        except Exception as exc:  # a recorder bug must not end the session
            self._note_problem(f"recorder error: {exc!r}")

    def incline_cycle(self, now: float, incline: InclineOutputs) -> None:
        """The powered incline this cycle (the loop calls it after `cycle`): kept for the
        next sample, so a sample's incline is at most one cycle older than its speed."""
        del now
        self._incline_actual = incline.actual_pct
        self._incline_target = incline.target_pct

    def warnings(self) -> tuple[str, ...]:
        """The summary's warning when records were lost so far; empty when all is well."""
        lost_samples, lost_events = self.lost()
        if self.problem is None and lost_samples == 0 and lost_events == 0:
            return ()
        why = self.problem or "the database writer fell behind"
        return (
            f"session record INCOMPLETE in {self.path}: {why}; {lost_samples} samples and "
            f"{lost_events} events not recorded (the control loop was not affected)",
        )

    def lost(self) -> tuple[int, int]:
        """Samples and events not recorded so far."""
        return self.dropped_samples + self._full[0], self.dropped_events + self._full[1]

    def end(self, summary: SessionSummary) -> None:
        """The session ended with this summary (at standstill): write its final state."""
        if self._ended or self._closed:
            return
        self._ended = True
        for i in range(len(self._tally)):
            self._put_segment(i)
        ended = utc_iso(self._clock.wall_time())
        self._queue.append((_END, ended, session_status(summary), summary.outcome, summary))

    # --- called from any thread ---

    def event(self, record: dict[str, Any]) -> None:
        """EventLog sink: hand the record to the writer."""
        if not self._closed:
            self._put((_EVENT, record))

    def close(self, status: str = "interrupted", outcome: str | None = None) -> None:
        """Write what is queued, close the database, join the writer (bounded).

        Without a previous `end()` the session is closed with `status` and `outcome`
        (a controller error, a failed connect).
        """
        if self._closed:
            return
        if not self._ended and self._thread is not None:
            self._ended = True
            for i in range(len(self._tally)):
                self._put_segment(i)
            why = outcome or "the controller ended without a session summary"
            self._queue.append((_END, utc_iso(self._clock.wall_time()), status, why, None))
        self._closed = True
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=3 * self._busy_timeout_s + 5)
            self._thread = None

    # --- the loop's helpers ---

    def _put(self, item: tuple[Any, ...]) -> None:
        if len(self._queue) >= self._max_queue:
            self._full[item[0]] += 1
            return
        self._queue.append(item)

    def _put_segment(self, i: int) -> None:
        tally = self._tally
        self._put((_SEGMENT, i, tally.moving_s[i], tally.metres[i], self._completed[i]))

    def _segment_changed(self, new: int) -> None:
        for i in range(self._index, min(new, len(self._completed))):
            self._completed[i] = True  # the sequencer moves on only when a segment is done
            self._put_segment(i)
        self._index = new

    def _note_problem(self, reason: str) -> None:
        if self.problem is None:
            self.problem = reason

    # --- the writer thread ---

    def _writer(self) -> None:
        try:
            while True:
                stopping = self._stop.wait(self._flush_s)
                self._flush(final=stopping)
                if stopping:
                    self._flush(final=True)  # what arrived while the last batch was written
                    break
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _flush(self, final: bool) -> None:
        batch, self._kept = self._kept, []
        queue = self._queue
        while queue:
            batch.append(queue.popleft())
        if not batch:
            return
        if self._failing and not final and time.monotonic() < self._retry_at:
            self._drop(batch)
            return
        try:
            self._write(batch)
        except Exception as exc:
            conn = self._conn
            if conn is not None and conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    conn.close()
                    self._conn = None
            self._drop(batch)
            self._failed(exc)
            return
        if self._failing:
            self._failing = False
            self._log(
                f"session record: writing to {self.path} again; so far {self.dropped_samples} "
                f"samples and {self.dropped_events} events were not recorded"
            )

    def _write(self, batch: list[tuple[Any, ...]]) -> None:
        conn = self._conn
        if conn is None:
            conn = self._conn = open_db(self.path, busy_timeout_s=self._busy_timeout_s)
        conn.execute("BEGIN IMMEDIATE")
        session_id = self.session_id
        if session_id is None:
            session_id = self._create_session(conn)
        samples: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        segments: dict[int, tuple[Any, ...]] = {}
        end: tuple[Any, ...] | None = None
        for item in batch:
            tag = item[0]
            if tag == _SAMPLE:
                samples.append((session_id, round(item[1], 3), *item[2:]))
            elif tag == _EVENT:
                r = item[1]
                events.append((session_id, r["t_s"], r["wall"], r["kind"], dumps(r)))
            elif tag == _SEGMENT:
                segments[item[1]] = (item[2], item[3], int(item[4]), session_id, item[1])
            else:
                end = item
        conn.executemany(_INSERT_SAMPLE, samples)
        conn.executemany(
            "INSERT INTO events (session_id, t_s, wall, kind, record) VALUES (?, ?, ?, ?, ?)",
            events,
        )
        conn.executemany(
            "UPDATE segment_results SET moving_s = ?, distance_m = ?, completed = ? "
            "WHERE session_id = ? AND idx = ?",
            segments.values(),
        )
        conn.execute(
            "UPDATE sessions SET heartbeat = ? WHERE id = ?", (utc_iso(time.time()), session_id)
        )
        if end is None and any(e[3] == "connect" for e in events):
            mark_session(conn, session_id, ended=False)  # a simulated drive shows from now
        if end is not None:
            _, ended, status, outcome, summary = end
            summary_json = None
            if summary is not None:
                warnings = list(self.warnings()) or list(summary.warnings)
                summary_json = dumps({**summary.to_dict(), "warnings": warnings})
            conn.execute(
                "UPDATE sessions SET ended = ?, status = ?, outcome = ?, summary_json = ? "
                "WHERE id = ?",
                (ended, status, outcome, summary_json, session_id),
            )
            mark_session(conn, session_id, ended=True)
        conn.execute("COMMIT")
        self.session_id = session_id
        self.samples_written += len(samples)
        self.events_written += len(events)

    def _create_session(self, conn: sqlite3.Connection) -> int:
        info = self._info
        patient_id = patient_json = None
        if info.patient is not None:
            patient_id, done = upsert_patient(conn, info.patient)
            patient_json = dumps(info.patient.model_dump(mode="json"))
            if done.startswith("updated"):
                self._log(f"patient {info.patient.pseudonym} record {done}")
        text = info.profile_text
        digest = hashlib.sha256(text.encode()).hexdigest() if text is not None else None
        rx = info.prescription
        prescription_json = None
        if rx is not None:
            prescription_json = dumps(
                {
                    "target_kmh": rx.target_kmh,
                    "bout_s": rx.bout_s,
                    "change": rx.change.value,
                    "reason": rx.reason,
                }
            )
        cur = conn.execute(
            "INSERT INTO sessions (patient_id, patient_json, kind, profile_name, "
            "profile_sha256, profile_text, machine_name, started, status, planned_s, "
            "host, pid, heartbeat, prescription_json, standstill_kmh) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)",
            (
                patient_id,
                patient_json,
                info.kind,
                info.profile_name,
                digest,
                text,
                info.machine_name,
                utc_iso(self._started_wall),
                info.planned_s,
                socket.gethostname(),
                os.getpid(),
                utc_iso(time.time()),
                prescription_json,
                self._standstill,
            ),
        )
        assert cur.lastrowid is not None
        session_id = cur.lastrowid
        mark_session(conn, session_id, ended=False)
        conn.executemany(
            "INSERT INTO segment_results "
            "(session_id, idx, label, kind, target_kmh, planned_s, progress) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    session_id,
                    s.index,
                    s.label,
                    s.kind.value,
                    s.target_kmh,
                    s.duration_s,
                    int(s.progress),
                )
                for s in info.segments
            ],
        )
        return session_id

    def _drop(self, batch: list[tuple[Any, ...]]) -> None:
        """Count the samples and events lost; keep the latest segment results and the end
        (a few small items) for the next attempt, so a session is never left unclosed."""
        segments: dict[int, tuple[Any, ...]] = {}
        end: list[tuple[Any, ...]] = []
        for item in batch:
            tag = item[0]
            if tag == _SAMPLE:
                self.dropped_samples += 1
            elif tag == _EVENT:
                self.dropped_events += 1
            elif tag == _SEGMENT:
                segments[item[1]] = item
            else:
                end = [item]
        self._kept = [*segments.values(), *end]

    def _failed(self, exc: Exception) -> None:
        reason = exc.reason if isinstance(exc, DatabaseError) else str(exc) or repr(exc)
        self._note_problem(reason)
        self._retry_at = time.monotonic() + RETRY_S
        if not self._failing:
            self._failing = True
            self._log(
                f"session record: cannot write {self.path}: {reason}; records are dropped "
                "while this lasts (the session goes on)"
            )

    def _log(self, text: str) -> None:
        """A warning in the event log (and, through the sink, in the database)."""
        clock = self._clock
        self._events.write(clock.now() - self._t0, clock.wall_time(), "warning", text=text)
