"""The ops endpoint, served by aiohttp in the service's own event loop:

    GET /healthz   200 while the process and its event loop are alive
    GET /readyz    200 when the scheduler runs, the store answers and rules are loaded;
                   503 otherwise, with a JSON body saying which check failed
    GET /metrics   Prometheus text format (metrics.py); outbox and cluster gauges (feeds per
                   replica, deliveries in flight) read from the store when scraped

Other parts of the service add their routes or sub-applications through `mounts`: the
desk (watcher/desk/) and the WebSub callback at /websub/ (websub_callback.py). Off unless
`http.listen` is set. It answers from the loop that polls and delivers, so a
wedged loop fails the health check instead of hiding behind a thread that still answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from watcher.errors import WatcherError
from watcher.metrics import CONTENT_TYPE, Metrics
from watcher.store import Store

log = logging.getLogger("watcher.http")

STORE_CHECK_TIMEOUT = 5.0


@dataclass
class Readiness:
    """What /readyz asks. Callables, because the scheduler starts after the server and rules
    may be reloaded while it runs."""

    store: Store
    rules_loaded: Callable[[], int]
    clock: Callable[[], datetime]
    scheduler_running: Callable[[], bool] = lambda: False


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


async def readiness_checks(ready: Readiness, metrics: Metrics) -> list[Check]:
    """Every readiness check, refreshing the outbox gauges on the way (one store query)."""
    checks = [Check("scheduler", ready.scheduler_running(),
                    "running" if ready.scheduler_running() else "not running")]
    checks.append(await _check_store(ready, metrics))
    rules = ready.rules_loaded()
    checks.append(Check("rules", rules > 0, f"{rules} loaded"))
    return checks


async def _check_store(ready: Readiness, metrics: Metrics) -> Check:
    try:
        async with asyncio.timeout(STORE_CHECK_TIMEOUT):
            counts = await ready.store.outbox_counts()
            oldest = await ready.store.oldest_pending()
    except TimeoutError:
        return Check("store", False, f"no answer within {STORE_CHECK_TIMEOUT:.0f}s")
    except WatcherError as exc:
        return Check("store", False, str(exc))
    metrics.record_outbox(counts, oldest, ready.clock())
    return Check("store", True, f"{counts.get('pending', 0)} pending deliveries")


async def _read_cluster(ready: Readiness, metrics: Metrics) -> None:
    """Feeds per replica and deliveries in flight: two grouped counts, like the outbox's."""
    try:
        async with asyncio.timeout(STORE_CHECK_TIMEOUT):
            view = await ready.store.cluster_view(ready.clock())
    except (TimeoutError, WatcherError) as exc:
        log.warning("metrics: cannot read the cluster view: %s", exc or "timed out")
        return
    metrics.record_cluster(view)


Mount = Callable[[web.Application], None]  # adds routes or sub-applications to the server


def build_app(metrics: Metrics, ready: Readiness,
              mounts: Sequence[Mount] = ()) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        checks = await readiness_checks(ready, metrics)
        ok = all(c.ok for c in checks)
        body = {"ready": ok, "checks": {c.name: {"ok": c.ok, "detail": c.detail}
                                        for c in checks}}
        return web.json_response(body, status=200 if ok else 503)

    async def metrics_page(request: web.Request) -> web.Response:
        if (await _check_store(ready, metrics)).ok:  # outbox gauges are read when scraped
            await _read_cluster(ready, metrics)
        return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
    for mount in mounts:
        mount(app)
    return app


@dataclass
class HttpServer:
    runner: web.AppRunner
    host: str
    port: int

    async def close(self) -> None:
        await self.runner.cleanup()


def split_listen(listen: str) -> tuple[str, int]:
    """`127.0.0.1:9090` -> ("127.0.0.1", 9090); `[::1]:9090` -> ("::1", 9090)."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


async def start_http(listen: str, metrics: Metrics, ready: Readiness,
                     mounts: Sequence[Mount] = ()) -> HttpServer:
    """Serve the ops endpoint on `listen` (host:port); WatcherError if it cannot bind."""
    host, port = split_listen(listen)
    runner = web.AppRunner(build_app(metrics, ready, mounts), access_log=None,
                           handle_signals=False,
                           shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise WatcherError(f"http: cannot listen on {listen}: {exc.strerror or exc}") from None
    bound = runner.addresses[0][1] if runner.addresses else port
    log.info("serving /healthz, /readyz and /metrics on %s:%d", host, bound)
    return HttpServer(runner, host, bound)


@contextlib.asynccontextmanager
async def serve_ops(listen: str | None, metrics: Metrics, ready: Readiness,
                    mounts: Sequence[Mount] = ()) -> AsyncIterator[HttpServer | None]:
    """The ops endpoint for the duration of the block; nothing when `listen` is None."""
    if listen is None:
        yield None
        return
    server = await start_http(listen, metrics, ready, mounts)
    try:
        yield server
    finally:
        await server.close()
