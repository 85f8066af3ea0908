"""`watcher schema alert` promises what every alert carries (issue 17): each field an alert
always has is required, at every level, so receivers that validate can rely on it."""

from __future__ import annotations

from typing import Any

from alertfactory import make_alert

from watcher.cli.schema_cmd import json_schema


def objects(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {"Alert": schema, **schema["$defs"]}


def test_every_property_is_required_at_every_level() -> None:
    for name, definition in objects(json_schema("alert")).items():
        assert set(definition["required"]) == set(definition["properties"]), name


def test_schema_places_and_groups_are_required() -> None:
    required = json_schema("alert")["required"]
    assert {"schema", "places", "groups", "alert_id", "detected_at"} <= set(required)


def test_an_alert_without_places_or_url_still_carries_every_required_key() -> None:
    schema = json_schema("alert")
    sent = make_alert(url=None, places=[], groups=[]).to_dict()
    assert set(schema["required"]) <= set(sent)
    refs = {"rule": "RuleRef", "article": "ArticleRef"}
    for field, definition in refs.items():
        value = sent[field]
        assert isinstance(value, dict)
        assert set(schema["$defs"][definition]["required"]) <= set(value), field
    assert sent["article"]["url"] is None  # required, and null when the entry had no link
