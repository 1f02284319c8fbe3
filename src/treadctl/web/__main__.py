"""`python -m treadctl.web ...`: the `treadctl web` verb on its own."""

from __future__ import annotations

import argparse
import sys

# treadctl.cli first: once it lists this verb's GROUP, importing the verb before the
# package would find the verb half-imported.
import treadctl.cli  # noqa: F401
from treadctl.cli.common import HelpFormatter
from treadctl.web.verb import add_parser, main


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="treadctl", formatter_class=HelpFormatter)
    add_parser(parser.add_subparsers(dest="verb", required=True))
    return main(parser.parse_args(["web", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    sys.exit(run())
