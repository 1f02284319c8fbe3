"""The records verbs: `patients`, `sessions` and `progress`, on the session database.

`--db` may name the clinic's records instead (a postgresql:// URL): the reading verbs
read them (every treadmill's sessions); the writing ones refuse and say which command
does that, since the records are only written by shipping a treadmill's file.

The verbs' bodies (cli/database.py, the report, the session's files) are imported when a
verb runs: `treadctl --help` loads none of them."""

from __future__ import annotations

import argparse
from pathlib import Path

from treadctl.cli.common import (
    DEFAULT_MACHINE,
    EXIT_CONFIG,
    EXIT_CONNECT,
    EXIT_OK,
    MACHINE,
    PATIENT,
    PROFILE,
    PROFILE_HELP,
    Group,
    Subparsers,
    UsageError,
    verb_parser,
)
from treadctl.clinic import read_history as clinic_history
from treadctl.store.db import CLINIC_URL_SCHEMES, DEFAULT_DB
from treadctl.store.rpe import DEFAULT_RPE_SCALE, RPE_SCALES

ALL_HELP = "also sessions on the built-in simulator and those in which the belt never moved"
PATIENT_FILE_HELP = "patient file (TOML) or a sample's name"
UNREADABLE = "the database cannot be read"
UNREACHABLE = "--db is the clinic's records and they cannot be reached or read (the reason)"
READ_ONLY = "the clinic's records are read-only here"
CLINIC_URL = "postgresql://clinic-pc/treadctl"
NOT_HERE = "--db is the clinic's records (read-only here: the message says which command)"


def _examples(*lines: str) -> list[str]:
    return [f"treadctl {line}" for line in lines]


def _exits(done: str, refused: str, clinic: bool = False) -> dict[int, str]:
    """Exit codes; `clinic`: the verb reads the clinic's records too (3: out of reach)."""
    return {EXIT_OK: done, EXIT_CONFIG: refused, **({EXIT_CONNECT: UNREACHABLE} if clinic else {})}


def db_location(text: str) -> Path | str:
    """--db: a postgresql:// URL stays a string (a Path would fold its `//`), else a Path."""
    return text if text.startswith(CLINIC_URL_SCHEMES) else Path(text)


def _db(sp: argparse.ArgumentParser, clinic: bool = False) -> argparse.ArgumentParser:
    """--db; `clinic`: the help says the verb reads the clinic's records given their URL."""
    sp.add_argument(
        "--db",
        type=db_location,
        default=DEFAULT_DB,
        help="session database"
        + (", or the clinic's records (postgresql://...)" if clinic else "")
        + f" (default: {DEFAULT_DB})",
    )
    return sp


def _local(db: Path | str, instead: str) -> Path:
    """The treadmill's file of a verb that writes it; the clinic's URL is refused, saying
    which command does it (`instead`)."""
    if isinstance(db, str):
        raise UsageError(f"{READ_ONLY}: {instead}")
    return db


