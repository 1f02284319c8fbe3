"""The clinic's records on PostgreSQL: every treadmill's sessions in one place.

Each controller keeps recording into its own SQLite file (the outbox); the shipper copies
its sessions into PostgreSQL, keyed so that shipping twice stores once. The progression
reads a patient's whole history from here when the clinic's records are configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from treadctl.store.history import PastSession


def read_history(
    url: str,
    pseudonym: str,
    profile_name: str,
    kind: str,
    standstill_kmh: float,
    profile_sha256: str | None = None,
    *,
    include_all: bool = False,
) -> tuple[list[PastSession], str]:
    """The patient's history in the clinic's records (clinic.history.load_clinic_history):
    the reader of clinic URLs that callers pass to treadctl.store.history (its
    RecordsHistory). psycopg is imported only when a URL is read."""
    from treadctl.clinic.history import load_clinic_history  # noqa: PLC0415 - psycopg

    return load_clinic_history(
        url,
        pseudonym,
        profile_name,
        kind,
        standstill_kmh,
        profile_sha256,
        include_all=include_all,
    )
