"""The sample files installed with the package, reachable by name from any directory.

`machines/`, `patients/` and `scenarios/` here are package data: the simulated machines,
two made-up patients and the simulator's fault scenarios. The shipped session protocols
with their sources live at the checkout's top, `profiles/`, and the wheel carries them
here as `profiles/` (pyproject's force-include). Every verb's `--machine`, `--profile`,
`--patient` and `--scenario` goes through `resolve`: a path that exists is that file; a
value with no path separator is the name of a sample (`--machine sim`, `--profile
backward-intro-15min`); anything else is a path, for the loader to report if missing.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from treadctl.config.loader import load_model
from treadctl.config.profile import ProfileConfig

Kind = Literal["machine", "profile", "patient", "scenario"]
FOLDERS: dict[Kind, str] = {
    "machine": "machines",
    "profile": "profiles",
    "patient": "patients",
    "scenario": "scenarios",
}
SUFFIX = ".toml"


class UnknownSampleError(ValueError):
    """A name that is no shipped sample; the message names the choices."""


def folder(kind: Kind) -> Path:
    """Where the shipped samples of one kind live: inside the installed package (a wheel
    carries them all); in a source checkout the profiles live at its top, `profiles/`."""
    packaged = Path(str(resources.files(__name__).joinpath(FOLDERS[kind])))
    if kind == "profile" and not packaged.is_dir():
        checkout = Path(__file__).resolve().parents[3] / FOLDERS[kind]
        if checkout.is_dir():
            return checkout
    return packaged


def names(kind: Kind) -> list[str]:
    """The shipped samples of one kind, by name (the file name without .toml)."""
    where = folder(kind)
    return sorted(p.stem for p in where.glob(f"*{SUFFIX}") if p.is_file())


def _is_name(value: str) -> bool:
    return bool(value) and not any(sep and sep in value for sep in ("/", os.sep, os.altsep))


def resolve(kind: Kind, value: str | Path) -> Path:
    """The file `value` stands for: an existing path always wins, then a sample's name.

    A value with a path separator (or an empty one) is returned as a path, so the
    loader reports a missing file as it always did. A bare `NAME.toml` that is not here
    but is a sample's name is refused with the name to give instead; any other bare
    `X.toml` is a path too. A bare word that names no sample raises `UnknownSampleError`.
    """
    text = str(value)
    path = Path(text)
    if path.exists() or not _is_name(text):
        return path
    known = names(kind)
    if text.endswith(SUFFIX):
        stem = text[: -len(SUFFIX)]
        if stem in known:
            raise UnknownSampleError(
                f"no file {text!r} in this directory; the shipped {kind} is named "
                f"{stem!r} (--{kind} {stem})"
            )
        return path
    if text in known:
        return folder(kind) / f"{text}{SUFFIX}"
    close = difflib.get_close_matches(text, known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise UnknownSampleError(
        f"no file {text!r} and no shipped {kind} of that name; {hint}"
        f"shipped {FOLDERS[kind]}: {', '.join(known)} (or give the path of a {kind} file)"
    )


@dataclass(frozen=True)
class ProfileSample:
    """One shipped profile as `treadctl profiles list` shows it."""

    name: str  # what --profile takes
    title: str
    minutes: float
    segments: int
    source: str
    path: Path


def profile_samples() -> list[ProfileSample]:
    """Every shipped profile, loaded and checked on its own (no machine, no patient)."""
    out = []
    for name in names("profile"):
        path = folder("profile") / f"{name}{SUFFIX}"
        profile = load_model(path, ProfileConfig)
        seconds = sum(b.repeats * sum(s.seconds for s in b.segments) for b in profile.blocks)
        count = sum(b.repeats * len(b.segments) for b in profile.blocks)
        out.append(ProfileSample(name, profile.name, seconds / 60, count, profile.source, path))
    return out


def profile_lines() -> list[str]:
    """The listing: name, minutes, segments, title and source; where the files live."""
    rows = profile_samples()
    width = max((len(r.name) for r in rows), default=4)
    out = [
        f"shipped profiles in {folder('profile')}",
        "(give the name: --profile NAME, or the path of your own profile file)",
        "",
        f"{'NAME':<{width}}    MIN  SEGMENTS  TITLE",
    ]
    for r in rows:
        out.append(f"{r.name:<{width}}  {r.minutes:5.1f}  {r.segments:8d}  {r.title}")
        out.append(f"{'':<{width}}  {'':5}  {'':8}  source: {r.source or '-'}")
    return out
