"""The ops endpoint on a real port, over a real SQLite store."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.alertfactory import make_alert, make_article
from watcher.config.settings import HttpSettings
from watcher.errors import WatcherError
from watcher.metrics import Metrics
from watcher.models import Delivery
from watcher.service.httpapi import HttpServer, Readiness, serve_ops, split_listen, start_http
from watcher.store import SqliteStore, open_store

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = await open_store(tmp_path / "w.db")
    yield s
    await s.close()


class Fake:
    """The parts of a running service readiness asks about, settable by the test."""

    running = True
    rules = 3


@pytest.fixture
async def served(store: SqliteStore) -> AsyncIterator[tuple[HttpServer, Metrics, Fake]]:
    metrics, fake = Metrics(), Fake()
    ready = Readiness(store, rules_loaded=lambda: fake.rules, clock=lambda: NOW,
                      scheduler_running=lambda: fake.running)
    server = await start_http("127.0.0.1:0", metrics, ready)
    try:
        yield server, metrics, fake
    finally:
        await server.close()


def url(server: HttpServer, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


async def test_healthz_and_readyz(served: tuple[HttpServer, Metrics, Fake]) -> None:
    server, _, fake = served
    async with httpx.AsyncClient() as client:
        assert (await client.get(url(server, "/healthz"))).json() == {"status": "ok"}
        ready = await client.get(url(server, "/readyz"))
        assert ready.status_code == 200
        assert ready.json()["ready"] is True
        fake.running = False
        ready = await client.get(url(server, "/readyz"))
        assert ready.status_code == 503
        assert ready.json()["checks"]["scheduler"] == {"ok": False, "detail": "not running"}
        fake.running, fake.rules = True, 0
        ready = await client.get(url(server, "/readyz"))
        assert ready.status_code == 503
        assert ready.json()["checks"]["rules"] == {"ok": False, "detail": "0 loaded"}


async def test_readyz_fails_when_the_store_does_not_answer(
        served: tuple[HttpServer, Metrics, Fake], store: SqliteStore) -> None:
    server, _, _ = served
    await store.close()
    async with httpx.AsyncClient() as client:
        ready = await client.get(url(server, "/readyz"))
        health = await client.get(url(server, "/healthz"))
    assert ready.status_code == 503
    store_check = ready.json()["checks"]["store"]
    assert store_check["ok"] is False and "closed" in store_check["detail"]
    assert health.status_code == 200  # alive, just not ready


async def test_metrics_read_the_outbox_when_scraped(
        served: tuple[HttpServer, Metrics, Fake], store: SqliteStore) -> None:
    server, metrics, _ = served
    queued = NOW - timedelta(minutes=5)
    await store.record_articles([make_article("k1")], [Delivery(make_alert("k1"), "hook")],
                                queued)
    metrics.record_rules(7, 2)
    async with httpx.AsyncClient() as client:
        response = await client.get(url(server, "/metrics"))
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {s.name: s.value for f in text_string_to_metric_families(response.text)
               for s in f.samples if not s.labels}
    assert samples["watcher_outbox_pending"] == 1
    assert samples["watcher_outbox_oldest_age_seconds"] == 300
    assert samples["watcher_rules_loaded"] == 7
    assert samples["watcher_rule_load_errors"] == 2


async def test_two_services_keep_their_own_registries(store: SqliteStore) -> None:
    first, second = Metrics(), Metrics()
    first.record_rules(1, 0)
    second.record_rules(5, 0)
    assert b"watcher_rules_loaded 1.0" in first.exposition()
    assert b"watcher_rules_loaded 5.0" in second.exposition()


async def test_a_taken_port_is_a_clear_error(store: SqliteStore) -> None:
    ready = Readiness(store, rules_loaded=lambda: 1, clock=lambda: NOW)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(WatcherError, match=f"http: cannot listen on 127.0.0.1:{port}"):
            await start_http(f"127.0.0.1:{port}", Metrics(), ready)


async def test_off_unless_configured(store: SqliteStore) -> None:
    ready = Readiness(store, rules_loaded=lambda: 1, clock=lambda: NOW)
    assert HttpSettings().listen is None
    async with serve_ops(None, Metrics(), ready) as server:
        assert server is None


@pytest.mark.parametrize(("listen", "parts"), [
    ("127.0.0.1:9090", ("127.0.0.1", 9090)), ("0.0.0.0:80", ("0.0.0.0", 80)),
    ("[::1]:9090", ("::1", 9090)), ("localhost:0", ("localhost", 0)),
])
def test_split_listen(listen: str, parts: tuple[str, int]) -> None:
    assert HttpSettings(listen=listen).listen == listen
    assert split_listen(listen) == parts


@pytest.mark.parametrize("listen", ["9090", ":9090", "host:", "host:http", "host:70000"])
def test_listen_must_be_host_and_port(listen: str) -> None:
    with pytest.raises(ValueError, match="not host:port"):
        HttpSettings(listen=listen)
