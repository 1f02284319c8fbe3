"""The clinic monitor's options and its run from them: parsed by `treadctl monitor`
(cli/clients.py) and by the web console's child (web/child.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the monitor imports Textual: only when the verb runs
    from treadctl.mqtt.monitor import MonitorSettings

EXIT_OK = 0
EXIT_USAGE = 2


def add_monitor_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker", required=True, metavar="HOST:PORT", help="the MQTT broker (port 1883 if none)"
    )
    parser.add_argument("--site", required=True, help="the site's topic level (treadctl/SITE/...)")
    parser.add_argument("--username", default=None, help="the broker username")
    parser.add_argument(
        "--password-file", type=Path, default=None, help="file whose first line is the password"
    )
    parser.add_argument("--tls", action="store_true", help="TLS, trusting the system's CAs")
    parser.add_argument("--tls-ca", type=Path, default=None, help="TLS, trusting this CA file")
    parser.add_argument("--tls-cert", type=Path, default=None, help="client certificate (TLS)")
    parser.add_argument("--tls-key", type=Path, default=None, help="its key (with --tls-cert)")
    parser.add_argument(
        "--commands",
        action="store_true",
        help="s / p send stop / pause to the selected treadmill (if the broker's ACL lets "
        "this user write command topics)",
    )


def _broker(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, 1883
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--broker {text!r}: give HOST:PORT, e.g. localhost:1883")
    return host.strip("[]"), int(port)


def monitor_settings(args: argparse.Namespace) -> MonitorSettings:
    """The monitor's settings from the options; ValueError says which option is wrong."""
    from treadctl.config.mqtt import NAME_RE, NAME_RULE  # noqa: PLC0415 - pydantic: when run
    from treadctl.mqtt.monitor import MonitorSettings  # noqa: PLC0415 - Textual loads slowly

    host, port = _broker(args.broker)
    if not NAME_RE.match(args.site):
        raise ValueError(f"--site {args.site!r}: {NAME_RULE}")
    password = None
    if args.password_file is not None:
        if args.username is None:
            raise ValueError("--password-file needs --username")
        try:
            lines = args.password_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ValueError(f"--password-file {args.password_file}: {exc.strerror}") from exc
        if not lines or not lines[0]:
            raise ValueError(f"--password-file {args.password_file}: empty")
        password = lines[0]
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    for opt, path in (("--tls-ca", args.tls_ca), ("--tls-cert", args.tls_cert),
                      ("--tls-key", args.tls_key)):  # fmt: skip
        if path is not None and not path.is_file():
            raise ValueError(f"{opt} {path}: no such file")
    return MonitorSettings(
        host=host,
        port=port,
        site=args.site,
        username=args.username,
        password=password,
        tls=bool(args.tls or args.tls_ca or args.tls_cert),
        tls_ca=str(args.tls_ca) if args.tls_ca else None,
        tls_cert=str(args.tls_cert) if args.tls_cert else None,
        tls_key=str(args.tls_key) if args.tls_key else None,
        commands=args.commands,
    )


def monitor_main(args: argparse.Namespace) -> int:
    """Run the monitor until the user quits; 2 for options that do not go together."""
    from treadctl.mqtt.monitor import MonitorApp  # noqa: PLC0415 - Textual loads slowly

    try:
        settings = monitor_settings(args)
    except ValueError as exc:
        print(f"treadctl monitor: {exc}", file=sys.stderr)
        return EXIT_USAGE
    MonitorApp(settings).run()
    return EXIT_OK


__all__ = ["add_monitor_arguments", "monitor_main", "monitor_settings"]
