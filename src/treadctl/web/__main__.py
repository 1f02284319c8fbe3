"""`python -m treadctl.web ...`: the `treadctl web` verb (cli/web.py) on its own.

An entry point, like every `__main__`: nothing imports it, so it stands above every layer
and may reach the CLI from inside the web package (docs/architecture.md)."""

from __future__ import annotations

import argparse
import sys

from treadctl.cli.common import HelpFormatter
from treadctl.cli.web import add_parser, main


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="treadctl", formatter_class=HelpFormatter)
    add_parser(parser.add_subparsers(dest="verb", required=True))
    return main(parser.parse_args(["web", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    sys.exit(run())
