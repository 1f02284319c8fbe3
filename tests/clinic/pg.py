"""A real PostgreSQL server for the tests: initdb into a temporary directory, pg_ctl start
on a private unix-socket directory and a free loopback port, stopped at the end.

The binaries: $TREADCTL_PG_BIN (a directory), else `initdb` on PATH, else the newest
/usr/lib/postgresql/*/bin (Debian's `postgresql` package puts them there and not on PATH).
PostgreSQL refuses to run as root: as root the server runs as the `postgres` user (which
Debian's package creates), in a directory under /tmp that user owns.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

START_TIMEOUT_S = 60.0
DEBIAN_GLOB = "/usr/lib/postgresql/*/bin/initdb"
SUPERUSER = "treadctl"


class PgUnavailableError(RuntimeError):
    """No PostgreSQL binaries here; says where they were looked for."""


def find_bin_dir() -> Path:
    env = os.environ.get("TREADCTL_PG_BIN")
    if env:
        if not (Path(env) / "initdb").is_file():
            raise PgUnavailableError(f"TREADCTL_PG_BIN={env} has no initdb")
        return Path(env)
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    found = sorted(
        Path("/").glob(DEBIAN_GLOB.lstrip("/")),
        key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.parent.name)] or [0],
    )
    if found:
        return found[-1].parent
    raise PgUnavailableError(
        f"no initdb: set TREADCTL_PG_BIN, put initdb on PATH or install Debian's "
        f"postgresql package ({DEBIAN_GLOB})"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> str | None:
    """The user to run the server as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise PgUnavailableError("running as root and there is no postgres or nobody user")


class PgServer:
    """One PostgreSQL cluster; `stop()` and `start()` again keep its data and port."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir or find_bin_dir()
        self.user = _run_as()
        self.base = Path(tempfile.mkdtemp(prefix="treadctl-pg-"))
        self.data = self.base / "data"
        self.sockets = self.base / "sock"
        self.log = self.base / "server.log"
        self.port = free_port()
        self.running = False
        self._databases = 0
        self.sockets.mkdir()
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            for p in (self.base, self.sockets):
                os.chown(p, entry.pw_uid, entry.pw_gid)
        self._pg(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
            "--no-sync", "--no-instructions",
        )  # fmt: skip

    def _pg(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin_dir / tool), *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=START_TIMEOUT_S + 30,
            user=self.user,
            cwd=self.base,
        )

    def start(self) -> None:
        options = f"-k {self.sockets} -h 127.0.0.1 -p {self.port} -F -c max_connections=300"
        done = self._pg(
            "pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-o", options,
            "-w", "-t", str(int(START_TIMEOUT_S)), check=False,
        )  # fmt: skip
        if done.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {done.stdout}{done.stderr}\n{tail}")
        self.running = True

    def stop(self) -> None:
        if self.running:
            self._pg("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", check=False)
            self.running = False

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        self._databases += 1
        name = f"clinic_{os.getpid()}_{self._databases}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
                return self.url(name)
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
