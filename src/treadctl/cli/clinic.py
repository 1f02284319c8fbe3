"""`treadctl records ...`: the clinic's records on PostgreSQL.

    records migrate   create or upgrade the clinic's schema
    records ship      copy this treadmill's file into the clinic's records (once, or --follow)
    records export    sessions as a FHIR Bundle of Observations (from a file or the records)
    records serve     the ingester: the clinic's broker into the records (MQTT shipping)
    records patients  patients in the records (--patient P: one, with its sessions)
    records sessions  sessions of every treadmill (--patient P, --session ID, --all)
    records report    one patient's HTML report across every treadmill

The clinic's records are named by a clinic file (--clinic, TOML: [records] url and
treadmill_id; docs/records.md) or a URL (--url postgresql://...).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from treadctl.cli.common import (
    EXIT_CONFIG,
    EXIT_CONNECT,
    EXIT_OK,
    Group,
    Subparsers,
    verb_parser,
)
from treadctl.clinic.limits import ID_PATTERN, PERIOD_S, RETRY_MAX_S
from treadctl.store.db import DEFAULT_DB

EXIT_UNREACHABLE = EXIT_CONNECT  # the clinic's records are a link like any other

CLINIC_FILE = "examples/clinic/ingester.toml"  # a clinic file with [records] url
MQTT_FILE = "examples/clinic/treadmill-mqtt.toml"  # no url: shipping over the broker
URL = "postgresql://tm3@clinic-pc/treadctl"
UNREACHABLE = "the clinic's records cannot be reached or read (the reason is printed)"
NO_RECORDS = "no --clinic or --url, both, a clinic file refused (one line per problem)"


def _examples(*lines: str) -> list[str]:
    return [f"treadctl records {line}" for line in lines]


def _treadmill_id(text: str) -> str:
    if not re.match(ID_PATTERN, text):
        raise argparse.ArgumentTypeError(f"{text!r}: 1 to 64 of A-Z a-z 0-9 _ . -")
    return text


def _where(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sp.add_argument(
        "--clinic",
        type=Path,
        default=None,
        help="clinic file (TOML) whose [records] url names the records (default: none)",
    )
    sp.add_argument(
        "--url",
        default=None,
        help="the records' postgresql:// URL, instead of --clinic (default: none)",
    )
    return sp


def add_parser(sub: Subparsers) -> None:
    rec = verb_parser(
        sub,
        "records",
        "the clinic's records on PostgreSQL: ship, serve, read, report, export, migrate",
        _examples(
            f"migrate --clinic {CLINIC_FILE}",
            f"ship --url {URL} --treadmill tm3 --follow  # a service, next to serve",
            f"ship --clinic {MQTT_FILE} --follow  # over the clinic's broker",
            f"serve --clinic {CLINIC_FILE}  # the clinic PC: [records] url and [broker]",
            f"sessions --url {URL} --patient P017",
            f"export --patient P017 --clinic {CLINIC_FILE} --out p017.fhir.json",
            "export --session 12 --db runs/treadctl.sqlite",
        ),
        {
            EXIT_OK: "done (each sub-verb's --help says what it prints or writes)",
            EXIT_CONFIG: f"{NO_RECORDS}, no such patient or session, a file that cannot be "
            "read or written, or a session the records refused",
            EXIT_UNREACHABLE: f"{UNREACHABLE}; ship --follow and serve keep retrying",
        },
    )
    rec.description = __doc__
    rsub = rec.add_subparsers(dest="records_verb", required=True, metavar="VERB")
    _where(
        verb_parser(
            rsub,
            "migrate",
            "create or upgrade the clinic's schema",
            _examples(f"migrate --clinic {CLINIC_FILE}", f"migrate --url {URL}"),
            {
                EXIT_OK: "the schema is at this treadctl's version (printed)",
                EXIT_CONFIG: f"{NO_RECORDS}, or the schema is one this treadctl cannot use",
                EXIT_UNREACHABLE: UNREACHABLE,
            },
        )
    )
    _add_ship(rsub)
    srv = verb_parser(
        rsub,
        "serve",
        "the ingester: batches from the clinic's broker into the records",
        _examples(f"serve --clinic {CLINIC_FILE}"),
        {
            EXIT_OK: "stopped by SIGTERM or Ctrl-C (what was ingested is printed); the "
            "records or the broker out of reach are retried, never an exit",
            EXIT_CONFIG: "the clinic file is refused (one line per problem), lacks "
            "[records] url or [broker], or a file its [broker] names (the password file, "
            "TLS files) cannot be read: the line names the clinic file, the field and the file",
        },
    )
    srv.add_argument("--clinic", type=Path, required=True, help="[records] url and [broker]")
    _add_reads(rsub)
    _add_export(rsub)


def _add_ship(rsub: Subparsers) -> None:
    ship = _where(
        verb_parser(
            rsub,
            "ship",
            "copy this treadmill's sessions into the records (once, or --follow)",
            _examples(
                f"ship --url {URL} --treadmill tm3 --db runs/treadctl.sqlite",
                f"ship --clinic {MQTT_FILE} --follow",
            ),
            {
                EXIT_OK: "shipped (a line says what), or --follow stopped by SIGTERM or Ctrl-C",
                EXIT_CONFIG: f"{NO_RECORDS}, this treadmill's file cannot be read, a file "
                "the clinic file's [broker] names (the password file, TLS files) cannot be "
                "read, or the records refused a session (each refusal is printed)",
                EXIT_UNREACHABLE: "the clinic's records (over MQTT: the broker or the "
                "ingester) cannot be reached; --follow retries with back-off instead",
            },
        )
    )
    ship.add_argument(
        "--db", type=Path, default=DEFAULT_DB, help=f"this treadmill's file (default: {DEFAULT_DB})"
    )
    ship.add_argument(
        "--treadmill",
        type=_treadmill_id,
        default=None,
        help="this treadmill's id (default: the clinic file's, else the host name)",
    )
    ship.add_argument(
        "--follow",
        action="store_true",
        help=f"keep shipping (a pass every {PERIOD_S:g} s, back-off up to {RETRY_MAX_S:g} s "
        "when the records cannot be reached) until SIGTERM or Ctrl-C",
    )


def _add_reads(rsub: Subparsers) -> None:
    all_help = "also demo runs and idle sessions"
    pat = _where(
        verb_parser(
            rsub,
            "patients",
            "patients in the records (every one, or one with its sessions)",
            _examples(
                f"patients --clinic {CLINIC_FILE}",
                f"patients --url {URL} --patient P017 --all",
            ),
            {
                EXIT_OK: "the patients (or the one) are printed",
                EXIT_CONFIG: f"{NO_RECORDS}, or no such patient",
                EXIT_UNREACHABLE: UNREACHABLE,
            },
        )
    )
    pat.add_argument(
        "--patient", default=None, help="show this pseudonym and its sessions (default: all)"
    )
    pat.add_argument("--all", action="store_true", help=all_help)
    ses = _where(
        verb_parser(
            rsub,
            "sessions",
            "sessions of every treadmill (a list, or one)",
            _examples(
                f"sessions --clinic {CLINIC_FILE} --all",
                f"sessions --url {URL} --patient P017",
                f"sessions --clinic {CLINIC_FILE} --session 12",
            ),
            {
                EXIT_OK: "the sessions (or the one) are printed",
                EXIT_CONFIG: f"{NO_RECORDS}, no such patient, or no such session",
                EXIT_UNREACHABLE: UNREACHABLE,
            },
        )
    )
    ses.add_argument(
        "--patient", default=None, help="only this pseudonym's (default: every patient's)"
    )
    ses.add_argument(
        "--session", type=int, default=None, help="show this session (its clinic-wide id)"
    )
    ses.add_argument("--all", action="store_true", help=all_help)
    rep_ = _where(
        verb_parser(
            rsub,
            "report",
            "a patient's HTML report across every treadmill",
            _examples(
                f"report --clinic {CLINIC_FILE} --patient P017",
                f"report --url {URL} --patient P017 --out p017.html",
            ),
            {
                EXIT_OK: "the report is written (its path is printed)",
                EXIT_CONFIG: f"{NO_RECORDS}, no such patient, or the report cannot be written",
                EXIT_UNREACHABLE: UNREACHABLE,
            },
        )
    )
    rep_.add_argument("--patient", required=True, help="pseudonym")
    rep_.add_argument(
        "--out", type=Path, default=None, help="the HTML file (default: PSEUDONYM.html)"
    )


def _add_export(rsub: Subparsers) -> None:
    exp = _where(
        verb_parser(
            rsub,
            "export",
            "sessions as a FHIR Bundle of Observations (JSON)",
            _examples(
                f"export --patient P017 --clinic {CLINIC_FILE} --out p017.fhir.json",
                "export --session 12 --session 13 --db runs/treadctl.sqlite",
            ),
            {
                EXIT_OK: "the bundle is written (standard output, or --out)",
                EXIT_CONFIG: "--patient without --clinic or --url, a clinic file refused, no "
                "such session in the file, the file cannot be read, or --out cannot be "
                "written",
                EXIT_UNREACHABLE: f"with --patient: {UNREACHABLE}",
            },
        )
    )
    exp.add_argument(
        "--db", type=Path, default=DEFAULT_DB, help=f"a treadmill's file (default: {DEFAULT_DB})"
    )
    which = exp.add_mutually_exclusive_group(required=True)
    which.add_argument("--patient", help="pseudonym: every session in the clinic's records")
    which.add_argument(
        "--session", type=int, action="append", help="a session of the file (repeatable)"
    )
    exp.add_argument(
        "--treadmill",
        type=_treadmill_id,
        default=None,
        help="the file's treadmill id (default: the clinic file's, else the host name)",
    )
    exp.add_argument("--out", type=Path, default=None, help="write here (default: standard output)")


def main(args: argparse.Namespace) -> int:
    """`treadctl records ...`: cli/clinic_run.py, imported now (psycopg, the shipper)."""
    from treadctl.cli import clinic_run  # noqa: PLC0415

    return clinic_run.main(args)


GROUP = Group(add_parser, {"records": main}, serving=frozenset({"records"}))
