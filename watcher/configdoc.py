"""The README's configuration reference, generated from the config models so it cannot
drift: `python -m watcher.configdoc` prints it, and a test compares it with the README."""

from __future__ import annotations

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .config import (
    Config,
    ConsoleSink,
    DeliverySettings,
    EmailSink,
    FeedConfig,
    FetchSettings,
    JsonlSink,
    WebhookSink,
)

SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("top level", Config),
    ("feeds[]", FeedConfig),
    ("fetch", FetchSettings),
    ("delivery", DeliverySettings),
    ("sinks[] type: console", ConsoleSink),
    ("sinks[] type: jsonl", JsonlSink),
    ("sinks[] type: webhook", WebhookSink),
    ("sinks[] type: email", EmailSink),
]
NESTED = {"feeds", "fetch", "sinks", "delivery", "base_dir"}


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return "required"
    else:
        value = info.default
    return f"`{value!r}`" if value is not None else "none"


def config_reference() -> str:
    lines = []
    for title, model in SECTIONS:
        lines += [f"#### {title}", "", "| key | default | meaning |", "| --- | --- | --- |"]
        for name, info in model.model_fields.items():
            if model is Config and name in NESTED:
                continue
            key = info.alias or name
            lines.append(f"| `{key}` | {_default(info)} | {info.description or ''} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(config_reference())
