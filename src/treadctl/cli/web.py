"""`treadctl web`: the operator dashboard (or the clinic monitor) in a browser."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:  # aiohttp and textual-serve load only when the verb runs
    from treadctl.web.server import WebConfig

from treadctl.cli.common import (
    DEFAULT_SOCKET,
    EXIT_CONFIG,
    EXIT_OK,
    Group,
    HelpFormatter,
    Subparsers,
    epilog,
    verb_parser,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8470
DEFAULT_MAX_SESSIONS = 2
DEFAULT_MAX_REQUEST_BYTES = 16 * 1024
DEFAULT_MAX_HEADER_BYTES = 8 * 1024
DEFAULT_MAX_WS_MESSAGE_BYTES = 64 * 1024
DEFAULT_MAX_INPUT_CHARS = 4096
DEFAULT_WS_HEARTBEAT_S = 5.0
DEFAULT_QUIT_GRACE_S = 2.0
MAX_COLS = 500
MAX_ROWS = 200

EXITS = {
    EXIT_OK: "stopped with ctrl+c or SIGTERM",
    EXIT_CONFIG: "a usage error: a bad token file or $TREADCTL_WEB_TOKEN, a bad --public-url, "
    "bad monitor options, or the address cannot be listened on (in use, not this machine's)",
}
DESCRIPTION = f"""\
Serve the operator dashboard (or the MQTT clinic monitor) over HTTP for a browser:
kiosks, touch screens, a supervisor's desk. Open the URL it prints (it holds the login
token); the server listens on {DEFAULT_HOST} unless told otherwise. Each browser tab runs
its own console process; closing the tab ends it (within --quit-grace-s, then SIGTERM,
then SIGKILL), so a dashboard's heartbeats stop and the controller's presence rule stops
the belt. A kiosk: chromium --kiosk 'http://{DEFAULT_HOST}:{DEFAULT_PORT}/?token=...'.
See docs/web.md."""
EXAMPLES = {
    "dashboard": [
        "treadctl web dashboard --socket runs/a.sock",
        "treadctl web dashboard --socket runs/a.sock --token-file web-token",
        "treadctl web dashboard --socket runs/a.sock --public-url https://treadmill-1.clinic",
    ],
    "monitor": [
        "treadctl web monitor --broker 127.0.0.1:1883 --site clinic-a",
        "treadctl web monitor --broker 127.0.0.1:1883 --site clinic-a --port 8471",
    ],
}


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    """An argparse type: a positive finite number (NaN and inf refused)."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: not a number") from exc
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"{text!r}: give a positive finite number")
        return value

    return parse


def _server_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("web server")
    g.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}: this machine only; 0.0.0.0 "
        "for the network, behind a TLS reverse proxy)",
    )
    g.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT}; "
        "0: any free port, printed)",
    )  # fmt: skip
    g.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help="file whose first line is the login token (16..256 of A-Z a-z 0-9 . _ ~ -); "
        "default: $TREADCTL_WEB_TOKEN, else a new random token printed in the URL",
    )
    g.add_argument(
        "--public-url",
        default=None,
        help="the URL browsers use when a reverse proxy is in front (https://...: the "
        "cookie is marked Secure); default: the listening address",
    )
    g.add_argument(
        "--max-sessions",
        type=_positive(int),
        default=DEFAULT_MAX_SESSIONS,
        help=f"console tabs open at once (default {DEFAULT_MAX_SESSIONS}); each is a process",
    )
    g.add_argument(
        "--quit-grace-s",
        type=_positive(float),
        default=DEFAULT_QUIT_GRACE_S,
        help=f"after a tab closes, seconds its console gets to leave before SIGTERM, and "
        f"again before SIGKILL (default {DEFAULT_QUIT_GRACE_S:g})",
    )
    g.add_argument(
        "--ws-heartbeat-s",
        type=_positive(float),
        default=DEFAULT_WS_HEARTBEAT_S,
        help=f"websocket ping period: a browser silent for longer is taken as gone "
        f"(default {DEFAULT_WS_HEARTBEAT_S:g})",
    )
    g.add_argument("--verbose", action="store_true", help="log each console opened and closed")


