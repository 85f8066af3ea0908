"""The desk's JSON API under /api/v1/, described by openapi.yaml (served as openapi.json).

    GET    alerts               the alert list: filters and cursor as params.py says
    GET    alerts/{alert_id}    one alert
    GET    stories              stories the alerts carry, latest first
    GET    feeds                every feed's health (`watcher feeds`)
    GET    rules                every rule: its alerts per day, its examples
    GET    silences             silences not yet over (?state=all: every one)
    POST   silences             create one: matchers, duration or ends_at, reason
    DELETE silences/{id}        expire one now
    GET    acks                 the latest acknowledgements
    POST   acks                 acknowledge an alert: alert_id, note

Items of `alerts` are the alert JSON of the contract (DESIGN.md) with a `desk` object added.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from watcher.config.settings import Duration
from watcher.desk.context import alert_item, desk_of, principal_of
from watcher.desk.openapi import openapi_document
from watcher.desk.params import BadQuery, alert_query
from watcher.feeds.report import feed_rows
from watcher.store.desk_records import SILENCE_KINDS, FacetKind

MAX_BODY = 64 * 1024
RULE_DAYS = 14
MAX_SILENCE = timedelta(days=366)


class MatcherIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: FacetKind
    value: str = Field(min_length=1, max_length=500)


class SilenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    matchers: list[MatcherIn] = Field(min_length=1, max_length=10)
    reason: str = Field(min_length=1, max_length=1000)
    duration: Duration | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    author: str | None = Field(None, min_length=1, max_length=100)


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alert_id: str = Field(min_length=1, max_length=500)
    note: str = Field("", max_length=2000)
    author: str | None = Field(None, min_length=1, max_length=100)


def problem(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def list_alerts(request: web.Request) -> web.Response:
    desk = desk_of(request)
    try:
        query = alert_query(request.query, desk.config.desk.page_size)
    except BadQuery as exc:
        return problem(400, str(exc))
    found = await desk.store.desk_alerts(query)
    last_page = len(found) < query.limit or query.after is not None
    return web.json_response({
        "items": [alert_item(a) for a in found],
        "next_cursor": None if last_page or not found else str(found[-1].seq)})


async def get_alert(request: web.Request) -> web.Response:
    found = await desk_of(request).store.desk_alert(request.match_info["alert_id"])
    if found is None:
        return problem(404, "no such alert")
    return web.json_response(alert_item(found))


async def list_stories(request: web.Request) -> web.Response:
    stories = await desk_of(request).store.list_stories(100)
    return web.json_response({"items": [
        {"id": s.id, "alerts": s.alerts, "first_arrived": s.first_arrived.isoformat(),
         "last_arrived": s.last_arrived.isoformat()} for s in stories]})


async def list_feeds(request: web.Request) -> web.Response:
    desk = desk_of(request)
    rows = await feed_rows(desk.config, desk.store, desk.clock())
    return web.json_response({"items": [asdict(r) for r in rows]})


async def rule_items(request: web.Request) -> list[dict[str, Any]]:
    """Every loaded rule with its alerts per day (the last RULE_DAYS days) and examples."""
    desk = desk_of(request)
    today = desk.clock().date()
    days = [(today - timedelta(days=n)).isoformat() for n in range(RULE_DAYS - 1, -1, -1)]
    counts = await desk.store.rule_days(datetime.fromisoformat(days[0]).replace(
        tzinfo=desk.clock().tzinfo))
    return [{"id": r.id, "title": r.title, "severity": r.severity, "tags": list(r.tags),
             "description": r.description, "enabled": r.enabled,
             "where": f"{r.path}:{r.line}:{r.col}",
             "alerts_per_day": {d: counts.get(r.id, {}).get(d, 0) for d in days},
             "examples": r.examples.model_dump(mode="json")} for r in desk.rules()]


async def list_rules(request: web.Request) -> web.Response:
    return web.json_response({"items": await rule_items(request)})


async def list_silences(request: web.Request) -> web.Response:
    desk = desk_of(request)
    now = desk.clock()
    state = request.query.get("state", "current")
    if state not in ("current", "all"):
        return problem(400, "state: current or all")
    silences = await desk.store.list_silences(None if state == "all" else now)
    return web.json_response({"items": [s.to_dict(now) for s in silences]})


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text=json.dumps({"error": "send application/json"}),
                                           content_type="application/json")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(MAX_BODY, len(raw))
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise web.HTTPBadRequest(text=json.dumps({"error": f"{where}: {first['msg']}"}),
                                 content_type="application/json") from None


def _author(request: web.Request, given: str | None) -> str:
    who = principal_of(request)
    # Without authentication (loopback) the desk member says who they are.
    return given if given and not desk_of(request).auth.configured else who.name


def silence_window(body: SilenceIn, now: datetime) -> tuple[datetime, datetime]:
    """(starts, ends) of a new silence, in UTC; ValueError saying what is wrong."""
    if body.ends_at is None and body.duration is None:
        raise ValueError("give duration or ends_at")
    given = [t for t in (body.starts_at, body.ends_at) if t is not None]
    if any(t.tzinfo is None for t in given):
        raise ValueError("times need a UTC offset")
    try:
        starts = body.starts_at.astimezone(UTC) if body.starts_at else now
        ends = (body.ends_at.astimezone(UTC) if body.ends_at is not None
                else starts + timedelta(seconds=body.duration or 0))
    except OverflowError:
        raise ValueError("times out of range") from None
    if not starts < ends or not now < ends <= now + MAX_SILENCE:
        raise ValueError("a silence must end after it starts, in the future, within a year")
    return starts, ends


async def create_silence(request: web.Request) -> web.Response:
    desk = desk_of(request)
    body: SilenceIn = await _body(request, SilenceIn)
    now = desk.clock()
    try:
        starts, ends = silence_window(body, now)
    except ValueError as exc:
        return problem(400, str(exc))
    unknown = [m.kind for m in body.matchers if m.kind not in SILENCE_KINDS]
    if unknown:
        return problem(400, f"cannot silence by {unknown[0]}")
    silence = await desk.store.add_silence(
        [(m.kind, m.value) for m in body.matchers], starts, ends,
        _author(request, body.author), body.reason, now)
    return web.json_response(silence.to_dict(now), status=201)


async def expire_silence(request: web.Request) -> web.Response:
    desk = desk_of(request)
    ref = request.match_info["silence_id"]
    if not ref.isascii() or not ref.isdigit() or int(ref) >= 2**62:
        return problem(404, "no such silence")
    now = desk.clock()
    silence = await desk.store.expire_silence(int(ref), now)
    if silence is None:
        return problem(404, "no such silence")
    return web.json_response(silence.to_dict(now))


async def list_acks(request: web.Request) -> web.Response:
    acks = await desk_of(request).store.list_acks(100)
    return web.json_response({"items": [a.to_dict() for a in acks]})


async def create_ack(request: web.Request) -> web.Response:
    desk = desk_of(request)
    body: AckIn = await _body(request, AckIn)
    ack = await desk.store.add_ack(body.alert_id, _author(request, body.author), body.note,
                                   desk.clock())
    if ack is None:
        return problem(404, "no such alert")
    return web.json_response(ack.to_dict(), status=201)


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def add_api_routes(app: web.Application) -> None:
    """The routes of the /api/v1/ sub-application."""
    app.router.add_get("/alerts", list_alerts)
    app.router.add_get("/alerts/{alert_id}", get_alert)
    app.router.add_get("/stories", list_stories)
    app.router.add_get("/feeds", list_feeds)
    app.router.add_get("/rules", list_rules)
    app.router.add_get("/silences", list_silences)
    app.router.add_post("/silences", create_silence)
    app.router.add_delete("/silences/{silence_id}", expire_silence)
    app.router.add_get("/acks", list_acks)
    app.router.add_post("/acks", create_ack)
    app.router.add_get("/openapi.json", openapi)
