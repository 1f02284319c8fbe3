"""Fixtures of the clinic-records tests: one real PostgreSQL server for the session, a new
database for each test; tests that stop the server get their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pg import PgServer  # type: ignore[import-not-found]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def clinic_url(pg_server: PgServer) -> str:
    """A new, empty database on the shared server."""
    return pg_server.create_database()


@pytest.fixture
def own_pg() -> Iterator[PgServer]:
    """A server of this test's own, which it may stop and start."""
    server = PgServer()
    try:
        server.start()
        yield server
    finally:
        server.close()
