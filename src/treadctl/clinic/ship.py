"""Store and forward: the treadmill's SQLite file is the outbox, PostgreSQL the clinic's records.

A pass ships every session whose outbox row says it changed since it was last shipped
(`version` != `shipped_version`, kept by triggers in treadctl.store.schema) and every
running session: its row, segment results, and the samples and events past the marks
already shipped, in batches. Each batch is read from one SQLite snapshot and written in
one PostgreSQL transaction; the marks move only after that transaction committed. A
batch shipped twice (the shipper killed between the commit and the marks) is stored
once: every row has its key (see treadctl.clinic.schema) and an older copy of a session
row never overwrites a newer one (`local_version`).

A pass first marks the sessions of dead controllers "interrupted" (as opening the file
does), so a controller killed mid-session arrives interrupted, with its samples up to
the kill. The shipper runs in its own thread or process (`treadctl records ship`),
never in the control loop; a clinic server that cannot be reached is retried with
back-off, the file keeps everything meanwhile.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psycopg

from treadctl.clinic.connect import ClinicUnreachableError, Conn, connect, redact
from treadctl.clinic.limits import BATCH_ROWS, PERIOD_S, RETRY_MAX_S, RETRY_MIN_S
from treadctl.clinic.schema import migrate
from treadctl.store.db import DatabaseError, open_db, recover_interrupted
from treadctl.store.timeutil import utc_iso

NOT_SHIPPED = ("notes",)  # patient-file fields that stay on the treadmill: free text

log = logging.getLogger("treadctl.clinic.ship")

_SESSION_COLUMNS = (
    "patient_json", "kind", "profile_name", "profile_sha256", "profile_text", "machine_name",
    "started", "ended", "status", "outcome", "planned_s", "summary_json", "host", "pid",
    "heartbeat", "prescription_json", "standstill_kmh", "rpe", "rpe_scale", "rpe_recorded",
    "simulated", "moved", "segments_recount",
)  # fmt: skip
_SAMPLE_COLUMNS = (
    "t_s", "target_kmh", "setpoint_kmh", "actual_kmh", "direction", "incline_pct",
    "rail_left", "rail_right", "heart_rate_bpm", "mode", "incline_target_pct", "belt_direction",
)  # fmt: skip
_SEGMENT_COLUMNS = (
    "idx", "label", "kind", "target_kmh", "planned_s", "moving_s", "distance_m", "completed",
    "progress",
)  # fmt: skip
_PATIENT_COLUMNS = (
    "pseudonym", "comfortable_forward_kmh", "max_forward_kmh", "max_backward_kmh", "created",
    "updated",
)  # fmt: skip


def _placeholders(n: int) -> str:
    return ", ".join(["%s"] * n)


_UPSERT_SESSION = (
    "INSERT INTO sessions (treadmill_id, local_uuid, local_id, local_version, patient_id, "
    f"{', '.join(_SESSION_COLUMNS)}) VALUES ({_placeholders(5 + len(_SESSION_COLUMNS))}) "
    "ON CONFLICT (treadmill_id, local_uuid) DO UPDATE SET local_version = "
    "EXCLUDED.local_version, local_id = EXCLUDED.local_id, patient_id = EXCLUDED.patient_id, "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _SESSION_COLUMNS)
    + ", shipped = now() WHERE sessions.local_version <= EXCLUDED.local_version"
)
_UPSERT_SEGMENT = (
    f"INSERT INTO segment_results (session_id, {', '.join(_SEGMENT_COLUMNS)}) "
    f"VALUES ({_placeholders(1 + len(_SEGMENT_COLUMNS))}) ON CONFLICT (session_id, idx) "
    "DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in _SEGMENT_COLUMNS if c != "idx")
)
_INSERT_SAMPLE = (
    f"INSERT INTO samples (session_id, seq, {', '.join(_SAMPLE_COLUMNS)}) "
    f"VALUES ({_placeholders(2 + len(_SAMPLE_COLUMNS))}) ON CONFLICT DO NOTHING"
)
_INSERT_EVENT = (
    "INSERT INTO events (session_id, seq, t_s, wall, kind, record) "
    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
)
_UPSERT_PATIENT = (
    f"INSERT INTO patients ({', '.join(_PATIENT_COLUMNS)}) "
    f"VALUES ({_placeholders(len(_PATIENT_COLUMNS))}) ON CONFLICT (pseudonym) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _PATIENT_COLUMNS[1:] if c != "created")
    + " WHERE patients.updated <= EXCLUDED.updated"
)
# Sessions to ship: changed since last shipped, or still running (samples may have come).
_PENDING = (
    "SELECT o.session_id FROM outbox o JOIN sessions s ON s.id = o.session_id "
    "WHERE o.version != o.shipped_version OR s.status = 'running' ORDER BY o.session_id"
)


@dataclass
class ShipReport:
    """What one pass shipped; `failed` names sessions the clinic refused (kept pending)."""

    sessions: int = 0
    samples: int = 0
    events: int = 0
    failed: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Batch:
    """One session's rows past the marks, as read from one snapshot of the file.

    `session` holds uuid, id, version and every shipped session column (patient_json
    already without its free text); samples are (seq, *columns), events (seq, t_s, wall,
    kind, record), segments the segment-result columns. This is what crosses the wire
    (treadctl.clinic.wire) when shipping over MQTT.
    """

    session: dict[str, Any]
    patient: dict[str, Any] | None
    segments: list[tuple[Any, ...]]
    samples: list[tuple[Any, ...]]
    events: list[tuple[Any, ...]]
    complete: bool  # nothing past this batch was in the snapshot


class BatchRefusedError(Exception):
    """The records refused this batch (a bad value): its session stays pending, the
    others still go."""


class Sink(Protocol):
    """Where batches go: PostgreSQL directly, or the clinic's broker and an ingester.

    `write` returns only once the batch is committed in the records; it raises
    ClinicUnreachableError when that cannot be known (retried later: nothing is marked),
    BatchRefusedError when the records refused it."""

    @property
    def where(self) -> str: ...

    def write(self, batch: Batch) -> None: ...

    def close(self) -> None: ...


def _shippable_patient_json(text: str | None) -> str | None:
    """The session's copy of the patient file without its free text (pseudonym only)."""
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return json.dumps({k: v for k, v in data.items() if k not in NOT_SHIPPED})


