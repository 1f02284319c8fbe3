"""The PostgreSQL fixture itself: a real server, reachable over loopback, restartable."""

from __future__ import annotations

import psycopg
import pytest
from pg import PgServer, find_bin_dir  # type: ignore[import-not-found]


def test_finds_the_binaries() -> None:
    assert (find_bin_dir() / "pg_ctl").is_file()


def test_a_database_per_test(clinic_url: str, pg_server: PgServer) -> None:
    with psycopg.connect(clinic_url) as conn:
        row = conn.execute("SELECT current_database(), inet_server_port()").fetchone()
    assert row is not None
    assert row[0] == clinic_url.rsplit("/", 1)[1]
    assert row[1] == pg_server.port


def test_stopped_server_refuses_then_serves_again(own_pg: PgServer) -> None:
    url = own_pg.create_database()
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (1)")
    own_pg.stop()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=5).close()
    own_pg.start()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
