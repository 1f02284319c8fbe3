"""No config model accepts inf or nan in any float field, now or when a field is added.

TOML has inf, -inf and nan literals; a non-finite number must never be a limit or a
cap. The test walks every pydantic model of the config files (the modules below and
every subclass of their base classes, wherever defined), finds every field whose type
is a float (or float | None), and validates each with each non-finite value: the field
itself must be refused with `finite_number`, worded as `must be a finite number`.
A new field, a new model, or a new model module in treadctl.config is covered without
touching this test; a float in a shape this test does not know (a list of floats, a
dict) fails it, so it gets covered on purpose.
"""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
import types
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

import treadctl.config
from treadctl.config.loader import FINITE, problems_from_validation
from treadctl.config.machine import Strict

# Models read from TOML files outside treadctl.config.
OTHER_CONFIG_MODULES = ("treadctl.sim.scenario", "treadctl.drives.regmap")
NON_FINITE = (math.inf, -math.inf, math.nan)


def config_modules() -> list[types.ModuleType]:
    names = [f"treadctl.config.{m.name}" for m in pkgutil.iter_modules(treadctl.config.__path__)]
    return [importlib.import_module(n) for n in [*names, *OTHER_CONFIG_MODULES]]


def all_subclasses(cls: type[BaseModel]) -> Iterator[type[BaseModel]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from all_subclasses(sub)


def config_models() -> list[type[BaseModel]]:
    found: set[type[BaseModel]] = set()
    for module in config_modules():
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseModel) and obj.__module__ == module.__name__:
                found.add(obj)
    bases: list[type[BaseModel]] = [*found, Strict]
    for base in bases:
        found.update(all_subclasses(base))
    return sorted(found, key=lambda c: (c.__module__, c.__qualname__))


def mentions_float(annotation: Any) -> bool:
    if annotation is float:
        return True
    return any(mentions_float(arg) for arg in typing.get_args(annotation))


def is_plain_float(annotation: Any) -> bool:
    """float, or a union of float with None and non-float types."""
    if annotation is float:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        return float in args and not any(a is not float and mentions_float(a) for a in args)
    return False


def float_fields() -> list[tuple[type[BaseModel], str]]:
    fields = []
    for model in config_models():
        for name, info in model.model_fields.items():
            if mentions_float(info.annotation):
                fields.append((model, name))
    return fields


FIELDS = float_fields()


def test_the_walk_finds_the_models_and_fields_that_matter() -> None:
    """Guard against a walk that silently finds nothing."""
    names = {(m.__name__, f) for m, f in FIELDS}
    for expected in [
        ("Limits", "rail_release_cap_kmh"),
        ("Limits", "max_forward_kmh"),
        ("RampLimits", "accel_mps2"),
        ("PatientConfig", "max_forward_kmh"),
        ("PatientConfig", "body_mass_kg"),
        ("SegmentSpec", "speed_kmh"),
        ("ProgressionRules", "cap_kmh"),
        ("FaultEvent", "value"),
        ("TimedOperatorCommand", "speed_kmh"),
        ("BrokerConfig", "timeout_s"),
        ("ReconnectConfig", "max_s"),
        ("RegisterMap", "max_hz"),
    ]:
        assert expected in names
    assert len(FIELDS) >= 60


@pytest.mark.parametrize(
    ("model", "name"), [pytest.param(m, f, id=f"{m.__name__}.{f}") for m, f in FIELDS]
)
def test_every_float_field_refuses_inf_and_nan(model: type[BaseModel], name: str) -> None:
    annotation = model.model_fields[name].annotation
    assert is_plain_float(annotation), (
        f"{model.__name__}.{name}: {annotation} holds floats in a shape this test does not "
        "cover: extend the test so inf and nan are proven refused there too"
    )
    for value in NON_FINITE:
        with pytest.raises(ValidationError) as info:
            model.model_validate({name: value})
        mine = [e for e in info.value.errors() if e["loc"] == (name,)]
        assert [e["type"] for e in mine] == ["finite_number"], (value, info.value.errors())
        worded = [p for p in problems_from_validation("f.toml", info.value) if p.field == name]
        assert [p.reason for p in worded] == [FINITE]


def test_every_config_model_forbids_inf_nan_in_its_config() -> None:
    """Also the models without a float field yet: the next field added is covered."""
    for model in config_models():
        assert model.model_config.get("allow_inf_nan") is False, model
        assert model.model_config.get("strict") is True, model
