"""`treadctl records`: the clinic's records on PostgreSQL (ship, serve, read, export).

treadctl.clinic.verb is imported when used, not here: it imports this package's common
module, so importing it first must not find this group half-built."""

from __future__ import annotations

import argparse

from treadctl.cli.common import Group, Subparsers


def add_parsers(sub: Subparsers) -> None:
    from treadctl.clinic import verb  # noqa: PLC0415 - see the module's docstring

    verb.add_parser(sub)


def records_verb(args: argparse.Namespace) -> int:
    from treadctl.clinic import verb  # noqa: PLC0415 - see the module's docstring

    return verb.main(args)


GROUP = Group(add_parsers, {"records": records_verb}, serving=frozenset({"records"}))
