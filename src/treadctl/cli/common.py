"""What every verb group shares: exit codes, the help formatter, a verb's parser with its
examples and exit codes, the file options, and the `Group` a verb module exposes.

Imported by `treadctl --version` and `--help`: it imports nothing of treadctl's domain at
its top (the samples and their pydantic models load when an option names one).
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from treadctl.samples import Kind

EXIT_OK = 0
EXIT_NOT_COMPLETED = 4  # not 1: that is what Python exits with on a crash
EXIT_CONFIG = 2
EXIT_CONNECT = 3

# What each exit code means, as the verbs use them (README.md has the same table).
EXIT_WORDS = {
    EXIT_OK: "ok",
    EXIT_CONFIG: "configuration or usage error (bad file, options that do not go together)",
    EXIT_CONNECT: "unreachable: the drive, its link or the controller could not be reached",
    EXIT_NOT_COMPLETED: "not completed (stopped, fault) or refused",
}
CONFIG_EXITS = {EXIT_CONFIG: "a file is refused (one line per problem) or a usage error"}
SESSION_EXITS = {
    EXIT_OK: "the session completed",
    **CONFIG_EXITS,
    EXIT_NOT_COMPLETED: "the session did not complete (stopped, faulted, time limit)",
}

DEFAULT_SOCKET = Path("runs") / "treadctl.sock"
DEFAULT_MACHINE = "sim"
PROFILE_HELP = "profile file (TOML) or a shipped profile's name (treadctl profiles list)"

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Verb = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Group:
    """A verb group: adds its verbs' parsers and runs them. `verbs` maps each top-level
    verb it adds to its entry point; `serving` names those that serve sockets (a peer
    that hangs up must be an EPIPE to handle, never a SIGPIPE that kills the process)."""

    add_parsers: Callable[[Subparsers], None]
    verbs: Mapping[str, Verb]
    serving: frozenset[str] = field(default_factory=frozenset)


class UsageError(Exception):
    """Options that do not go together; the message says what to give."""


def sample(kind: Kind) -> Callable[[str], Path]:
    """The argparse type of --machine, --profile, --patient and --scenario: a path, or
    the name of a shipped sample (treadctl.samples); an unknown name is a usage error."""

    def convert(value: str) -> Path:
        from treadctl.samples import UnknownSampleError, resolve  # noqa: PLC0415 - pydantic

        try:
            return resolve(kind, value)
        except UnknownSampleError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = f"{kind} file or name"
    return convert


MACHINE = sample("machine")
PROFILE = sample("profile")
PATIENT = sample("patient")
SCENARIO = sample("scenario")


def treadctl_version() -> str:
    from importlib.metadata import PackageNotFoundError  # noqa: PLC0415 - only for --version
    from importlib.metadata import version as package_version  # noqa: PLC0415

    try:
        return package_version("treadctl")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown (not installed)"


class Parser(argparse.ArgumentParser):
    """argparse's parser, with two things a new user expects: a mistyped choice (a verb,
    a subcommand, an option's value) gets the closest names as a suggestion, and an option
    a verb does not know is refused with that verb's usage, not the top-level one. Its
    subparsers are of this class too (argparse makes them of the parent's class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _VerbParsers)

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        if choices is not None and value not in choices:
            from difflib import get_close_matches  # noqa: PLC0415 - only on a mistake

            names = [str(c) for c in choices]
            close = get_close_matches(str(value), names, n=3, cutoff=0.6)
            if close:
                hint = " or ".join(repr(c) for c in close)
                raise argparse.ArgumentError(
                    action, f"invalid choice: {value!r}: did you mean {hint}?"
                )
        super()._check_value(action, value)


class _VerbParsers(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Hands the rest of the command line to the verb's parser, which refuses what it does
    not know itself: `treadctl run ... --bogus` prints the usage of `run`. (argparse's
    own passes the unknown options up, and the top-level parser refuses them with its own
    usage.) Every word after a verb is the verb's: the top level has no options but
    --version, which comes before the verb."""

    def __call__(
        self,
        _parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        _option_string: str | None = None,
    ) -> None:
        name, *rest = values
        if self.dest is not argparse.SUPPRESS:
            setattr(namespace, self.dest, name)
        try:
            verb = self._name_parser_map[name]
        except KeyError:  # the choices were checked first: only for a choice added late
            choices = ", ".join(self._name_parser_map)
            raise argparse.ArgumentError(
                self, f"unknown verb {name!r} (choose from {choices})"
            ) from None
        verb_namespace, extras = verb.parse_known_args(rest, None)
        for key, value in vars(verb_namespace).items():
            setattr(namespace, key, value)
        if extras:
            verb.error(f"unrecognized arguments: {' '.join(extras)}")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's lines (examples, exit codes) and states an option's default
    when its help text does not already say it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            not action.option_strings
            or "default" in text
            or action.default in (None, False, argparse.SUPPRESS)
        ):
            return text
        return f"{text} (default: %(default)s)"


def epilog(examples: list[str], exits: dict[int, str]) -> str:
    """The end of a verb's --help: a few examples, then its exit codes."""
    lines = ["examples:", *(f"  {e}" for e in examples), "", "exit codes:"]
    return "\n".join([*lines, *exit_lines(exits)])


def exit_lines(exits: dict[int, str]) -> list[str]:
    lines: list[str] = []
    for code, text in sorted(exits.items()):
        lines += textwrap.wrap(text, 78, initial_indent=f"  {code}  ", subsequent_indent=" " * 5)
    return lines


def verb_parser(
    sub: Subparsers,
    name: str,
    text: str,
    examples: list[str],
    exits: dict[int, str],
) -> argparse.ArgumentParser:
    return sub.add_parser(
        name,
        help=text,
        description=text[:1].upper() + text[1:] + ".",
        epilog=epilog(examples, exits),
        formatter_class=HelpFormatter,
    )


def add_files(sp: argparse.ArgumentParser, machine_required: bool = True) -> None:
    """--machine and --patient, as every verb that loads a session's files takes them."""
    sp.add_argument(
        "--machine",
        type=MACHINE,
        required=machine_required,
        default=None if machine_required else DEFAULT_MACHINE,
        help="machine file (TOML) or a shipped machine's name"
        + ("" if machine_required else f" (default: {DEFAULT_MACHINE}, the simulator)"),
    )
    sp.add_argument(
        "--patient",
        type=PATIENT,
        default=None,
        help="patient file (TOML) or a sample's name (default: none, no personal caps)",
    )


def add_session_files(sp: argparse.ArgumentParser, machine_required: bool = True) -> None:
    """The files of a verb that runs a session: also its event log and scenario."""
    add_files(sp, machine_required)
    sp.add_argument(
        "--events",
        type=Path,
        default=None,
        help="JSON-lines event log (default: runs/<verb>-<time>.jsonl)",
    )
    sp.add_argument(
        "--scenario",
        type=SCENARIO,
        default=None,
        help="simulator scenario (file or shipped name): timed faults and operator "
        "commands (default: none)",
    )
