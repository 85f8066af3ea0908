"""Settings from the environment: `WATCHER_…` variables override the config file.

    WATCHER_LOG_LEVEL=debug                  log_level
    WATCHER_FETCH__TIMEOUT=30s               fetch.timeout       (`__` goes one level down)
    WATCHER_SINKS__0__URL=https://…          sinks[0].url        (a number picks a list item)
    WATCHER_RULES=/app/rules,/srv/more       rules               (JSON, or commas for a list
                                                                  of strings)
    WATCHER_STATE_FILE=/run/secrets/state    state, read from that file (container secrets)

Precedence, highest first: `WATCHER_X`, `WATCHER_X_FILE`, the config file, the default.
pydantic-settings reads and nests the variables; this module merges them over the file's data
before it is validated, and remembers which variable set which value, so that an invalid one
is reported by its name (`$WATCHER_FETCH__TIMEOUT:1:1: fetch.timeout: not a duration`).
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_settings import EnvSettingsSource, SettingsError

from watcher.errors import ConfigError, Problem
from watcher.yamlfile import YamlDoc

ENV_PREFIX = "WATCHER_"
NESTED_DELIMITER = "__"
FILE_SUFFIX = "_FILE"
MAX_SECRET_BYTES = 64 * 1024
NOT_SETTINGS = {"base_dir"}  # set by the loader, never by a user

Loc = tuple[str | int, ...]


def read_secret_file(path: str) -> str:
    """The value held in a secret file (`…_FILE`), without its final newline; ValueError
    saying why when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_SECRET_BYTES:
        raise ValueError(f"{path} is larger than {MAX_SECRET_BYTES} bytes")
    try:
        return raw.decode("utf-8").removesuffix("\n").removesuffix("\r")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None


@dataclass(frozen=True)
class EnvOverrides:
    """Nested values to lay over the config file, and where each came from."""

    data: dict[str, Any] = field(default_factory=dict)
    sources: dict[Loc, str] = field(default_factory=dict)


def env_overrides(model: type[BaseModel], env: Mapping[str, str]) -> EnvOverrides:
    """The `WATCHER_…` settings found in `env` for the config `model`."""
    settings = {name.lower() for name in model.model_fields if name not in NOT_SETTINGS}
    direct = {k.upper(): v for k, v in env.items()
              if k.upper().startswith(ENV_PREFIX) and v != ""}
    values: dict[str, str] = {}
    sources: dict[Loc, str] = {}
    problems: list[Problem] = []
    for name, value in direct.items():
        target = name.removesuffix(FILE_SUFFIX)
        if target != name and target not in direct and _setting_of(target) in settings:
            try:
                values[target] = read_secret_file(value)
            except ValueError as exc:
                problems.append(Problem(f"${name}", 1, 1, str(exc)))
                continue
            sources[_loc(target)] = f"${name}"
        elif _setting_of(name) in settings:
            values[name] = value
            sources[_loc(name)] = f"${name}"
    if problems:
        raise ConfigError(problems)
    if not values:
        return EnvOverrides()
    try:
        data = _Source(model, values)()
    except SettingsError as exc:
        raise ConfigError([_settings_problem(exc, values)]) from None
    return EnvOverrides(data, sources)


def apply_overrides(model: type[BaseModel], data: dict[str, Any],
                    overrides: EnvOverrides) -> dict[str, Any]:
    """The file's data with the environment's values laid over it. A number in a variable's
    name picks an item of a list the file already has."""
    problems: list[Problem] = []
    merged = _merge(data, overrides.data, (), _Context(model, overrides.sources, problems))
    if problems:
        raise ConfigError(problems)
    return dict(merged)


@dataclass(frozen=True)
class SourcedDoc(YamlDoc):
    """A config document whose problems point at the variable when the environment set the
    value, and at FILE:LINE:COL otherwise."""

    sources: Mapping[Loc, str] = field(default_factory=dict)

    def problem(self, loc: typing.Sequence[int | str], message: str,
                severity: str = "error") -> Problem:
        for n in range(len(loc), 0, -1):
            source = self.sources.get(tuple(loc[:n]))
            if source is not None:
                return Problem(source, 1, 1, message, severity)
        return super().problem(loc, message, severity)


