"""Schema problems in words a clinic can act on.

pydantic says where a problem is as a location in its own terms and why in its own
words. Here a location becomes the field's path in the file (a union's member tags,
such as `modbus` in `drive.modbus.link.tcp.port`, are pydantic's, not the file's:
`drive.link.port`), a misspelt field gets the nearest field name the model has, and a
bound gets its unit from the field's name ("at most 25 km/h" for `max_forward_kmh`).
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

Loc = tuple[int | str, ...]

# Units by the end of a field's name. Rates first: a name with "_per_" in it has a
# unit only if it is one of these (`kmh_per_hz` is not in Hz).
RATES: tuple[tuple[str, str], ...] = (
    ("_kmh_per_hz", "km/h per Hz"),
    ("_kmh_per_s", "km/h per s"),
    ("_kmh_per_s2", "km/h per s²"),
    ("_steps_per_min", "steps/min"),
    ("_counts_per_hz", "counts per Hz"),
    ("_per_week", "per week"),
)
UNITS: tuple[tuple[str, str], ...] = (
    ("_pct_comfortable", "% of the comfortable speed"),
    ("_kmh", "km/h"),
    ("_mps2", "m/s²"),
    ("_mps3", "m/s³"),
    ("_mps", "m/s"),
    ("_ms", "ms"),
    ("_s", "s"),
    ("_min", "min"),
    ("_hz", "Hz"),
    ("_bpm", "bpm"),
    ("_spm", "steps/min"),
    ("_pct", "%"),
    ("_kg", "kg"),
)

# pydantic's bound errors, as the words the other speed messages use ("above", "at most")
_BOUNDS = {
    "less_than_equal": ("le", "must be at most"),
    "less_than": ("lt", "must be below"),
    "greater_than_equal": ("ge", "must be at least"),
    "greater_than": ("gt", "must be above"),
}
# a number given longer than this is left out of the message (a 4000-digit integer)
_MAX_SHOWN = 24


def unit_of(field: str) -> str | None:
    """The unit a field's name ends with (`max_forward_kmh`: km/h), or None."""
    name = f"_{field}"  # so that `kmh_per_hz` ends with `_kmh_per_hz`
    rate = next((unit for end, unit in RATES if name.endswith(end)), None)
    if rate is not None or "_per_" in name:
        return rate
    return next((unit for end, unit in UNITS if name.endswith(end)), None)


def _number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    text = str(value)
    return text if len(text) <= _MAX_SHOWN else None


def bound_in_words(error_type: str, ctx: Mapping[str, Any], given: Any, field: str) -> str | None:
    """`must be at most 25 km/h (30 km/h given)` for pydantic's `less_than_equal` on a
    `_kmh` field, and so on for the other bounds; None for any other error."""
    if error_type not in _BOUNDS:
        return None
    key, words = _BOUNDS[error_type]
    bound = _number(ctx.get(key))
    if bound is None:
        return None
    unit = unit_of(field)
    with_unit = (lambda n: f"{n} {unit}") if unit else (lambda n: n)
    text = f"{words} {with_unit(bound)}"
    shown = _number(given)
    return text if shown is None else f"{text} ({with_unit(shown)} given)"


def _members(tp: Any) -> list[Any] | None:
    """The members of a union (None left out), or None if `tp` is not a union."""
    if get_origin(tp) in (Union, types.UnionType):
        return [m for m in get_args(tp) if m is not type(None)]
    return None


def _unwrap(tp: Any) -> Any:
    """Without `Annotated` and without a nullable union's None."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
            continue
        members = _members(tp)
        if members is not None and len(members) == 1:
            tp = members[0]
            continue
        return tp


def _literals(model: type[BaseModel]) -> set[object]:
    out: set[object] = set()
    for info in model.model_fields.values():
        tp = _unwrap(info.annotation)
        if get_origin(tp) is Literal:
            out.update(get_args(tp))
    return out


def _member_for(members: list[Any], tag: str) -> Any:
    """The union member pydantic's location part `tag` stands for, or None if unsure."""
    for member in members:
        inner = _unwrap(member)
        if _is_model(inner):
            names = (inner.__name__, *(str(v) for v in _literals(inner)))
        elif _members(inner) is not None:
            names = (tag,) if tag.startswith(("tagged-union[", "union[")) else ()
        elif get_origin(inner) is Literal:
            names = (tag,) if tag.startswith("literal[") else ()
        else:
            names = (getattr(inner, "__name__", None),)
        if tag in names:
            return inner
    return None


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def file_path(model: type[BaseModel], loc: Loc) -> tuple[Loc, type[BaseModel] | None]:
    """`loc` without the union member tags, and the model that owns its last part.

    The owner is None when the walk lost track of the types on the way (then the path
    is returned with the rest of `loc` as it is, and may not name a key in the file).
    """
    tp: Any = model
    out: list[int | str] = []
    owner: type[BaseModel] | None = None
    i = 0
    while i < len(loc):
        part = loc[i]
        tp = _unwrap(tp)
        members = _members(tp)
        if members is not None and isinstance(part, str):
            tp = _member_for(members, part)  # a member's tag: pydantic's, not the file's
            i += 1
            continue
        owner = tp if _is_model(tp) and isinstance(part, str) else None
        out.append(part)
        origin = get_origin(tp)
        if owner is not None:
            info = owner.model_fields.get(str(part))
            tp = None if info is None else info.annotation
        elif isinstance(part, int) and origin in (list, tuple, set, frozenset):
            args = get_args(tp)
            tp = args[0] if args else None
        elif isinstance(part, str) and origin is dict:
            args = get_args(tp)
            tp = args[1] if len(args) == 2 else None
        else:
            tp = None
        if tp is None:  # lost: the rest as pydantic gave it
            out.extend(loc[i + 1 :])
            return tuple(out), owner if i == len(loc) - 1 else None
        i += 1
    return tuple(out), owner


def did_you_mean(owner: type[BaseModel] | None, name: str) -> str | None:
    """The field of `owner` closest to the misspelt `name`, if one is close enough."""
    if owner is None:
        return None
    names = [info.alias or field for field, info in owner.model_fields.items()]
    close = difflib.get_close_matches(name, names, n=1)
    return close[0] if close else None
