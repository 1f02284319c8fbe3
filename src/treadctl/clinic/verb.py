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
import json
import re
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from treadctl.clinic.connect import (
    ID_PATTERN,
    ClinicUnreachableError,
    default_treadmill_id,
    is_clinic_url,
    load_clinic_file,
    load_clinic_setup,
    redact,
)
from treadctl.clinic.export import clinic_bundle, local_bundle
from treadctl.clinic.mqtt_ship import MqttSink
from treadctl.clinic.schema import ClinicSchemaError, migrate
from treadctl.clinic.ship import (
    BATCH_ROWS,
    PERIOD_S,
    RETRY_MAX_S,
    Shipper,
    ShipReport,
    run_shipper,
)
from treadctl.clinic.wire import MQTT_BATCH_ROWS
from treadctl.config.errors import ConfigError
from treadctl.store.db import DEFAULT_DB, DatabaseError

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_UNREACHABLE = 3

EPILOG = f"""\
examples:
  treadctl records migrate --clinic clinic.toml
  treadctl records ship --clinic clinic.toml --follow      (as a service, next to serve)
  treadctl records ship --url postgresql://tm3@clinic-pc/treadctl --treadmill tm3
  treadctl records ship --clinic tm3-mqtt.toml --follow   (a [broker] and no url: over MQTT)
  treadctl records serve --clinic ingester.toml           (the clinic PC: [records] url + [broker])
  treadctl records export --patient P017 --clinic clinic.toml --out p017.fhir.json
  treadctl records export --session 12 --db runs/treadctl.sqlite

exit codes:
  {EXIT_OK}  done
  {EXIT_CONFIG}  a file is refused, a usage error, or the local file cannot be read
  {EXIT_UNREACHABLE}  the clinic's records cannot be reached (ship --follow keeps retrying)
"""


def _treadmill_id(text: str) -> str:
    if not re.match(ID_PATTERN, text):
        raise argparse.ArgumentTypeError(f"{text!r}: 1 to 64 of A-Z a-z 0-9 _ . -")
    return text