def _setting_of(name: str) -> str:
    return name[len(ENV_PREFIX):].split(NESTED_DELIMITER, 1)[0].lower()


def _loc(name: str) -> Loc:
    parts = name[len(ENV_PREFIX):].lower().split(NESTED_DELIMITER)
    return tuple(int(p) if p.isdigit() else p for p in parts)


@dataclass(frozen=True)
class _Context:
    model: type[BaseModel]
    sources: Mapping[Loc, str]
    problems: list[Problem]


def _merge(base: Any, over: Any, loc: Loc, ctx: _Context) -> Any:
    if isinstance(over, dict) and isinstance(base, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _merge(base.get(key), value, (*loc, key), ctx)
        return merged
    if isinstance(over, dict) and isinstance(base, list) and all(k.isdigit() for k in over):
        items = list(base)
        for key, value in over.items():
            index = int(key)
            if index >= len(items):
                where = ".".join(str(p) for p in loc)
                source = _source_under(ctx.sources, (*loc, index))
                ctx.problems.append(Problem(source, 1, 1, f"{where} has no item {index} to "
                                                          f"override ({len(items)} in the file)"))
                continue
            items[index] = _merge(items[index], value, (*loc, index), ctx)
        return items
    if isinstance(over, str) and _is_string_list(_annotation_at(ctx.model, loc)):
        return _string_list(over)  # inside a list item, where pydantic-settings cannot see
    return over


def _annotation_at(model: type[BaseModel], loc: Loc) -> Any:
    """The type declared for `loc` (for a union of models, the first member that has it)."""
    annotations: list[Any] = [model]
    for part in loc:
        found: list[Any] = []
        for annotation in annotations:
            for candidate in members(annotation):
                if isinstance(part, int) and typing.get_origin(candidate) is list:
                    found += typing.get_args(candidate)[:1]
                elif isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    found += [info.annotation for name, info in candidate.model_fields.items()
                              if part in (name, info.alias)]
        annotations = found
    return annotations[0] if annotations else None


def members(annotation: Any) -> list[Any]:
    """The members of a union (Annotated and None unwrapped), or the type itself."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(annotation) if a is not type(None)
                for m in members(a)]
    return [annotation]


def _string_list(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return [part.strip() for part in value.split(",") if part.strip()]


def _source_under(sources: Mapping[Loc, str], loc: Loc) -> str:
    return next((s for k, s in sources.items() if k[:len(loc)] == loc), "environment")


def _settings_problem(exc: SettingsError, values: Mapping[str, str]) -> Problem:
    # pydantic-settings names the field ('error parsing value for field "feeds" ...').
    text = str(exc)
    name = next((n for n in values if f'"{_setting_of(n)}"' in text), "environment")
    return Problem(f"${name}" if name != "environment" else name, 1, 1,
                   f"not valid JSON ({exc.__cause__ or text})")


def _is_string_list(annotation: Any) -> bool:
    return any(typing.get_origin(m) is list and typing.get_args(m) == (str,)
               for m in members(annotation))


class _Source(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping instead of os.environ,
    taking `a,b` as well as JSON for a list of strings (`WATCHER_RULES=/app/rules`)."""

    def __init__(self, model: type[BaseModel], values: Mapping[str, str]) -> None:
        self._values = {k.lower(): v for k, v in values.items()}
        super().__init__(model, case_sensitive=False,  # type: ignore[arg-type]
                         env_prefix=ENV_PREFIX, env_nested_delimiter=NESTED_DELIMITER,
                         env_ignore_empty=True)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return self._values

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        if isinstance(value, str) and _is_string_list(field.annotation):
            return _string_list(value)
        return super().decode_complex_value(field_name, field, value)

