"""`treadctl records ...` on its own (src/treadctl/cli/clinic.py's parser and main), without
the rest of the CLI's verbs: `python records_cli.py records ship ...`."""

from __future__ import annotations

import argparse
import sys

from treadctl.cli.clinic import add_parser, main


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="treadctl")
    add_parser(parser.add_subparsers(dest="verb", required=True))
    return main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
