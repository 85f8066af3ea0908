"""The OpenAPI 3.1 document of the desk's API (api.py), served at /api/v1/openapi.json.
Alert items use the alert contract's own JSON Schema (`watcher schema alert`), so the two
cannot drift; tests/test_desk_api.py checks the implementation against this document."""

from __future__ import annotations

import functools
from typing import Any

from watcher.models import SEVERITIES, Alert
from watcher.store.desk_records import FACET_KINDS, SILENCE_KINDS

_TIME = {"type": "string", "format": "date-time"}
_BOUND = {"anyOf": [_TIME, {"type": "string", "maxLength": 0}]}  # empty: no bound (forms)
_ERROR = {"description": "The request cannot be served; `error` says why.",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(ref: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def _list_of(ref: str) -> dict[str, Any]:
    return {"type": "object", "required": ["items"], "properties": {
        "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{ref}"}}}}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


_ALERT_FILTERS = [
    _query("severity", "Only this severity (empty: any, as the page's form sends it).",
           {"type": "string", "enum": ["", *SEVERITIES]}),
    *(_query(kind, f"Only alerts whose {kind} is this (exact).")
      for kind in FACET_KINDS if kind != "severity"),
    _query("q", "Words in the title (case-insensitive substring).",
           {"type": "string", "maxLength": 200}),
    _query("since", "Arrived at or after (ISO-8601).", _BOUND),
    _query("until", "Arrived before (ISO-8601).", _BOUND),
    _query("cursor", "`next_cursor` of the previous page.", {"type": "string",
                                                            "pattern": "^[0-9]{1,18}$"}),
    _query("after", "Only alerts newer than this `desk.seq` (live updates).",
           {"type": "string", "pattern": "^[0-9]{1,18}$"}),
    _query("limit", "Alerts per page (default desk.page_size).",
           {"type": "integer", "minimum": 1, "maximum": 500}),
]

_SILENCE_MATCHER = {"type": "object", "required": ["kind", "value"],
                    "additionalProperties": False, "properties": {
                        "kind": {"type": "string", "enum": list(SILENCE_KINDS)},
                        "value": {"type": "string", "minLength": 1, "maxLength": 500}}}

_ACK = {"type": "object", "required": ["id", "alert_id", "author", "note", "acked_at"],
        "properties": {"id": {"type": "integer"}, "alert_id": {"type": "string"},
                       "author": {"type": "string"}, "note": {"type": "string"},
                       "acked_at": _TIME}}


def _schemas() -> dict[str, Any]:
    alert = Alert.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    defs = alert.pop("$defs", {})
    item = {"allOf": [{"$ref": "#/components/schemas/Alert"}, {
        "type": "object", "required": ["desk"], "properties": {"desk": {
            "type": "object", "required": ["seq", "arrived_at", "ack", "silenced",
                                           "silenced_by"],
            "properties": {"seq": {"type": "integer"}, "arrived_at": _TIME,
                           "ack": {"oneOf": [{"$ref": "#/components/schemas/Ack"},
                                             {"type": "null"}]},
                           "silenced": {"type": "boolean"},
                           "silenced_by": {"type": "array", "items": {"type": "integer"}}}}}}]}
    return {
        **defs, "Alert": alert, "AlertItem": item, "Ack": _ACK,
        "Error": {"type": "object", "required": ["error"],
                  "properties": {"error": {"type": "string"}}},
        "AlertPage": {"type": "object", "required": ["items", "next_cursor"], "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/AlertItem"}},
            "next_cursor": {"type": ["string", "null"]}}},
        "Story": {"type": "object", "required": ["id", "alerts", "first_arrived",
                                                 "last_arrived"],
                  "properties": {"id": {"type": "string"}, "alerts": {"type": "integer"},
                                 "first_arrived": _TIME, "last_arrived": _TIME}},
        "Feed": {"type": "object", "required": ["id", "url", "health", "enabled"],
                 "properties": {"id": {"type": "string"}, "url": {"type": "string"},
                                "health": {"type": "string"}, "enabled": {"type": "boolean"},
                                "last_status": {"type": ["integer", "null"]},
                                "consecutive_failures": {"type": "integer"},
                                "last_success": {"type": ["string", "null"]},
                                "last_error": {"type": ["string", "null"]}}},
        "Rule": {"type": "object", "required": ["id", "title", "severity", "alerts_per_day",
                                                "examples"],
                 "properties": {"id": {"type": "string"}, "title": {"type": "string"},
                                "severity": {"type": "string", "enum": list(SEVERITIES)},
                                "tags": {"type": "array", "items": {"type": "string"}},
                                "alerts_per_day": {"type": "object",
                                                   "additionalProperties": {"type": "integer"}},
                                "examples": {"type": "object"}}},
        "Silence": {"type": "object", "required": ["id", "matchers", "starts_at", "ends_at",
                                                   "author", "reason", "state"],
                    "properties": {"id": {"type": "integer"},
                                   "matchers": {"type": "array", "items": _SILENCE_MATCHER},
                                   "starts_at": _TIME, "ends_at": _TIME, "created_at": _TIME,
                                   "author": {"type": "string"}, "reason": {"type": "string"},
                                   "state": {"type": "string",
                                             "enum": ["pending", "active", "expired"]}}},
        "NewSilence": {"type": "object", "required": ["matchers", "reason"],
                       "additionalProperties": False, "properties": {
                           "matchers": {"type": "array", "items": _SILENCE_MATCHER,
                                        "minItems": 1, "maxItems": 10},
                           "reason": {"type": "string", "minLength": 1, "maxLength": 1000},
                           "duration": {"type": "string", "pattern": "^[0-9]{1,6}[smhd]$",
                                        "description": "How long, from starts_at: 30m, 2h"},
                           "starts_at": _TIME, "ends_at": _TIME,
                           "author": {"type": "string", "minLength": 1, "maxLength": 100}}},
        "NewAck": {"type": "object", "required": ["alert_id"], "additionalProperties": False,
                   "properties": {"alert_id": {"type": "string", "minLength": 1,
                                               "maxLength": 500},
                                  "note": {"type": "string", "maxLength": 2000},
                                  "author": {"type": "string", "minLength": 1,
                                             "maxLength": 100}}},
        **{f"{name}List": _list_of(name) for name in ("Story", "Feed", "Rule", "Silence",
                                                      "Ack")},
    }