class Shipper:
    """Ships one treadmill's local file to the clinic's records."""

    def __init__(
        self,
        local_db: Path,
        url: str,
        treadmill_id: str,
        *,
        batch_rows: int = BATCH_ROWS,
        sink: Sink | None = None,
    ) -> None:
        """`url` is the records' postgresql:// URL (ignored when a `sink` is given, e.g.
        treadctl.clinic.mqtt_ship.MqttSink)."""
        if batch_rows < 1:
            raise ValueError("batch_rows must be at least 1")
        self.local_db = local_db
        self.treadmill_id = treadmill_id
        self.batch_rows = batch_rows
        self.sink: Sink = sink if sink is not None else PgSink(url, treadmill_id)
        self._local: sqlite3.Connection | None = None

    @property
    def where(self) -> str:
        return self.sink.where

    def close(self) -> None:
        if self._local is not None:
            self._local.close()
            self._local = None
        self.sink.close()

    def _local_conn(self) -> sqlite3.Connection | None:
        """The treadmill's file (None while it does not exist: nothing recorded yet)."""
        if self._local is None:
            if not self.local_db.is_file():
                return None
            self._local = open_db(self.local_db, create=False)
        return self._local

    def pending(self) -> list[int]:
        """Local ids of the sessions the next pass ships."""
        local = self._local_conn()
        if local is None:
            return []
        return [int(r[0]) for r in local.execute(_PENDING)]

    def ship_once(self) -> ShipReport:
        """One pass over the outbox. Raises ClinicUnreachableError when the clinic's server
        cannot be reached (nothing is lost: the marks did not move), DatabaseError for the
        local file."""
        report = ShipReport()
        local = self._local_conn()
        if local is None:
            return report
        try:
            recover_interrupted(local)
            pending = self.pending()
        except sqlite3.Error as exc:
            raise DatabaseError(self.local_db, f"cannot read the outbox: {exc}") from exc
        for session_id in pending:
            try:
                self._ship_session(local, session_id, report)
            except BatchRefusedError as exc:
                # this session is refused (a bad value); the others still go
                report.failed[session_id] = str(exc)
            except sqlite3.Error as exc:
                raise DatabaseError(self.local_db, f"cannot read session: {exc}") from exc
        return report

    def _ship_session(self, local: sqlite3.Connection, session_id: int, report: ShipReport) -> None:
        counted = False
        while True:
            read = self._read(local, session_id)
            if read is None:
                return  # deleted meanwhile
            batch, marks = read
            self.sink.write(batch)
            samples_mark = batch.samples[-1][0] if batch.samples else marks[0]
            events_mark = batch.events[-1][0] if batch.events else marks[1]
            local.execute(
                "UPDATE outbox SET samples_rowid = max(samples_rowid, ?), "
                "events_id = max(events_id, ?), shipped = ?, shipped_version = "
                "CASE WHEN ? THEN ? ELSE shipped_version END WHERE session_id = ?",
                (
                    samples_mark,
                    events_mark,
                    utc_iso(time.time()),
                    batch.complete,
                    batch.session["version"],
                    session_id,
                ),
            )
            report.samples += len(batch.samples)
            report.events += len(batch.events)
            if not counted:
                report.sessions += 1
                counted = True
            if batch.complete:
                return

    def _read(
        self, local: sqlite3.Connection, session_id: int
    ) -> tuple[Batch, tuple[int, int]] | None:
        """One batch of the session from one snapshot of the file."""
        local.execute("BEGIN")
        try:
            cur = local.execute(
                "SELECT s.*, o.version, o.samples_rowid, o.events_id FROM sessions s "
                "JOIN outbox o ON o.session_id = s.id WHERE s.id = ?",
                (session_id,),
            )
            names = [d[0] for d in cur.description]
            row = cur.fetchone()
            if row is None:
                return None
            session = dict(zip(names, row, strict=True))
            patient = None
            if session["patient_id"] is not None:
                cur = local.execute(
                    f"SELECT {', '.join(_PATIENT_COLUMNS)} FROM patients WHERE id = ?",
                    (session["patient_id"],),
                )
                prow = cur.fetchone()
                patient = dict(zip(_PATIENT_COLUMNS, prow, strict=True)) if prow else None
            segments = local.execute(
                f"SELECT {', '.join(_SEGMENT_COLUMNS)} FROM segment_results "
                "WHERE session_id = ? ORDER BY idx",
                (session_id,),
            ).fetchall()
            samples = local.execute(
                f"SELECT rowid, {', '.join(_SAMPLE_COLUMNS)} FROM samples "
                "WHERE session_id = ? AND rowid > ? ORDER BY rowid LIMIT ?",
                (session_id, session["samples_rowid"], self.batch_rows),
            ).fetchall()
            events = local.execute(
                "SELECT id, t_s, wall, kind, record FROM events "
                "WHERE session_id = ? AND id > ? ORDER BY id LIMIT ?",
                (session_id, session["events_id"], self.batch_rows),
            ).fetchall()
        finally:
            local.execute("COMMIT")
        complete = len(samples) < self.batch_rows and len(events) < self.batch_rows
        shipped = {
            "uuid": session["uuid"],
            "id": session["id"],
            "version": session["version"],
            **{c: session[c] for c in _SESSION_COLUMNS},
            "patient_json": _shippable_patient_json(session["patient_json"]),
        }
        batch = Batch(
            shipped,
            patient,
            [tuple(r) for r in segments],
            [tuple(r) for r in samples],
            [tuple(r) for r in events],
            complete,
        )
        return batch, (int(session["samples_rowid"]), int(session["events_id"]))