def add_parser(sub: Subparsers) -> None:
    """`treadctl web` with its two consoles as sub-verbs."""
    from treadctl.mqtt.options import add_monitor_arguments  # noqa: PLC0415

    web = verb_parser(
        sub,
        "web",
        "the operator dashboard or the clinic monitor in a browser",
        [EXAMPLES["dashboard"][0], EXAMPLES["monitor"][0]],
        EXITS,
    )
    web.description = DESCRIPTION
    apps = web.add_subparsers(dest="web_app", required=True, metavar="{dashboard,monitor}")
    dash = apps.add_parser(
        "dashboard",
        help="the operator dashboard of a running controller",
        description=DESCRIPTION,
        epilog=epilog(EXAMPLES["dashboard"], EXITS),
        formatter_class=HelpFormatter,
    )
    dash.add_argument(
        "--socket",
        type=Path,
        default=DEFAULT_SOCKET,
        help=f"the controller's API socket (default: {DEFAULT_SOCKET})",
    )
    _server_options(dash)
    mon = apps.add_parser(
        "monitor",
        help="the MQTT clinic monitor",
        description=DESCRIPTION,
        epilog=epilog(EXAMPLES["monitor"], EXITS),
        formatter_class=HelpFormatter,
    )
    add_monitor_arguments(mon)
    _server_options(mon)


def _child_argv(args: argparse.Namespace) -> list[str]:
    argv = [sys.executable, "-m", "treadctl.web.child", args.web_app]
    if args.web_app == "dashboard":
        return [*argv, "--socket", str(args.socket.resolve())]
    argv += ["--broker", args.broker, "--site", args.site]
    for opt, value in (("--username", args.username), ("--password-file", args.password_file),
                       ("--tls-ca", args.tls_ca), ("--tls-cert", args.tls_cert),
                       ("--tls-key", args.tls_key)):  # fmt: skip
        if value is not None:
            argv += [opt, str(Path(value).resolve()) if isinstance(value, Path) else value]
    if args.tls:
        argv.append("--tls")
    if args.commands:
        argv.append("--commands")
    return argv


def main(args: argparse.Namespace) -> int:
    """Serve until ctrl+c or SIGTERM."""
    from treadctl.web.auth import TokenError, load_token  # noqa: PLC0415
    from treadctl.web.server import WebConfig, setup_logging  # noqa: PLC0415

    try:
        token, _source = load_token(args.token_file)
    except TokenError as exc:
        print(f"treadctl web: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    public_host = None
    if args.public_url is not None:
        parts = urlsplit(args.public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            print(f"treadctl web: --public-url {args.public_url!r}: give http(s)://host[:port]",
                  file=sys.stderr)  # fmt: skip
            return EXIT_CONFIG
        public_host = parts.netloc.lower()
    if args.web_app == "monitor":
        from treadctl.mqtt.options import monitor_settings  # noqa: PLC0415

        try:
            monitor_settings(args)  # refuse bad monitor options now, not in every tab
        except ValueError as exc:
            print(f"treadctl web: {exc}", file=sys.stderr)
            return EXIT_CONFIG
    if not 0 <= args.port < 65536:
        print(f"treadctl web: --port {args.port}: 0..65535", file=sys.stderr)
        return EXIT_CONFIG
    conf = WebConfig(
        argv=_child_argv(args),
        title=f"treadctl {args.web_app}",
        host=args.host,
        port=args.port,
        public_url=args.public_url,
        max_sessions=int(args.max_sessions),
        max_request_bytes=DEFAULT_MAX_REQUEST_BYTES,
        max_header_bytes=DEFAULT_MAX_HEADER_BYTES,
        max_ws_message_bytes=DEFAULT_MAX_WS_MESSAGE_BYTES,
        max_input_chars=DEFAULT_MAX_INPUT_CHARS,
        ws_heartbeat_s=float(args.ws_heartbeat_s),
        quit_grace_s=float(args.quit_grace_s),
        max_cols=MAX_COLS,
        max_rows=MAX_ROWS,
    )
    setup_logging(args.verbose)
    import asyncio  # noqa: PLC0415 - only when the verb runs (treadctl --help stays fast)

    return asyncio.run(_run(conf, token, public_host))


async def _run(conf: WebConfig, token: str, public_host: str | None) -> int:
    import asyncio  # noqa: PLC0415
    import signal  # noqa: PLC0415

    from treadctl.web.server import serve  # noqa: PLC0415

    task = asyncio.create_task(serve(conf, token, public_host))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        return EXIT_OK
    except OSError as exc:
        print(f"treadctl web: cannot listen on {conf.host}:{conf.port}: {exc.strerror}",
              file=sys.stderr)  # fmt: skip
        return EXIT_CONFIG
    return EXIT_OK


GROUP = Group(add_parser, {"web": main}, serving=frozenset({"web"}))
