"""A real mosquitto for the tests and the load bench: loopback only, passwords, an ACL.

Each broker gets a free port on 127.0.0.1, a password file made with `mosquitto_passwd
-b`, the ACL in examples/mqtt/acl (treadmills write their own topics and read their
command topic; `desk` reads everything and writes command topics; `viewer` only reads),
`allow_anonymous false`, and no persistence. `stop()` and `start()` again keep the port,
for the reconnect tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"

ROOT = Path(__file__).resolve().parents[2]
ACL = (ROOT / "examples/mqtt/acl").read_text()  # the documented ACL, as shipped

DEFAULT_USERS = {
    "tm-01": "tm-01-secret",
    "tm-02": "tm-02-secret",
    "desk": "desk-secret",
    "viewer": "viewer-secret",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def make_tls(workdir: Path) -> TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost (openssl CLI)."""
    d = workdir / "tls"
    d.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt")  # fmt: skip
    return TlsFiles(d / "ca.crt", d / "server.crt", d / "server.key")


@dataclass
class Broker:
    workdir: Path
    users: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_USERS))
    acl: str = ACL
    tls: TlsFiles | None = None
    port: int = 0
    host: str = "127.0.0.1"
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o700)
        if not self.port:
            self.port = free_port()
        passwd = self.workdir / "passwd"
        for i, (user, password) in enumerate(self.users.items()):
            create = ["-c"] if i == 0 else []
            subprocess.run(
                [MOSQUITTO_PASSWD, "-b", *create, str(passwd), user, password],
                check=True,
                capture_output=True,
            )
        (self.workdir / "acl").write_text(self.acl)
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous false",
            f"password_file {passwd}",
            f"acl_file {self.workdir / 'acl'}",
            "persistence false",
            "set_tcp_nodelay true",  # as examples/mqtt/mosquitto.conf: no Nagle delays
            "user root" if os.geteuid() == 0 else "",  # as root mosquitto would drop to `mosquitto`
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
        ]
        if self.tls is not None:
            lines += [
                f"cafile {self.tls.ca}",
                f"certfile {self.tls.cert}",
                f"keyfile {self.tls.key}",
            ]
        (self.workdir / "mosquitto.conf").write_text("\n".join(lines) + "\n")

    def password_file(self, user: str) -> Path:
        path = self.workdir / f"{user}.password"
        path.write_text(self.users[user] + "\n")
        path.chmod(0o600)
        return path

    @property
    def log(self) -> str:
        try:
            return (self.workdir / "mosquitto.log").read_text(errors="replace")
        except OSError:
            return ""

    def start(self, timeout_s: float = 15.0) -> None:
        assert self.proc is None, "already running"
        self.starts += 1
        log = (self.workdir / "mosquitto.log").open("ab")
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.workdir / "mosquitto.conf")],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                raise RuntimeError(f"mosquitto exited ({rc}) at start:\n{self.log}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), 0.5),
            ):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mosquitto not listening on {self.port}:\n{self.log}")
            time.sleep(0.05)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # in case a test froze it
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def freeze(self) -> None:
        """SIGSTOP: the broker keeps its connections open and answers nothing (a hung
        broker, or one so slow it might as well be)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def __enter__(self) -> Broker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