class PgSink:
    """Batches straight into PostgreSQL (the clinic's records' URL)."""

    def __init__(self, url: str, treadmill_id: str) -> None:
        self.url = url
        self.treadmill_id = treadmill_id
        self._clinic: Conn | None = None

    @property
    def where(self) -> str:
        return redact(self.url)

    def close(self) -> None:
        if self._clinic is not None:
            self._clinic.close()
            self._clinic = None

    def _conn(self) -> Conn:
        if self._clinic is None or self._clinic.closed:
            conn = connect(self.url)
            try:
                migrate(conn)
            except psycopg.Error as exc:
                conn.close()
                raise ClinicUnreachableError(self.where, f"cannot migrate: {exc}") from exc
            except BaseException:
                conn.close()
                raise
            self._clinic = conn
        return self._clinic

    def write(self, batch: Batch) -> None:
        clinic = self._conn()
        try:
            write_batch(clinic, self.treadmill_id, batch)
        except (psycopg.IntegrityError, psycopg.DataError) as exc:
            raise BatchRefusedError(str(exc).strip().splitlines()[0]) from exc
        except psycopg.Error as exc:
            self.close()
            raise ClinicUnreachableError(self.where, f"shipping failed: {exc}") from exc


def write_batch(clinic: Conn, treadmill_id: str, batch: Batch) -> None:
    """The batch in one transaction, every row keyed: a second copy changes nothing.

    `treadmill_id` is the sender's (the shipper's own, or the ingester's topic's)."""
    s = batch.session
    with clinic.transaction():
        clinic.execute(
            "INSERT INTO treadmills (id) VALUES (%s) "
            "ON CONFLICT (id) DO UPDATE SET last_seen = now()",
            (treadmill_id,),
        )
        patient_id = None
        if batch.patient is not None:
            p = batch.patient
            clinic.execute(_UPSERT_PATIENT, tuple(p[c] for c in _PATIENT_COLUMNS))
            got = clinic.execute(
                "SELECT id FROM patients WHERE pseudonym = %s", (p["pseudonym"],)
            ).fetchone()
            patient_id = got[0] if got else None
        cur = clinic.execute(
            _UPSERT_SESSION,
            (
                treadmill_id,
                s["uuid"],
                s["id"],
                s["version"],
                patient_id,
                *(s[c] for c in _SESSION_COLUMNS),
            ),
        )
        newer = cur.rowcount == 1
        got = clinic.execute(
            "SELECT id FROM sessions WHERE treadmill_id = %s AND local_uuid = %s",
            (treadmill_id, s["uuid"]),
        ).fetchone()
        assert got is not None
        gid = got[0]
        with clinic.cursor() as c:
            if newer:
                c.executemany(_UPSERT_SEGMENT, [(gid, *g) for g in batch.segments])
            if batch.samples:
                c.executemany(_INSERT_SAMPLE, [(gid, *r) for r in batch.samples])
            if batch.events:
                c.executemany(_INSERT_EVENT, [(gid, *r) for r in batch.events])