def _where(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--clinic", type=Path, help="clinic file (TOML) naming the records")
    sp.add_argument("--url", help="the records' postgresql:// URL (instead of --clinic)")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    rec = sub.add_parser(
        "records",
        help="the clinic's records on PostgreSQL: ship, export, migrate",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rsub = rec.add_subparsers(dest="records_verb", required=True)
    mig = rsub.add_parser("migrate", help="create or upgrade the clinic's schema")
    _where(mig)
    ship = rsub.add_parser("ship", help="copy this treadmill's sessions into the records")
    _where(ship)
    ship.add_argument(
        "--db", type=Path, default=DEFAULT_DB, help=f"this treadmill's file ({DEFAULT_DB})"
    )
    ship.add_argument(
        "--treadmill", type=_treadmill_id, help="this treadmill's id (default: the clinic file's)"
    )
    ship.add_argument(
        "--follow",
        action="store_true",
        help=f"keep shipping (a pass every {PERIOD_S:g} s, back-off up to {RETRY_MAX_S:g} s "
        "when the records cannot be reached) until SIGTERM or Ctrl-C",
    )
    srv = rsub.add_parser(
        "serve", help="the ingester: batches from the clinic's broker into the records"
    )
    srv.add_argument("--clinic", type=Path, required=True, help="[records] url and [broker]")
    pat = rsub.add_parser("patients", help="patients in the records (list, or one: --patient)")
    _where(pat)
    pat.add_argument("--patient", help="show this pseudonym and its sessions")
    pat.add_argument("--all", action="store_true", help="also demo runs and idle sessions")
    ses = rsub.add_parser("sessions", help="sessions of every treadmill (list, or one)")
    _where(ses)
    ses.add_argument("--patient", help="only this pseudonym's")
    ses.add_argument("--session", type=int, help="show this session (its clinic-wide id)")
    ses.add_argument("--all", action="store_true", help="also demo runs and idle sessions")
    rep_ = rsub.add_parser("report", help="a patient's HTML report across every treadmill")
    _where(rep_)
    rep_.add_argument("--patient", required=True, help="pseudonym")
    rep_.add_argument("--out", type=Path, help="the HTML file (default: PSEUDONYM.html)")
    exp = rsub.add_parser("export", help="sessions as a FHIR Bundle (JSON)")
    _where(exp)
    exp.add_argument("--db", type=Path, default=DEFAULT_DB, help="a treadmill's file")
    which = exp.add_mutually_exclusive_group(required=True)
    which.add_argument("--patient", help="pseudonym: every session in the clinic's records")
    which.add_argument(
        "--session", type=int, action="append", help="a session of the file (repeatable)"
    )
    exp.add_argument(
        "--treadmill",
        type=_treadmill_id,
        help="the file's treadmill id (default: the host name)",
    )
    exp.add_argument("--out", type=Path, help="write here (default: standard output)")


def _records(args: argparse.Namespace, required: bool) -> tuple[str | None, str | None]:
    """(url, treadmill id from the clinic file); refuses both or (if required) neither."""
    if args.clinic is not None and args.url is not None:
        raise ConfigError.single("options", "--clinic/--url", "give one, not both")
    if args.clinic is not None:
        section = load_clinic_file(args.clinic)
        return section.url, section.treadmill_id
    if args.url is not None:
        if not is_clinic_url(args.url):
            raise ConfigError.single("--url", "url", "must be a postgresql:// URL")
        return args.url, None
    if required:
        raise ConfigError.single("options", "--clinic/--url", "name the clinic's records")
    return None, None


def main(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except ClinicUnreachableError as exc:
        print(f"treadctl: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    except (DatabaseError, ClinicSchemaError) as exc:
        print(f"treadctl: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def _run(args: argparse.Namespace) -> int:
    verb = args.records_verb
    if verb == "migrate":
        url, _ = _records(args, required=True)
        assert url is not None
        from treadctl.clinic.connect import connect  # noqa: PLC0415

        conn = connect(url)
        try:
            version = migrate(conn)
        finally:
            conn.close()
        print(f"clinic records {redact(url)}: schema version {version}")
        return EXIT_OK
    if verb == "serve":
        return _serve(args.clinic)
    if verb in ("patients", "sessions", "report"):
        url, _ = _records(args, required=True)
        assert url is not None
        return _read_verb(args, url)
    if verb == "ship":
        sink = None
        if args.clinic is not None and args.url is None:
            setup = load_clinic_setup(args.clinic)
            treadmill = args.treadmill or setup.treadmill_id
            if setup.url is None:
                assert setup.broker is not None
                sink = MqttSink(setup.broker, setup.site, treadmill)
            url = setup.url or ""
        else:
            url_given, file_id = _records(args, required=True)
            assert url_given is not None
            url = url_given
            treadmill = args.treadmill or file_id or default_treadmill_id()
        shipper = Shipper(
            args.db, url, treadmill, sink=sink, batch_rows=MQTT_BATCH_ROWS if sink else BATCH_ROWS
        )
        try:
            if not args.follow:
                report = shipper.ship_once()
                print(_report_line(report, args.db, shipper.where))
                return EXIT_OK if not report.failed else EXIT_CONFIG
            return _follow(shipper)
        finally:
            shipper.close()
    url, file_id = _records(args, required=False)
    if args.patient is not None:
        if url is None:
            raise ConfigError.single("options", "--patient", "needs --clinic or --url")
        out = clinic_bundle(url, args.patient)
    else:
        treadmill = args.treadmill or file_id or default_treadmill_id()
        out = local_bundle(args.db, args.session, treadmill)
    text = json.dumps(out, indent=2) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        try:
            args.out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise DatabaseError(args.out, f"cannot write: {exc}") from exc
    return EXIT_OK


def _read_verb(args: argparse.Namespace, url: str) -> int:
    from treadctl.clinic import reads  # noqa: PLC0415

    if args.records_verb == "patients":
        if args.patient is None:
            return reads.patients_list(url)
        return reads.patients_show(url, args.patient, args.all)
    if args.records_verb == "sessions":
        if args.session is not None:
            return reads.sessions_show(url, args.session)
        return reads.sessions_list(url, args.patient, args.all)
    from treadctl.clinic.report import write_patient_report  # noqa: PLC0415

    out = write_patient_report(url, args.patient, args.out or Path(f"{args.patient}.html"))
    print(f"report of {args.patient} written to {out}")
    return EXIT_OK


def _serve(clinic: Path) -> int:
    """The ingester until SIGTERM/SIGINT."""
    import asyncio  # noqa: PLC0415
    import logging  # noqa: PLC0415

    from treadctl.clinic.ingest import Ingester  # noqa: PLC0415

    setup = load_clinic_setup(clinic)
    if setup.url is None or setup.broker is None:
        raise ConfigError.single(clinic, "records.url", "serve needs [records] url and [broker]")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    broker, url = setup.broker, setup.url
    ingester = Ingester(broker, url)

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(s, stop.set)
        print(
            f"ingesting {broker.host}:{broker.port} into {redact(url)}",
            flush=True,
        )
        await ingester.run(stop)

    asyncio.run(_main())
    st = ingester.stats
    print(f"ingested {st.batches} batches ({st.samples} samples), refused {st.refused}")
    return EXIT_OK


def _report_line(report: ShipReport, db: Path, where: str) -> str:
    line = (
        f"shipped {report.sessions} sessions ({report.samples} samples, {report.events} "
        f"events) from {db} to {where}"
    )
    for sid, why in report.failed.items():
        line += f"\n  session {sid} refused by the records: {why}"
    return line


def _follow(shipper: Shipper) -> int:
    """Ship until SIGTERM/SIGINT; each pass that shipped something prints a line."""
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    said: list[str] = []

    def _problem(why: str) -> None:
        if not said or said[-1] != why:  # once per distinct failure, not every retry
            said.append(why)
            print(f"treadctl: {why}; retrying with back-off", file=sys.stderr, flush=True)

    def _report(r: ShipReport) -> None:
        if said:
            said.clear()
            print(f"shipping to {shipper.where} again", file=sys.stderr, flush=True)
        if r.sessions:
            print(_report_line(r, shipper.local_db, shipper.where), flush=True)

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        run_shipper(
            shipper,
            stop,
            on_report=_report,
            on_problem=_problem,
        )
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return EXIT_OK
