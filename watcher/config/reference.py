"""The README's configuration reference, generated from the config models so it cannot
drift: `python -m watcher.configdoc` prints it, and a test compares it with the README.

Sections follow the models: every setting that holds a model (or a list of them, or a list
of a tagged union such as the sink kinds) gets a table of its own, so a new settings model
appears here without anyone editing this file.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from watcher.config.environment import ENV_PREFIX, NESTED_DELIMITER, NOT_SETTINGS, members
from watcher.config.settings import Config


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _nested(info: FieldInfo) -> list[tuple[str, type[BaseModel]]]:
    """(suffix, model) for a field holding models: `` for a model, `[]` for a list of them,
    `[] type: x` per member of a list of a tagged union."""
    found: list[tuple[str, type[BaseModel]]] = []
    for member in members(info.annotation):
        if _is_model(member):
            found.append(("", member))
        elif typing.get_origin(member) is list:
            items = [m for arg in typing.get_args(member) for m in members(arg)]
            models = [m for m in items if _is_model(m)]
            for model in models:
                tag = _tag(model) if len(models) > 1 else None
                found.append((f"[] type: {tag}" if tag else "[]", model))
    return found


def _tag(model: type[BaseModel]) -> str | None:
    info = model.model_fields.get("type")
    if info is None:
        return None
    args = typing.get_args(info.annotation)
    return str(args[0]) if args else None


def iter_sections(title: str = "top level", model: type[BaseModel] = Config,
                  seen: frozenset[type[BaseModel]] = frozenset()) -> Iterator[
                      tuple[str, type[BaseModel]]]:
    """(title, model) of every section, depth first, each model once per branch."""
    yield title, model
    for name, info in model.model_fields.items():
        if name in NOT_SETTINGS or model in seen:
            continue
        key = info.alias or name
        for suffix, nested in _nested(info):
            nested_title = key + suffix if title == "top level" else f"{title} › {key}{suffix}"
            yield from iter_sections(nested_title, nested, seen | {model})


SECTIONS: list[tuple[str, type[BaseModel]]] = list(iter_sections())


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return "required"
    else:
        value = info.default
    return f"`{value!r}`" if value is not None else "none"


def config_reference() -> str:
    lines = [f"Every setting can also be set from the environment: `{ENV_PREFIX}` and its path "
             f"in capitals, `{NESTED_DELIMITER}` between levels (`WATCHER_FETCH__TIMEOUT=30s`, "
             "`WATCHER_SINKS__0__URL=…` for the first sink), or `…_FILE` naming a file that "
             "holds the value.", ""]
    for title, model in iter_sections():
        lines += [f"#### {title}", "", "| key | default | meaning |", "| --- | --- | --- |"]
        for name, info in model.model_fields.items():
            if name in NOT_SETTINGS or _nested(info):
                continue
            key = info.alias or name
            lines.append(f"| `{key}` | {_default(info)} | {info.description or ''} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(config_reference())
