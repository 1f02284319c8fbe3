"""`treadctl records ...` when it runs: the clinic's records on PostgreSQL (the verb's
parser is in cli/clinic.py, which imports this module only when the verb runs)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from treadctl.cli.clinic import EXIT_UNREACHABLE
from treadctl.cli.common import EXIT_CONFIG, EXIT_OK
from treadctl.clinic.connect import (
    ClinicUnreachableError,
    check_broker_files,
    default_treadmill_id,
    is_clinic_url,
    load_clinic_file,
    load_clinic_setup,
    redact,
)
from treadctl.clinic.export import clinic_bundle, local_bundle
from treadctl.clinic.limits import BATCH_ROWS
from treadctl.clinic.mqtt_ship import MqttSink
from treadctl.clinic.schema import ClinicSchemaError, migrate
from treadctl.clinic.ship import Shipper, ShipReport, run_shipper
from treadctl.clinic.wire import MQTT_BATCH_ROWS
from treadctl.config.errors import ConfigError
from treadctl.store.db import DatabaseError


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
                check_broker_files(args.clinic, setup)
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
    check_broker_files(clinic, setup)
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
