"""TOML loading into pydantic models, with errors that say where and why."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from treadctl.config.errors import ConfigError, ConfigProblem, FieldError

ModelT = TypeVar("ModelT", bound=BaseModel)


def field_path(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic location as `blocks[0].segments[2].speed_kmh`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def problems_from_validation(source: str, err: ValidationError) -> list[ConfigProblem]:
    problems = []
    for item in err.errors(include_url=False):
        loc = tuple(p for p in item["loc"] if isinstance(p, int | str))
        msg = item["msg"]
        if item["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        blamed = item.get("ctx", {}).get("error")
        if isinstance(blamed, FieldError):
            loc = (*loc, *blamed.field.split("."))
            msg = blamed.reason
        problems.append(ConfigProblem(source, field_path(loc), msg))
    return problems


def read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError.single(path, "", f"cannot read file: {exc.strerror or exc}") from exc
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError.single(path, "", f"not UTF-8 text: {exc.reason}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError.single(path, "", f"TOML syntax error: {exc}") from exc


def load_model(path: Path, model: type[ModelT]) -> ModelT:
    data = read_toml(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(str(path), exc)) from exc
