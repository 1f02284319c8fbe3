"""A patient's recorded sessions of one profile, as the progression's `SessionResult`s.

Which sessions: those of the patient (by pseudonym) with the profile's name, of one kind,
oldest first. `treadctl run --progress` reads the "run" sessions and `treadctl simulate
--progress` the "simulate" ones: a rehearsal on the simulator is not the patient walking,
and the simulated patient's hands never leave the rails unless a scenario says so.

Why the profile's name and not its file's SHA-256: the file is edited in ordinary use (a
comment, the description, a typo, the warm-up), and matching by hash would restart the
patient's progression at the profile's first target after every edit and forget the
safety stops before it. The name is what the clinic calls the protocol. The hash is still
used: a session recorded with another version of the file is marked in the history, and
whatever the history says, the next prescription is checked against the current file's
rules and caps (`build_plan`) before anything moves.

How a session counts (the progression's `Outcome`):

- safety_stop: any latched fault, that is any interlock transition into "faulted" with a
  reason other than the power-on latch (e-stop chain, safety key, inputs or drive lost,
  drive fault, runaway, overspeed, wrong direction), also one added while the interlock was
  already faulted; any safety-triggered controlled stop (handrails released on a
  hold-to-run segment, heart rate above the limit or lost); a session that ended faulted;
  and an interrupted session (the controller died: the belt was stopped by the drive's own
  watchdog, not by a controlled stop, and what happened after the record ends is unknown).
  It counts even when the session then completed. The transitions come from the recorded
  events and from the session summary's stops, whichever has them.
- completed: status completed and none of the above.
- incomplete: any other ended session (stopped by the operator, time limit).
- not counted: a session still running, and one in which the belt never moved and nothing
  tripped (the drive could not be connected, the session was abandoned before the first
  start): the patient did not walk.

The figures:

- backward_s: the moving time of the backward segments (segment results).
- rail_contact_s: the 10 Hz samples in which the belt moves backward with a hand on either
  rail, 0.1 s each (a rail that was not read counts as held). Backward time missing from
  the samples (records dropped while the database could not be written) counts as rail
  contact: an incomplete record never makes the patient look more independent.
- backward_target_kmh: the progressing segments' planned target (the prescription's, when
  the session ran with one), lowered to the lowest speed the operator set during a
  progressing segment when that is lower: the patient walked no faster than that.
- bout_s: the progressing segments' planned length (used when the profile lengthens bouts).
- rpe: the rating recorded with `treadctl sessions rpe`, on its scale.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from treadctl.config.errors import ConfigError
from treadctl.config.loader import loads_toml
from treadctl.config.profile import ProfileConfig
from treadctl.protocol.progression import (
    Outcome,
    Prescription,
    ProgressionParams,
    SessionResult,
    next_prescription,
)
from treadctl.safety.types import Mode, Reason
from treadctl.store import queries

# The `X as X` imports (mypy's explicit re-export) give names that moved to modules the
# CLI's help reads without loading this one: the report and the tests import them here.
from treadctl.store.db import CLINIC_URL_SCHEMES as CLINIC_URL_SCHEMES  # noqa: PLC0414
from treadctl.store.db import DatabaseError, open_db
from treadctl.store.recorder import SAMPLE_PERIOD_S
from treadctl.store.recount import UNKNOWN
from treadctl.store.rpe import DEFAULT_RPE_SCALE as DEFAULT_RPE_SCALE  # noqa: PLC0414
from treadctl.store.rpe import RPE_SCALES as RPE_SCALES  # noqa: PLC0414
from treadctl.store.rpe import RpeError as RpeError  # noqa: PLC0414
from treadctl.store.rpe import RpeScale as RpeScale  # noqa: PLC0414

# Backward time the samples may miss without it counting as unrecorded: the 10 Hz sample
# grid against the cycle-accurate segment totals (a few tenths of a second a session).
UNRECORDED_TOLERANCE_S = 1.0
SAFETY_STOP_REASONS = frozenset(
    r.value for r in (Reason.RAILS_RELEASED, Reason.HEART_RATE_HIGH, Reason.HEART_RATE_LOST)
)
_EVENT_KINDS = ("transition", "command", "segment")
GUESSED_NOTE = "no progressing segment recorded: the slowest backward target is used"


@dataclass(frozen=True)
class PastSession:
    """One recorded session as the progression sees it."""

    session_id: int
    started: str  # UTC, ISO 8601
    status: str
    outcome: Outcome | None  # None: not counted
    grounds: str  # the outcome in words, or why the session does not count
    backward_s: float
    rail_contact_s: float
    target_kmh: float | None  # None: no backward segment recorded
    bout_s: float | None
    rpe: float | None = None
    rpe_scale: str | None = None
    unrecorded_s: float = 0.0  # backward time missing from the samples (counted as contact)
    notes: tuple[str, ...] = ()
    marks: tuple[str, ...] = ()  # not a clinic session: simulated, belt never moved

    @property
    def counted(self) -> bool:
        return self.outcome is not None and self.target_kmh is not None

    @property
    def rail_share(self) -> float | None:
        if self.backward_s <= 0:
            return None
        return min(1.0, max(0.0, self.rail_contact_s / self.backward_s))

    def result(self, lengthens: bool) -> SessionResult | None:
        """The progression's view; None when the session does not count."""
        if self.outcome is None or self.target_kmh is None:
            return None
        return SessionResult(
            self.outcome,
            self.backward_s,
            self.rail_contact_s,
            self.target_kmh,
            self.rpe,
            self.bout_s if lengthens else None,
        )