def _get(summary: str, ref: str, parameters: list[dict[str, Any]] | None = None,
         missing: bool = False) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": _json(ref, summary), "401": _ERROR}
    if parameters:
        responses["400"] = _ERROR
    if missing:
        responses["404"] = _ERROR
    return {"get": {"summary": summary, "parameters": parameters or [],
                    "responses": responses}}


def _change(summary: str, body: str | None, ref: str, status: str,
            parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary, "parameters": parameters or [],
        "responses": {status: _json(ref, summary), "400": _ERROR, "401": _ERROR,
                      "403": _ERROR, "404": _ERROR}}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{body}"}}}}
        operation["responses"]["415"] = _ERROR
    return operation


@functools.cache
def openapi_document() -> dict[str, Any]:
    alert_id = {"name": "alert_id", "in": "path", "required": True,
                "schema": {"type": "string", "minLength": 1}}
    silence_id = {"name": "silence_id", "in": "path", "required": True,
                  "schema": {"type": "integer", "minimum": 0}}
    state = _query("state", "current (default): not yet over; all: every silence.",
                   {"type": "string", "enum": ["current", "all"]})
    silences = _get("Silences, newest first.", "SilenceList", [state])
    silences["post"] = _change("Create a silence.", "NewSilence", "Silence", "201")
    acks = _get("The latest acknowledgements, newest first.", "AckList")
    acks["post"] = _change("Acknowledge an alert.", "NewAck", "Ack", "201")
    return {
        "openapi": "3.1.0",
        "info": {"title": "watcher desk API", "version": "1",
                 "description": "Alerts as the alert contract of DESIGN.md, with what the "
                                "desk knows of them; acknowledgements and silences. Changes "
                                "with browser credentials need the X-CSRF-Token header."},
        "servers": [{"url": "/api/v1"}],
        "components": {"schemas": _schemas(), "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "basic": {"type": "http", "scheme": "basic"}}},
        "security": [{}, {"bearer": []}, {"basic": []}],
        "paths": {
            "/alerts": _get("Alerts, newest first, filtered; `next_cursor` pages on.",
                            "AlertPage", _ALERT_FILTERS),
            "/alerts/{alert_id}": _get("One alert.", "AlertItem", [alert_id], missing=True),
            "/stories": _get("Stories the alerts carry, latest first.", "StoryList"),
            "/feeds": _get("Every feed's health (as `watcher feeds`).", "FeedList"),
            "/rules": _get("Every rule with its alerts per day and examples.", "RuleList"),
            "/silences": silences,
            "/silences/{silence_id}": {"delete": _change("Expire a silence now.", None,
                                                         "Silence", "200", [silence_id])},
            "/acks": acks,
        },
    }
