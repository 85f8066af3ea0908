"""The desk: a page of alerts with a map, feed and rule views, and a JSON API, served by
`watcher run` on the ops endpoint's aiohttp server (service/httpapi.py).

    /desk/…     the page (page.py, templates/, static/)
    /api/v1/…   the JSON API (api.py), described at /api/v1/openapi.json (openapi.py)

Both are sub-applications behind one guard (auth.py: authentication, roles, CSRF) and the
same security headers (no inline script, nothing from other origins but configured map
tiles). Acks and silences live in the store, so every replica shows the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from aiohttp import web

from watcher.config.settings import Config
from watcher.desk.api import add_api_routes
from watcher.desk.auth import Authenticator, guard
from watcher.desk.context import CONTEXT, DeskContext
from watcher.desk.headers import security_headers
from watcher.desk.page import add_page_routes
from watcher.rules.load import Rule
from watcher.store import Store

Mount = Callable[[web.Application], None]


def desk_mount(config: Config, store: Store, rules: Callable[[], Sequence[Rule]],
               clock: Callable[[], datetime]) -> Mount | None:
    """What to add to the HTTP server for the desk, or None when it is off. WatcherError
    when it would be open beyond loopback, or the users file is wrong."""
    if not config.desk.enabled or config.http.listen is None:
        return None
    auth = Authenticator(config.desk, config.base_dir)
    auth.check_exposure(config.http.listen.rpartition(":")[0].strip("[]"))
    context = DeskContext(store, config, rules, clock, auth)

    def mount(app: web.Application) -> None:
        middlewares = [security_headers(config.desk.tile_url), guard(auth)]
        for prefix, add_routes in (("/api/v1/", add_api_routes), ("/desk/", add_page_routes)):
            sub = web.Application(middlewares=middlewares)
            sub[CONTEXT] = context
            add_routes(sub)
            app.add_subapp(prefix, sub)
        app.router.add_get("/", _to_desk)

    return mount


async def _to_desk(request: web.Request) -> web.Response:
    raise web.HTTPFound("/desk/")


__all__ = ["Mount", "desk_mount"]