def mmss(seconds: float) -> str:
    m, s = divmod(max(seconds, 0.0), 60)
    return f"{int(m):02d}:{s:04.1f}"


def _safety_event(events: Sequence[dict[str, Any]], summary: dict[str, Any] | None) -> str | None:
    """The first latched fault or safety-triggered stop, in words; None if there was none."""
    for r in events:
        if r["kind"] != "transition":
            continue
        reasons = [str(x) for x in r.get("reasons") or ()]
        at = mmss(float(r["t_s"]))
        if r["new"] == Mode.FAULTED.value and any(x != Reason.POWER_ON.value for x in reasons):
            faults = [x for x in reasons if x != Reason.POWER_ON.value]
            return f"latched fault at {at}: {', '.join(faults)}"
        safety = [x for x in reasons if x in SAFETY_STOP_REASONS]
        if safety:
            return f"safety stop at {at}: {', '.join(safety)}"
    # The summary keeps every stop even when events were dropped on the way to the database.
    for stop in (summary or {}).get("stops", ()):
        reasons = [str(x) for x in stop.get("reasons", ())]
        at = mmss(float(stop["at_s"]))
        if stop.get("kind") == "latched fault":
            return f"latched fault at {at}: {', '.join(reasons)}"
        safety = [x for x in reasons if x in SAFETY_STOP_REASONS]
        if safety:
            return f"safety stop at {at}: {', '.join(safety)}"
    return None


def _flags_from_text(profile_text: str | None, n: int) -> list[bool] | None:
    """Which expanded segments progress, from the profile text the session stored (for
    sessions recorded before the flag was); None if the text does not say."""
    if profile_text is None:
        return None
    try:
        profile = ProfileConfig.model_validate(loads_toml(profile_text, "stored profile"))
    except (ConfigError, ValidationError):
        return None
    flags = [
        spec.progress
        for block in profile.blocks
        for _ in range(block.repeats)
        for spec in block.segments
    ]
    return flags if len(flags) == n else None


