"""The login token: who may open the console page and its websocket.

The console drives a treadmill, so a page on the network must not be open to anyone who
finds the port: one secret token, compared in constant time, turned into a cookie on the
first `?token=` visit (so it leaves the address bar), and a websocket refused without
that cookie or from another page's Origin (a cross-site page cannot ride the cookie).
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

TOKEN_ENV = "TREADCTL_WEB_TOKEN"
COOKIE = "treadctl_console"
TOKEN_MIN_CHARS = 16
TOKEN_MAX_CHARS = 256
GENERATED_TOKEN_BYTES = 32
_TOKEN_RE = re.compile(r"[A-Za-z0-9._~-]+")
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_HOST_RE = re.compile(r"[A-Za-z0-9.:\[\]-]{1,255}")


class TokenError(ValueError):
    """A token file or variable that cannot be used (says which and why)."""


def _checked(token: str, source: str) -> str:
    if not TOKEN_MIN_CHARS <= len(token) <= TOKEN_MAX_CHARS:
        raise TokenError(f"{source}: the token must be {TOKEN_MIN_CHARS}..{TOKEN_MAX_CHARS} chars")
    if not _TOKEN_RE.fullmatch(token):
        raise TokenError(f"{source}: the token may hold only letters, digits and . _ ~ -")
    return token


def load_token(token_file: Path | None) -> tuple[str, str]:
    """The token and where it came from: the file's first line, else $TREADCTL_WEB_TOKEN,
    else a new random one (printed once, in the URL, for the operator)."""
    if token_file is not None:
        try:
            with token_file.open("rb") as f:
                raw = f.read(TOKEN_MAX_CHARS + 2)
        except OSError as exc:
            raise TokenError(f"--token-file {token_file}: {exc.strerror}") from exc
        lines = raw.decode("utf-8", "replace").splitlines()
        return _checked(lines[0] if lines else "", f"--token-file {token_file}"), "file"
    env = os.environ.get(TOKEN_ENV)
    if env is not None:
        return _checked(env, f"${TOKEN_ENV}"), "env"
    return secrets.token_urlsafe(GENERATED_TOKEN_BYTES), "generated"


@dataclass(frozen=True)
class Gate:
    """Checks a request's token, cookie, Host and Origin; holds no per-client state."""

    token: str
    cookie_value: str  # random per server start: a leaked cookie dies with the server
    allowed_hosts: frozenset[str]  # Host headers served; empty: any well-formed one

    @classmethod
    def create(cls, token: str, bind_host: str, port: int, public_host: str | None) -> Gate:
        hosts: set[str] = set()
        if bind_host not in ("0.0.0.0", "::", ""):
            names = {bind_host, f"[{bind_host}]" if ":" in bind_host else bind_host}
            if bind_host in ("127.0.0.1", "localhost", "::1"):
                names.update(_LOOPBACK_NAMES)
            hosts.update(f"{n}:{port}" for n in names)
            if port == 80:
                hosts.update(names)
            if public_host is not None:
                hosts.add(public_host)
        # A wildcard bind without --public-url: every name of the machine is fine.
        return cls(token, secrets.token_urlsafe(GENERATED_TOKEN_BYTES), frozenset(hosts))

    def token_ok(self, given: str | None) -> bool:
        if given is None or len(given) > TOKEN_MAX_CHARS:
            return False
        return hmac.compare_digest(given.encode("utf-8", "replace"), self.token.encode())

    def cookie_ok(self, given: str | None) -> bool:
        if given is None or len(given) > TOKEN_MAX_CHARS:
            return False
        return hmac.compare_digest(given.encode("utf-8", "replace"), self.cookie_value.encode())

    def host_ok(self, host: str | None) -> bool:
        """DNS rebinding: a page on another name that resolves here is not served."""
        if host is None or not _HOST_RE.fullmatch(host):
            return False
        return not self.allowed_hosts or host.lower() in self.allowed_hosts

    def origin_ok(self, origin: str | None, host: str) -> bool:
        """The websocket's page must be ours: same scheme-less host and port."""
        if origin is None:
            return False
        for scheme in ("http://", "https://"):
            if origin.lower() == f"{scheme}{host.lower()}":
                return True
        return False
