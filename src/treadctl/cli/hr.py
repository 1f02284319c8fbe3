"""`treadctl hr`: heart-rate straps in range (Bluetooth LE).

treadctl.heartrate.verb is imported when used, not here: it imports this package's
common module, so importing it first must not find this group half-built."""

from __future__ import annotations

import argparse

from treadctl.cli.common import Group, Subparsers


def add_parsers(sub: Subparsers) -> None:
    from treadctl.heartrate import verb  # noqa: PLC0415 - see the module's docstring

    verb.add_parser(sub)


def hr_verb(args: argparse.Namespace) -> int:
    from treadctl.heartrate import verb  # noqa: PLC0415 - see the module's docstring

    return verb.main(args)


GROUP = Group(add_parsers, {"hr": hr_verb})
