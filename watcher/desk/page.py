"""The desk's page, server-rendered (Jinja2, autoescaped: feed text is never markup):

    GET /desk/          newest alerts with filters, a map of their places, silences
    GET /desk/alerts    the same alert list as a fragment, for live updates (?after=seq)
                        and for re-drawing one alert after an ack (?alert_id=…)
    GET /desk/feeds     feed health (`watcher feeds`)
    GET /desk/rules     every rule: alerts per day over two weeks, examples
    GET /desk/static/…  the script, the style sheet and the offline world map

desk.js polls the fragment every few seconds and sends acks and silences to the API.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web

from watcher.desk.api import RULE_DAYS, rule_items
from watcher.desk.context import desk_of
from watcher.desk.params import BadQuery, alert_query
from watcher.feeds.report import feed_rows
from watcher.models import SEVERITIES
from watcher.store import DeskAlert
from watcher.store.desk_records import FACET_KINDS, SILENCE_KINDS

STATIC = Path(__file__).parent / "static"
TILE_ZOOM = 2  # 4 x 4 tiles: the whole world at a glance
FILTER_KINDS = [k for k in FACET_KINDS if k != "severity"]

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("watcher.desk", "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def highlighted(text: str, matched: Sequence[dict[str, Any]],
                field: str) -> list[tuple[str, bool]]:
    """`text` in pieces, (piece, is a matched term), from the alert's offsets into `field`;
    offsets outside the text or overlapping an earlier term are left out."""
    spans = sorted((m["start"], m["end"]) for m in matched if m.get("field") == field
                   and isinstance(m.get("start"), int) and isinstance(m.get("end"), int))
    pieces: list[tuple[str, bool]] = []
    at = 0
    for start, end in spans:
        if start < at or end <= start or end > len(text):
            continue
        if start > at:
            pieces.append((text[at:start], False))
        pieces.append((text[start:end], True))
        at = end
    if at < len(text):
        pieces.append((text[at:], False))
    return pieces


_templates.globals["highlighted"] = highlighted


def map_points(alerts: Sequence[DeskAlert], tiles: bool) -> list[dict[str, Any]]:
    """Each place of these alerts once, in the map's coordinates, with how many alerts."""
    points: dict[tuple[float, float], dict[str, Any]] = {}
    for found in alerts:
        for place in found.alert.get("places", []):
            lat, lon = place.get("lat"), place.get("lon")
            if not isinstance(lat, int | float) or not isinstance(lon, int | float):
                continue
            x, y = _project(float(lat), float(lon), tiles)
            point = points.setdefault((x, y), {"x": x, "y": y, "name": place.get("name", ""),
                                               "alerts": 0})
            point["alerts"] += 1
    return list(points.values())


def _project(lat: float, lon: float, tiles: bool) -> tuple[float, float]:
    lon = max(-180.0, min(180.0, lon))
    if not tiles:  # world.svg: equirectangular, 360 x 180
        return round(lon + 180, 2), round(90 - max(-90.0, min(90.0, lat)), 2)
    size = 256 * 2 ** TILE_ZOOM  # web Mercator, as tile servers draw it
    rad = math.radians(max(-85.0, min(85.0, lat)))
    y = (1 - math.log(math.tan(rad) + 1 / math.cos(rad)) / math.pi) / 2 * size
    return round((lon + 180) / 360 * size, 1), round(y, 1)


def _tiles(tile_url: str | None) -> list[dict[str, Any]]:
    if tile_url is None:
        return []
    count = 2 ** TILE_ZOOM
    return [{"x": x * 256, "y": y * 256,
             "href": tile_url.replace("{z}", str(TILE_ZOOM)).replace("{x}", str(x))
             .replace("{y}", str(y))} for y in range(count) for x in range(count)]


def _render(name: str, **values: Any) -> web.Response:
    html = _templates.get_template(name).render(**values)
    return web.Response(text=html, content_type="text/html")


async def index(request: web.Request) -> web.Response:
    desk = desk_of(request)
    try:
        query = alert_query(request.query, desk.config.desk.page_size)
    except BadQuery as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    alerts = await desk.store.desk_alerts(query)
    now = desk.clock()
    silences = await desk.store.list_silences(now)
    tile_url = desk.config.desk.tile_url
    filters = {k: v for k, v in request.query.items() if k not in ("cursor", "after") and v}
    more = (urlencode({**filters, "cursor": alerts[-1].seq})
            if len(alerts) == query.limit else None)
    rules = sorted(desk.rules(), key=lambda r: r.id)
    return _render(
        "index.html", alerts=alerts, filters=filters, more=more,
        newest=max((a.seq for a in alerts), default=0) if query.before is None else 0,
        severities=SEVERITIES, filter_kinds=FILTER_KINDS, silence_kinds=SILENCE_KINDS,
        silences=[s.to_dict(now) for s in silences], points=map_points(alerts, bool(tile_url)),
        tiles=_tiles(tile_url), rule_ids=[r.id for r in rules],
        tags=sorted({t for r in rules for t in r.tags}),
        feed_ids=[f.id for f in desk.config.feeds])


async def alert_fragment(request: web.Request) -> web.Response:
    desk = desk_of(request)
    alert_id = request.query.get("alert_id")
    if alert_id is not None:
        one = await desk.store.desk_alert(alert_id)
        alerts = [one] if one is not None else []
    else:
        try:
            query = alert_query(request.query, desk.config.desk.page_size)
        except BadQuery as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        alerts = await desk.store.desk_alerts(query)
    response = _render("alerts.html", alerts=alerts)
    response.headers["X-Desk-Newest"] = str(max((a.seq for a in alerts), default=0))
    return response


async def feeds_page(request: web.Request) -> web.Response:
    desk = desk_of(request)
    return _render("feeds.html", feeds=await feed_rows(desk.config, desk.store, desk.clock()))


async def rules_page(request: web.Request) -> web.Response:
    items = await rule_items(request)
    peak = max((n for r in items for n in r["alerts_per_day"].values()), default=0)
    return _render("rules.html", rules=items, peak=max(peak, 1), days=RULE_DAYS)


def add_page_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/alerts", alert_fragment)
    app.router.add_get("/feeds", feeds_page)
    app.router.add_get("/rules", rules_page)
    app.router.add_static("/static/", STATIC, append_version=False)