def _progressing(
    segments: list[dict[str, Any]], profile_text: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The progressing segments, and a note when they had to be guessed."""
    flags: list[bool] | None = [bool(g["progress"]) for g in segments]
    if any(g["progress"] is None for g in segments):
        flags = _flags_from_text(profile_text, len(segments))
    if flags is not None:
        chosen = [g for g, f in zip(segments, flags, strict=True) if f]
        if chosen:
            return chosen, None
    backward = [g for g in segments if g["kind"] == "backward"]
    return backward, GUESSED_NOTE


def _operator_speeds(events: Sequence[dict[str, Any]], indices: set[int]) -> list[float]:
    """Speeds the operator set (accepted) while a progressing segment was current."""
    current: int | None = None
    speeds: list[float] = []
    for r in events:
        if r["kind"] == "segment":
            current = r.get("index")
        elif (
            r["kind"] == "command"
            and r.get("command") == "set_speed"
            and r.get("accepted")
            and current in indices
            and r.get("speed_kmh") is not None
        ):
            speeds.append(float(r["speed_kmh"]))
    return speeds


class SessionReader(Protocol):
    """Where a patient's sessions are read from: the treadmill's own file
    (queries.SqliteReader) or the clinic's records (treadctl.clinic.history)."""

    def patient(self, pseudonym: str) -> dict[str, Any] | None: ...

    def profile_sessions(
        self, patient_id: int, profile_name: str, kind: str, *, include_all: bool = False
    ) -> list[dict[str, Any]]: ...

    def segments(self, session_id: int) -> list[dict[str, Any]]: ...

    def events(
        self, session_id: int, kinds: Sequence[str] | None = None
    ) -> list[dict[str, Any]]: ...

    def backward_samples(self, session_id: int, standstill_kmh: float) -> tuple[int, int]: ...

    def moving_samples(self, session_id: int, standstill_kmh: float) -> int: ...


def _reader(conn: sqlite3.Connection | SessionReader) -> SessionReader:
    return queries.SqliteReader(conn) if isinstance(conn, sqlite3.Connection) else conn


def past_session(
    conn: sqlite3.Connection | SessionReader,
    s: dict[str, Any],
    standstill_kmh: float,
    profile_sha256: str | None = None,
) -> PastSession:
    """One session row (queries.sessions) read for the progression."""
    reader = _reader(conn)
    sid = int(s["id"])
    if s.get("standstill_kmh") is not None:
        standstill_kmh = float(s["standstill_kmh"])
    notes: list[str] = []
    segments = reader.segments(sid)
    events = reader.events(sid, _EVENT_KINDS)
    backward_s = sum(float(g["moving_s"]) for g in segments if g["kind"] == "backward")
    n_backward, n_rail = reader.backward_samples(sid, standstill_kmh)
    if s.get("segments_recount") == UNKNOWN:
        backward_s = n_backward * SAMPLE_PERIOD_S
        notes.append("segment times unknown (recorded before schema 6): backward time sampled")
    unrecorded = backward_s - n_backward * SAMPLE_PERIOD_S
    if unrecorded <= UNRECORDED_TOLERANCE_S:
        unrecorded = 0.0
    else:
        notes.append(f"{mmss(unrecorded)} of backward walking not sampled: counted as rail contact")
    rail_s = min(backward_s, n_rail * SAMPLE_PERIOD_S + unrecorded)

    chosen, guessed = _progressing(segments, s.get("profile_text"))
    if guessed is not None and chosen:
        notes.append(guessed)
    target: float | None = None
    bout: float | None = None
    if chosen:
        target = min(float(g["target_kmh"]) for g in chosen)
        bout = min(float(g["planned_s"]) for g in chosen)
        speeds = _operator_speeds(events, {int(g["idx"]) for g in chosen})
        if speeds:
            notes.append("operator set " + ", ".join(f"{v:.2f}" for v in speeds) + " km/h")
            target = min(target, *speeds)

    status = str(s["status"])
    moved = (
        sum(float(g["moving_s"]) for g in segments) > 0
        or reader.moving_samples(sid, standstill_kmh) > 0
    )
    safety = _safety_event(events, s.get("summary"))
    ended_as = s.get("outcome") or status
    outcome: Outcome | None
    if status == "running":
        outcome, grounds = None, "not counted: still running"
    elif safety is not None:
        outcome, grounds = Outcome.SAFETY_STOP, safety
    elif not moved:
        outcome, grounds = None, f"not counted: the belt never moved ({ended_as})"
    elif status == "interrupted":
        outcome, grounds = Outcome.SAFETY_STOP, "interrupted: the controller ended unexpectedly"
    elif status == "faulted":
        outcome, grounds = Outcome.SAFETY_STOP, f"ended faulted: {ended_as}"
    elif status == "completed":
        outcome, grounds = Outcome.COMPLETED, "completed"
    else:
        outcome, grounds = Outcome.INCOMPLETE, str(ended_as)
    if outcome is not None and target is None:
        outcome, grounds = None, "not counted: no backward segment recorded"
    if outcome is not None and s.get("simulated") and s.get("kind") == "run":
        outcome, grounds = None, "not counted: a demo run on the built-in simulator"

    stored = s.get("profile_sha256")
    if profile_sha256 is not None and stored is not None and stored != profile_sha256:
        notes.append(f"profile file changed since (sha256 {stored[:12]})")
    rpe = s.get("rpe")
    return PastSession(
        session_id=sid,
        started=str(s["started"]),
        status=status,
        outcome=outcome,
        grounds=grounds,
        backward_s=backward_s,
        rail_contact_s=rail_s,
        target_kmh=target,
        bout_s=bout,
        rpe=None if rpe is None else float(rpe),
        rpe_scale=s.get("rpe_scale"),
        unrecorded_s=unrecorded,
        notes=tuple(notes),
        # every "simulate" session is simulated: only a run's mark says something
        marks=tuple(m for m in queries.marks(s) if s.get("kind") == "run" or m != "simulated"),
    )


def load_history(
    conn: sqlite3.Connection | SessionReader,
    pseudonym: str,
    profile_name: str,
    kind: str,
    standstill_kmh: float,
    profile_sha256: str | None = None,
    *,
    include_all: bool = False,
) -> list[PastSession]:
    """The patient's sessions of the profile (by name) and kind, oldest first.

    `standstill_kmh` is used for sessions recorded before the database kept their own.
    Demo runs and sessions in which the belt never moved only with `include_all` (marked;
    they never count).
    """
    reader = _reader(conn)
    patient = reader.patient(pseudonym)
    if patient is None:
        return []
    rows = reader.profile_sessions(int(patient["id"]), profile_name, kind, include_all=include_all)
    return [past_session(reader, s, standstill_kmh, profile_sha256) for s in rows]


@dataclass(frozen=True)
class Progress:
    """The history, and the next session's prescription from it."""

    sessions: tuple[PastSession, ...]
    params: ProgressionParams
    prescription: Prescription
    rpe_scale: RpeScale | None  # the scale the history's RPEs are on; None: none recorded
    notes: tuple[str, ...] = ()
    # where the history was read: "local store <file>" or "clinic records <url>"
    source: str = ""

    @property
    def results(self) -> list[SessionResult]:
        return [r for s in self.sessions if (r := s.result(self.params.lengthens)) is not None]


def _rpe_scale(
    sessions: Sequence[PastSession], params: ProgressionParams, profile_source: str
) -> RpeScale | None:
    """The one scale the RPEs are on; refuses mixed scales and a rule off that scale."""
    rated = [s for s in sessions if s.rpe is not None]
    keys = sorted({s.rpe_scale or DEFAULT_RPE_SCALE for s in rated})
    if not keys:
        return None
    if len(keys) > 1:
        which = ", ".join(f"{s.session_id} ({s.rpe_scale})" for s in rated)
        raise RpeError(
            f"RPEs of these sessions are on different scales: {which}; record them again "
            "on one scale (treadctl sessions rpe ID VALUE --scale ...)"
        )
    scale = RPE_SCALES.get(keys[0])
    if scale is None:
        raise RpeError(f"RPE scale {keys[0]!r} is not known to this treadctl")
    limit = params.rpe_at_most
    if limit is not None and not scale.low <= limit <= scale.high:
        raise ConfigError.single(
            profile_source,
            "progression.rpe_at_most",
            f"{limit:g} is not on the {scale.label} scale ({scale.low:g} to {scale.high:g}) "
            "the patient's RPEs were recorded on",
        )
    return scale


def prescribe(
    params: ProgressionParams, sessions: Sequence[PastSession], profile_source: str = "profile"
) -> Progress:
    """The next prescription from the counted sessions (`next_prescription`), with notes."""
    scale = _rpe_scale(sessions, params, profile_source)
    results = [r for s in sessions if (r := s.result(params.lengthens)) is not None]
    rx = next_prescription(params, results)
    notes: list[str] = []
    if results and results[-1].backward_target_kmh > params.cap_kmh + 1e-6:
        notes.append(
            f"the last target {results[-1].backward_target_kmh:g} km/h is above the cap "
            f"{params.cap_kmh:g} km/h (the profile or the patient file changed): "
            "the cap is the base"
        )
    return Progress(tuple(sessions), params, rx, scale, tuple(notes))


class RecordsHistory(Protocol):
    """Reads a patient's history from records named by a URL, as `read_history` reads the
    treadmill's file: the clinic's records on PostgreSQL (treadctl.clinic.read_history).
    The caller passes it in, so the store never imports the clinic (issue 23)."""

    def __call__(
        self,
        url: str,
        pseudonym: str,
        profile_name: str,
        kind: str,
        standstill_kmh: float,
        profile_sha256: str | None = None,
        *,
        include_all: bool = False,
    ) -> tuple[list[PastSession], str]: ...


def read_history(
    db: Path | str,
    pseudonym: str,
    profile_name: str,
    kind: str,
    standstill_kmh: float,
    profile_sha256: str | None = None,
    *,
    create: bool = False,
    include_all: bool = False,
    clinic: RecordsHistory | None = None,
) -> tuple[list[PastSession], str]:
    """The patient's sessions of the profile, oldest first, and where they were read.

    `db` is the treadmill's file, or a postgresql:// URL of the clinic's records (the
    patient's sessions on every treadmill), read by `clinic`. Clinic records that cannot
    be reached raise ClinicUnreachableError (a DatabaseError): never an empty history in
    place of one that exists but could not be read.
    """
    if isinstance(db, str) and db.startswith(CLINIC_URL_SCHEMES):
        if clinic is None:
            raise ValueError("a clinic records URL needs the clinic's reader (clinic=...)")
        return clinic(
            db,
            pseudonym,
            profile_name,
            kind,
            standstill_kmh,
            profile_sha256,
            include_all=include_all,
        )
    db = Path(db)
    conn = open_db(db, create=create)
    try:
        sessions = load_history(
            conn,
            pseudonym,
            profile_name,
            kind,
            standstill_kmh,
            profile_sha256,
            include_all=include_all,
        )
    except sqlite3.Error as exc:
        raise DatabaseError(db, f"cannot read: {exc}") from exc
    finally:
        conn.close()
    return sessions, f"local store {db}"


def load_progress(
    db: Path | str,
    params: ProgressionParams,
    pseudonym: str,
    profile_name: str,
    kind: str,
    standstill_kmh: float,
    *,
    profile_sha256: str | None = None,
    profile_source: str = "profile",
    create: bool = False,
    include_all: bool = False,
    clinic: RecordsHistory | None = None,
) -> Progress:
    """Read the history (`read_history`) and prescribe the next session; the result's
    `source` says where the history was read; `clinic` reads a URL's (`read_history`)."""
    sessions, source = read_history(
        db,
        pseudonym,
        profile_name,
        kind,
        standstill_kmh,
        profile_sha256,
        create=create,
        include_all=include_all,
        clinic=clinic,
    )
    return replace(prescribe(params, sessions, profile_source), source=source)
