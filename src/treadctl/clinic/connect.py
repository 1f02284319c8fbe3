"""Where the clinic's records are and who this treadmill is: a URL or a clinic file.

A clinic file (TOML) names the PostgreSQL URL and this treadmill's id:

    [records]
    url = "postgresql://treadmill-3@clinic-pc.local/treadctl"
    treadmill_id = "treadmill-3"

The password is never in the file: libpq reads it from ~/.pgpass (or PGPASSFILE). URLs
are shown with any password removed. Every connection has a connect timeout, TCP
keepalives and a statement timeout, so a dead server or network is an error, never a hang.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.rows import TupleRow
from pydantic import Field

from treadctl.clinic.limits import ID_PATTERN
from treadctl.config.errors import ConfigError, ConfigProblem
from treadctl.config.loader import load_model, read_capped
from treadctl.config.machine import Strict
from treadctl.config.mqtt import MAX_SIDE_FILE_BYTES, BrokerConfig
from treadctl.store.db import DatabaseError

CONNECT_TIMEOUT_S = 10  # libpq's connect_timeout is whole seconds
STATEMENT_TIMEOUT_MS = 60_000
KEEPALIVE_IDLE_S = 10
KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_COUNT = 3
URL_SCHEMES = ("postgresql://", "postgres://")

Conn = psycopg.Connection[TupleRow]


class ClinicUnreachableError(DatabaseError):
    """The clinic's records are configured but cannot be reached or read; says which and why.

    A DatabaseError, so every verb that reports those reports this (and exits non-zero).
    Callers that need the patient's history refuse to go on: never a silent fallback.
    """

    def __init__(self, where: str, reason: str) -> None:
        Exception.__init__(self, f"clinic records {where}: {reason}")
        self.path = Path(where)
        self.where = where
        self.reason = reason


def default_treadmill_id() -> str:
    """This host's name (made a valid id), when no clinic file names the treadmill."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "-", socket.gethostname())[:64] or "treadmill"


class RecordsSection(Strict):
    url: str | None = Field(default=None, min_length=1, max_length=1000)
    treadmill_id: str = Field(default_factory=default_treadmill_id, pattern=ID_PATTERN)
    site: str = Field(default="clinic", pattern=ID_PATTERN)  # the MQTT topics' site level


class ClinicFile(Strict):
    """[records], and [broker] (as mqtt.toml's) to ship over the clinic's MQTT broker:
    a treadmill's file may have only [broker]; the ingester's has both."""

    records: RecordsSection
    broker: BrokerConfig | None = None


@dataclass(frozen=True)
class ClinicSetup:
    url: str | None
    treadmill_id: str
    site: str
    broker: BrokerConfig | None


def is_clinic_url(text: str | Path) -> bool:
    return isinstance(text, str) and text.startswith(URL_SCHEMES)


def redact(url: str) -> str:
    """The URL without its password (for messages and the "source" statement)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=user + host))


def load_clinic_setup(path: Path) -> ClinicSetup:
    """A clinic file: records URL and/or broker (relative password_file and TLS paths are
    from the file's folder). ConfigError names the file and field."""
    loaded = load_model(path, ClinicFile)
    section = loaded.records
    if section.url is not None and not is_clinic_url(section.url):
        raise ConfigError.single(path, "records.url", "must be a postgresql:// URL")
    if section.url is None and loaded.broker is None:
        raise ConfigError.single(path, "records.url", "give the records' URL or a [broker]")
    broker = loaded.broker
    if broker is not None:
        base = path.parent
        tls = broker.tls
        if tls is not None:
            tls = tls.model_copy(
                update={
                    k: _resolve(base, getattr(tls, k)) for k in ("ca_file", "cert_file", "key_file")
                }
            )
        broker = broker.model_copy(
            update={"password_file": _resolve(base, broker.password_file), "tls": tls}
        )
    return ClinicSetup(section.url, section.treadmill_id, section.site, broker)


def _resolve(base: Path, value: str | None) -> str | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base / path)


def check_broker_files(path: Path, setup: ClinicSetup) -> None:
    """Before the broker is used (`records serve`, `records ship` over MQTT): every file
    its [broker] names can be read, the password file has a first line. ConfigError names
    the clinic file, the field and the file, as `serve --mqtt` does for mqtt.toml."""
    broker = setup.broker
    if broker is None:
        return
    files = [("broker.password_file", broker.password_file)]
    if broker.tls is not None:
        files += [
            (f"broker.tls.{name}", getattr(broker.tls, name))
            for name in ("ca_file", "cert_file", "key_file")
        ]
    problems: list[ConfigProblem] = []
    for field, value in files:
        if value is not None:
            problems += _side_file_problems(str(path), field, value)
    if problems:
        raise ConfigError(problems)


def _side_file_problems(source: str, field: str, value: str) -> list[ConfigProblem]:
    try:
        raw = read_capped(Path(value), MAX_SIDE_FILE_BYTES)
    except OSError as exc:
        return [ConfigProblem(source, field, f"cannot read {value}: {exc.strerror or exc}")]
    except ConfigError as exc:  # not a regular file
        return [ConfigProblem(source, field, f"{value}: {p.reason}") for p in exc.problems]
    if len(raw) > MAX_SIDE_FILE_BYTES:
        return [ConfigProblem(source, field, f"{value}: larger than {MAX_SIDE_FILE_BYTES} bytes")]
    if field.endswith("password_file") and not raw.split(b"\n", 1)[0].strip():
        return [ConfigProblem(source, field, f"{value} is empty: the first line is the password")]
    return []


def load_clinic_file(path: Path) -> ClinicSetup:
    """The clinic file where the records' URL is required (migrate, export, progress)."""
    setup = load_clinic_setup(path)
    if setup.url is None:
        raise ConfigError.single(path, "records.url", "must be a postgresql:// URL")
    return setup


def connect(url: str, *, connect_timeout_s: int = CONNECT_TIMEOUT_S) -> Conn:
    """An autocommit connection (callers open transactions) with bounded waits."""
    try:
        return psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=connect_timeout_s,
            keepalives=1,
            keepalives_idle=KEEPALIVE_IDLE_S,
            keepalives_interval=KEEPALIVE_INTERVAL_S,
            keepalives_count=KEEPALIVE_COUNT,
            options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
            application_name="treadctl",
        )
    except psycopg.Error as exc:
        raise ClinicUnreachableError(redact(url), f"cannot connect: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def records_source(db: Path | str, clinic_file: Path | None = None) -> Path | str:
    """Where `progress`, `run --progress` and the records verbs read: the clinic's records
    when a clinic file is given or `--db` is a postgresql:// URL, else the treadmill's file.

    For the CLI: `--db` stays a path by default; `--db postgresql://...` or `--clinic FILE`
    switch to the clinic's records (history.read_history / load_progress take either).
    """
    if clinic_file is not None:
        url = load_clinic_file(clinic_file).url
        assert url is not None
        return url
    if isinstance(db, str) and not is_clinic_url(db):
        return Path(db)
    return db