class ShipperThread:
    """The shipper in a thread of its own: passes every `period_s`, back-off on failure.

    `start()`/`stop()` never wait on the clinic's server for longer than one statement's
    timeout; the control loop never calls into it.
    """

    def __init__(
        self,
        shipper: Shipper,
        *,
        period_s: float = PERIOD_S,
        retry_min_s: float = RETRY_MIN_S,
        retry_max_s: float = RETRY_MAX_S,
        on_report: Callable[[ShipReport], None] | None = None,
    ) -> None:
        self.shipper = shipper
        self.period_s = period_s
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.on_report = on_report
        self.problem: str | None = None  # the last failure, None once a pass succeeded
        self.passes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="clinic-shipper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        try:
            run_shipper(
                self.shipper,
                self._stop,
                period_s=self.period_s,
                retry_min_s=self.retry_min_s,
                retry_max_s=self.retry_max_s,
                on_report=self._report,
                on_problem=self._problem,
            )
        finally:
            self.shipper.close()

    def _report(self, report: ShipReport) -> None:
        self.passes += 1
        self.problem = None
        if self.on_report is not None:
            self.on_report(report)

    def _problem(self, reason: str) -> None:
        self.problem = reason


def run_shipper(
    shipper: Shipper,
    stop: threading.Event,
    *,
    period_s: float = PERIOD_S,
    retry_min_s: float = RETRY_MIN_S,
    retry_max_s: float = RETRY_MAX_S,
    on_report: Callable[[ShipReport], None] | None = None,
    on_problem: Callable[[str], None] | None = None,
) -> None:
    """Pass after pass until `stop` is set; after a failure wait, doubling up to the max.

    A failure is logged once when it starts and once when shipping works again.
    """
    wait_s = retry_min_s
    failing: str | None = None
    while not stop.is_set():
        try:
            report = shipper.ship_once()
        except (ClinicUnreachableError, DatabaseError) as exc:
            if failing is None:
                log.warning("clinic records: %s; retrying with back-off", exc)
            failing = str(exc)
            if on_problem is not None:
                on_problem(failing)
            stop.wait(wait_s)
            wait_s = min(retry_max_s, wait_s * 2)
            continue
        if failing is not None:
            log.warning("clinic records: shipping to %s again", shipper.where)
            failing = None
        wait_s = retry_min_s
        if on_report is not None:
            on_report(report)
        for sid, why in report.failed.items():
            log.warning("clinic records refused session %s: %s", sid, why)
        # a pass ships each session up to its snapshot's end, backlog included: the next
        # pass is due after the period (a running session is not polled back to back)
        stop.wait(period_s)