def _session_id(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("id", type=int, help="the session's id (treadctl sessions list)")


def add_parsers(sub: Subparsers) -> None:
    _add_patients(sub)
    _add_sessions(sub)
    _add_progress(sub)


PATIENTS_EXAMPLES = _examples(
    "patients add --patient p017.toml",
    "patients list",
    "patients show DEMO-001 --all --db runs/sim.sqlite",
)


def _add_patients(sub: Subparsers) -> None:
    pat = verb_parser(
        sub,
        "patients",
        "patients in the session database",
        PATIENTS_EXAMPLES,
        _exits(
            "done (each sub-verb's --help says what it prints or writes)",
            f"a patient file is refused (one line per problem), no such patient, "
            f"{UNREADABLE}, or {NOT_HERE}",
            clinic=True,
        ),
    )
    pat_sub = pat.add_subparsers(dest="patients_verb", required=True)
    add = _db(
        verb_parser(
            pat_sub,
            "add",
            "add or update a patient from a patient file",
            _examples("patients add --patient p017.toml", "patients add --patient demo"),
            _exits(
                "the patient is added or updated",
                "the patient file is refused (one line per problem), the database "
                f"cannot be written, or {NOT_HERE}",
            ),
        )
    )
    add.add_argument("--patient", type=PATIENT, required=True, help=PATIENT_FILE_HELP)
    _db(
        verb_parser(
            pat_sub,
            "list",
            "every patient: speeds, caps, sessions counted, last session",
            _examples(
                "patients list",
                "patients list --db runs/sim.sqlite",
                f"patients list --db {CLINIC_URL}",
            ),
            _exits("the list is printed (or that there are none)", UNREADABLE, clinic=True),
        ),
        clinic=True,
    )
    show = _db(
        verb_parser(
            pat_sub,
            "show",
            "one patient and their sessions",
            _examples(
                "patients show DEMO-001",
                "patients show DEMO-001 --all",
                f"patients show P017 --db {CLINIC_URL}",
            ),
            _exits("the patient is printed", f"no such patient, or {UNREADABLE}", clinic=True),
        ),
        clinic=True,
    )
    show.add_argument("pseudonym", help="the patient's pseudonym (treadctl patients list)")
    show.add_argument("--all", action="store_true", help=ALL_HELP)


def _add_sessions(sub: Subparsers) -> None:
    no_session = f"no such session, or {UNREADABLE}"
    ses = verb_parser(
        sub,
        "sessions",
        "recorded sessions",
        _examples(
            "sessions list --all",
            "sessions show 12",
            "sessions export 12 --out session-12.csv",
            "sessions report 12",
            "sessions rpe 12 13",
        ),
        _exits(
            "done (each sub-verb's --help says what it prints or writes)",
            f"a rating off its scale (nothing recorded), {no_session}; or {NOT_HERE}",
            clinic=True,
        ),
    )
    ses_sub = ses.add_subparsers(dest="sessions_verb", required=True)
    slist = _db(
        verb_parser(
            ses_sub,
            "list",
            "every session, or one patient's",
            _examples(
                "sessions list",
                "sessions list --patient DEMO-001 --all",
                f"sessions list --patient P017 --db {CLINIC_URL}",
            ),
            _exits(
                "the list is printed (or that there are none)",
                f"no such patient, or {UNREADABLE}",
                clinic=True,
            ),
        ),
        clinic=True,
    )
    slist.add_argument(
        "--patient",
        default=None,
        metavar="PSEUDONYM",
        help="only this patient's sessions (default: every patient's)",
    )
    slist.add_argument("--all", action="store_true", help=ALL_HELP)
    _session_id(
        _db(
            verb_parser(
                ses_sub,
                "show",
                "one session: status, segments, summary",
                _examples(
                    "sessions show 12",
                    "sessions show 3 --db runs/sim.sqlite",
                    f"sessions show 12 --db {CLINIC_URL}",
                ),
                _exits("the session is printed", no_session, clinic=True),
            ),
            clinic=True,
        )
    )
    _add_export_report_rpe(ses_sub, no_session)


def _add_export_report_rpe(ses_sub: Subparsers, no_session: str) -> None:
    exp = _db(
        verb_parser(
            ses_sub,
            "export",
            "one session's samples (csv) or everything (json)",
            _examples(
                "sessions export 12 --out session-12.csv",
                "sessions export 12 --format json --out session-12.json",
            ),
            _exits(
                "the export is written",
                f"{no_session}, --out cannot be written, or {NOT_HERE}",
            ),
        )
    )
    _session_id(exp)
    exp.add_argument(
        "--format",
        choices=("csv", "json"),
        default="csv",
        help="csv: the 10 Hz samples; json: session, segments, events, samples (default: csv)",
    )
    exp.add_argument("--out", type=Path, default=None, help="file to write (default: stdout)")
    rep = _db(
        verb_parser(
            ses_sub,
            "report",
            "one session's clinician report (HTML, printable)",
            _examples("sessions report 12", "sessions report 12 --out p017-12.html"),
            _exits(
                "the report is written (its path is printed on stderr)",
                f"{no_session}, the report cannot be written, or {NOT_HERE}",
            ),
        )
    )
    _session_id(rep)
    rep.add_argument(
        "--out",
        type=Path,
        default=None,
        help="HTML file (default: session-ID-report.html next to the database)",
    )
    rpe = _db(
        verb_parser(
            ses_sub,
            "rpe",
            "record a session's rating of perceived exertion",
            _examples("sessions rpe 12 13", "sessions rpe 12 4 --scale cr10"),
            _exits(
                "the rating is recorded (a second one corrects the first)",
                "the rating is not a number on the scale (nothing recorded), the session is "
                f"still running, {no_session}; or {NOT_HERE}",
            ),
        )
    )
    _session_id(rpe)
    rpe.add_argument("value", help="the rating, on the scale (Borg 6-20 by default)")
    rpe.add_argument(
        "--scale",
        choices=sorted(RPE_SCALES),
        default=DEFAULT_RPE_SCALE,
        help="borg: Borg RPE 6-20 (default); cr10: Borg CR10 0-10",
    )


def _add_progress(sub: Subparsers) -> None:
    prog = _db(
        verb_parser(
            sub,
            "progress",
            "a patient's sessions of a profile and the next session's prescription",
            _examples(
                "progress --patient p017.toml --profile stroke-30min",
                "progress --patient demo --profile demo-short --db runs/sim.sqlite --simulated",
                f"progress --patient p017.toml --profile stroke-30min --db {CLINIC_URL}",
            ),
            _exits(
                "the history (and where it was read) and the prescription (or, for a "
                "profile without a progression, the history) are printed",
                "a file is refused or the prescription would break a limit (one line per "
                f"problem), {UNREADABLE}, or the clinic's records given for a profile "
                "without a progression",
                clinic=True,
            ),
        ),
        clinic=True,
    )
    prog.add_argument("--patient", type=PATIENT, required=True, help=PATIENT_FILE_HELP)
    prog.add_argument("--profile", type=PROFILE, required=True, help=PROFILE_HELP)
    prog.add_argument(
        "--machine",
        type=MACHINE,
        default=DEFAULT_MACHINE,
        help="machine file or name the caps are checked against "
        f"(default: {DEFAULT_MACHINE}, the simulator)",
    )
    prog.add_argument(
        "--simulated",
        action="store_true",
        help="the simulated sessions (treadctl simulate --db) instead of the real ones",
    )
    prog.add_argument(
        "--all",
        action="store_true",
        help="also list demo runs and sessions in which the belt never moved (marked, not counted)",
    )


def patients_verb(args: argparse.Namespace) -> int:
    from treadctl.cli import database as verbs  # noqa: PLC0415 - see the module's docstring

    if args.patients_verb == "add":
        instead = (
            "a patient reaches them when a treadmill ships its file: `treadctl patients add "
            "--patient FILE --db FILE`, then `treadctl records ship --clinic FILE`"
        )
        return verbs.patients_add(_local(args.db, instead), args.patient)
    if isinstance(args.db, str):  # the clinic's records (db_location): psycopg only now
        from treadctl.clinic import reads  # noqa: PLC0415

        if args.patients_verb == "list":
            return reads.patients_list(args.db)
        return reads.patients_show(args.db, args.pseudonym, args.all)
    if args.patients_verb == "list":
        return verbs.patients_list(args.db)
    return verbs.patients_show(args.db, args.pseudonym, args.all)


def sessions_verb(args: argparse.Namespace) -> int:
    from treadctl.cli import database as verbs  # noqa: PLC0415 - see the module's docstring

    if isinstance(args.db, str) and args.sessions_verb in ("list", "show"):
        from treadctl.clinic import reads  # noqa: PLC0415 - the clinic's records: psycopg

        if args.sessions_verb == "list":
            return reads.sessions_list(args.db, args.patient, args.all)
        return reads.sessions_show(args.db, args.id)
    if args.sessions_verb == "list":
        return verbs.sessions_list(args.db, args.patient, args.all)
    if args.sessions_verb == "show":
        return verbs.sessions_show(args.db, args.id)
    if args.sessions_verb == "rpe":
        instead = (
            "record the rating in the treadmill's file, `treadctl sessions rpe ID VALUE "
            "--db FILE`, and `treadctl records ship --clinic FILE` takes it to them"
        )
        return verbs.sessions_rpe(_local(args.db, instead), args.id, args.value, args.scale)
    if args.sessions_verb == "report":
        instead = (
            "a per-patient report is `treadctl records report --clinic FILE --patient P`; "
            "a session's is `treadctl sessions report ID --db FILE` on its treadmill's file"
        )
        return verbs.sessions_report(_local(args.db, instead), args.id, args.out)
    instead = (
        "a patient's sessions as FHIR are `treadctl records export --clinic FILE --patient P`; "
        "a session's samples are `treadctl sessions export ID --db FILE` on its treadmill's file"
    )
    return verbs.sessions_export(_local(args.db, instead), args.id, args.format, args.out)


def progress_verb(args: argparse.Namespace) -> int:
    from treadctl.app import apply_prescription, load_session  # noqa: PLC0415
    from treadctl.cli import database as verbs  # noqa: PLC0415 - see the module's docstring

    files = load_session(args.machine, args.profile, args.patient)
    kind = "simulate" if args.simulated else "run"
    assert files.patient is not None
    which = "simulated sessions" if args.simulated else "sessions"
    where = f"{which} in {args.db}; machine {files.machine.name}"
    who, name, standstill = (
        files.patient.pseudonym,
        files.profile.name,
        files.machine.limits.standstill_kmh,
    )
    params = files.plan.progression
    if params is None and isinstance(args.db, str):
        raise UsageError(
            f"the clinic's records give the history of a profile with a progression and "
            f"{name!r} has none: the patient's sessions in them are `treadctl records "
            f"sessions --clinic FILE --patient {who}`"
        )
    if params is None:  # no rule to prescribe from: the history only
        lines = verbs.history_lines(
            args.db, who, name, kind, standstill, where, include_all=args.all
        )
        print("\n".join(lines))
        return EXIT_OK
    progress = verbs.progress_of(
        args.db,
        params,
        who,
        name,
        args.profile,
        kind,
        standstill,
        include_all=args.all,
        clinic=clinic_history,
    )
    # the plan with the prescription: refused here already if it breaks any rule
    apply_prescription(files, args.profile, progress.prescription)
    if isinstance(args.db, str):  # the history is every treadmill's: say whose it is
        where = f"{which} in {progress.source}; machine {files.machine.name}"
    print("\n".join(verbs.progress_lines(progress, who, name, where)))
    return EXIT_OK


GROUP = Group(
    add_parsers,
    {"patients": patients_verb, "sessions": sessions_verb, "progress": progress_verb},
)
