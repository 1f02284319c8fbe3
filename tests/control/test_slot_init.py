"""treadctl.safety.types.slot_init: the interlock's types built faster, nothing else changed.

Each type the decorator gives its `__init__` is compared with the same class as the plain
frozen dataclass makes it: the same signature and defaults, the same fields stored, still
frozen, equal and hashed alike, `dataclasses.replace`, copy and pickle as before.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from typing import Any

import pytest

from treadctl.safety import types
from treadctl.safety.types import (
    Command,
    CommandKind,
    Decel,
    Decision,
    Direction,
    DriveStatus,
    InterlockState,
    Mode,
    Reason,
    SafetyInputs,
    SafetyIO,
    SafetyOutputs,
    SegmentPolicy,
    Transition,
    slot_init,
)

FAST = [
    Command,
    SafetyIO,
    DriveStatus,
    SegmentPolicy,
    SafetyInputs,
    Decision,
    Transition,
    InterlockState,
    SafetyOutputs,
]


def _plain(cls: type[Any]) -> type[Any]:
    """The same class as @dataclass(frozen=True, slots=True) alone makes it."""
    annotations = {f.name: f.type for f in dataclasses.fields(cls)}
    defaults = {
        f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING
    }
    namespace = {"__annotations__": annotations, "__module__": types.__name__, **defaults}
    return dataclasses.dataclass(frozen=True, slots=True)(type(cls.__name__, (), namespace))


def _sample(cls: type[Any]) -> dict[str, Any]:
    """A value for every field, each a distinct object."""
    return {f.name: object() for f in dataclasses.fields(cls)}


@pytest.mark.parametrize("cls", FAST, ids=lambda c: c.__name__)
def test_same_signature_as_the_dataclass(cls: type[Any]) -> None:
    assert cls.__init__.__qualname__ == f"{cls.__name__}.__init__"
    mine = inspect.signature(cls.__init__)
    plain = inspect.signature(_plain(cls).__init__)
    assert [(p.name, p.kind, p.default) for p in mine.parameters.values()] == [
        (p.name, p.kind, p.default) for p in plain.parameters.values()
    ]


@pytest.mark.parametrize("cls", FAST, ids=lambda c: c.__name__)
def test_fields_stored_by_keyword_and_by_position(cls: type[Any]) -> None:
    values = _sample(cls)
    by_name = cls(**values)
    by_position = cls(*values.values())
    for name, value in values.items():
        assert getattr(by_name, name) is value
        assert getattr(by_position, name) is value


@pytest.mark.parametrize("cls", FAST, ids=lambda c: c.__name__)
def test_still_frozen_and_slotted(cls: type[Any]) -> None:
    obj = cls(**_sample(cls))
    for f in dataclasses.fields(cls):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, f.name, 1)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(obj, f.name)
    assert not hasattr(obj, "__dict__")


def test_defaults_as_declared() -> None:
    assert InterlockState() == _plain_equivalent(InterlockState)
    state = InterlockState()
    assert state.mode is Mode.FAULTED
    assert state.reasons == (Reason.POWER_ON,)
    assert state.operator_speed_segment == -1
    assert Command(CommandKind.STOP).source == "operator"
    forward, running = Direction.FORWARD, Mode.RUNNING
    out = SafetyOutputs(True, forward, 1.0, 2.0, 1.0, Decel.NORMAL, running, (), False)
    assert (out.warnings, out.decisions, out.transitions) == ((), (), ())
    assert out.belt_direction is Direction.FORWARD
    assert out.turn_pending is False


def _plain_equivalent(cls: type[Any]) -> Any:
    """The default instance as the plain dataclass builds it, as an instance of `cls`."""
    plain = _plain(cls)()
    return cls(**{f.name: getattr(plain, f.name) for f in dataclasses.fields(cls)})


def test_equality_hash_replace_copy_pickle() -> None:
    io = SafetyIO(True, True, False, True)
    assert io == SafetyIO(True, True, False, True)
    assert hash(io) == hash(SafetyIO(True, True, False, True))
    assert io != SafetyIO(True, True, True, True)
    moved = dataclasses.replace(io, rail_left=True)
    assert moved == SafetyIO(True, True, True, True)
    assert copy.copy(io) == io
    assert copy.deepcopy(io) == io
    state = InterlockState(mode=Mode.RUNNING, reasons=(), run_started_at=12.5)
    assert pickle.loads(pickle.dumps(state)) == state
    assert repr(io) == (
        "SafetyIO(estop_chain_ok=True, key_present=True, rail_left=False, rail_right=True)"
    )


def test_refuses_what_it_cannot_build() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclasses.dataclass(slots=True)
    class NotFrozen:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Factory:
        a: tuple[int, ...] = dataclasses.field(default_factory=tuple)

    for cls in (NoSlots, NotFrozen, Factory):
        with pytest.raises(TypeError):
            slot_init(cls)
