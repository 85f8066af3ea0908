"""Metrics move with real polls and deliveries: a service in this process polls feeds on a
loopback server, delivers to loopback webhooks, and is read over HTTP on its real port."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port
from tests.localsite import CONVOY, FAIR, RULES, LocalSite, local_site
from watcher.config.settings import load_config
from watcher.metrics import Metrics
from watcher.models import FetchResult
from watcher.service.runner import run_service

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def site() -> Iterator[LocalSite]:
    yield from local_site()


def parse(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


class Service:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.client = httpx.AsyncClient(base_url=self.base, timeout=5)

    async def metrics(self) -> Samples:
        response = await self.client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        return parse(response.text)

    async def until(self, name: str, at_least: float, seconds: float = 15,
                    **labels: str) -> Samples:
        deadline = time.monotonic() + seconds
        while True:
            samples = await self.metrics()
            if value(samples, name, **labels) >= at_least:
                return samples
            if time.monotonic() > deadline:
                raise AssertionError(f"{name}{labels} stayed below {at_least}")
            await asyncio.sleep(0.1)


@pytest.fixture
async def service(tmp_path: Path, site: LocalSite) -> AsyncIterator[Service]:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "convoys.yaml").write_text(RULES)
    (rules / "broken.yaml").write_text("rules:\n  - id: broken\n    title: [unclosed\n")
    port = free_port()
    config = {
        "state": "state/w.db", "rules": ["rules"], "jitter": 0, "replica_id": "metrics-1",
        "fetch": {"allow_addresses": ["127.0.0.1/32", "::1/128"], "timeout": "5s"},
        "feeds": [{"id": "desk", "interval": "1s",
                   "url": site.set_feed("desk.xml", [("a1", *CONVOY), ("a2", *FAIR)])},
                  {"id": "broken", "interval": "1h", "url": site.url("missing.xml")}],
        "sinks": [{"name": "hook", "type": "webhook", "url": site.hook("hook")},
                  {"name": "down", "type": "webhook", "url": site.hook("down", status=503)},
                  {"name": "reject", "type": "webhook", "url": site.hook("reject", status=400)}],
        "delivery": {"poll_interval": "0.1s", "initial_backoff": "1h"},
        "http": {"listen": f"127.0.0.1:{port}"},
    }
    (tmp_path / "w.yaml").write_text(json.dumps(config))
    stop = asyncio.Event()
    task = asyncio.create_task(run_service(load_config(tmp_path / "w.yaml", env={}), stop))
    svc = Service(port)
    deadline = time.monotonic() + 15
    while True:
        try:
            await svc.client.get("/healthz")
            break
        except httpx.TransportError:
            assert not task.done(), task.exception()
            assert time.monotonic() < deadline, "the endpoint never came up"
            await asyncio.sleep(0.05)
    try:
        yield svc
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await svc.client.aclose()


async def test_metrics_move_with_polls_and_deliveries(service: Service, site: LocalSite) -> None:
    m = await service.until("watcher_alerts_total", 1, sink="reject", outcome="dead")
    m = await service.until("watcher_alerts_total", 1, sink="hook", outcome="delivered")
    m = await service.until("watcher_alerts_total", 1, sink="down", outcome="failed")
    m = await service.until("watcher_fetch_errors_total", 1, feed="broken")

    assert value(m, "watcher_fetch_http_status_total", feed="desk", status="200") >= 1
    assert value(m, "watcher_fetch_http_status_total", feed="broken", status="404") == 1
    assert value(m, "watcher_polls_total", feed="broken") == 1
    assert value(m, "watcher_articles_total", feed="desk", state="new") == 2
    assert value(m, "watcher_matches_total", rule="convoys") == 1
    assert value(m, "watcher_alert_latency_seconds_count") == 1
    assert value(m, "watcher_match_duration_seconds_count") == 2
    assert value(m, "watcher_fetch_duration_seconds_count") >= 2
    assert value(m, "watcher_rules_loaded") == 1
    assert value(m, "watcher_rule_load_errors") == 1
    # The alert for "down" waits for its retry; the other two are finished.
    assert value(m, "watcher_outbox_pending") == 1
    assert value(m, "watcher_outbox_dead") == 1
    assert value(m, "watcher_outbox_oldest_age_seconds") > 0
    # Who this process is, and the cluster as the store sees it: both feeds polled by it.
    assert value(m, "watcher_replica_info", replica="metrics-1") == 1
    assert value(m, "watcher_cluster_feeds", replica="metrics-1", state="polled") == 2
    assert ("watcher_outbox_in_flight", frozenset()) in m

    # Later polls of the same feed: the same body is not read again (its digest is the one
    # read last), so no article is counted at all, and nothing is alerted twice.
    polls = value(m, "watcher_polls_total", feed="desk")
    m = await service.until("watcher_polls_total", polls + 2, feed="desk")
    assert value(m, "watcher_articles_total", feed="desk", state="seen") == 0
    assert value(m, "watcher_articles_total", feed="desk", state="new") == 2
    assert value(m, "watcher_alerts_total", sink="hook", outcome="delivered") == 1
    assert len(site.delivered_ids("hook")) == 1


async def test_health_and_readiness_of_a_running_service(service: Service) -> None:
    health = await service.client.get("/healthz")
    assert health.status_code == 200
    ready = await service.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert checks["scheduler"]["ok"] and checks["store"]["ok"]
    assert checks["rules"] == {"ok": True, "detail": "1 loaded"}
    assert (await service.client.get("/nothing")).status_code == 404


def test_fetches_count_per_feed_and_status_as_they_come() -> None:
    """record_fetch keeps each feed's labelled children: the counts stay per feed and status."""
    m = Metrics()
    for feed, status in [("a", 304), ("a", 304), ("a", 200), ("b", 304), ("a", None)]:
        m.record_fetch(feed, FetchResult(feed, "http://x.test/", status=status), 0.01)
    samples = parse(m.exposition().decode())
    assert value(samples, "watcher_polls_total", feed="a") == 4
    assert value(samples, "watcher_polls_total", feed="b") == 1
    assert value(samples, "watcher_fetch_http_status_total", feed="a", status="304") == 2
    assert value(samples, "watcher_fetch_http_status_total", feed="a", status="200") == 1
    assert value(samples, "watcher_fetch_http_status_total", feed="a", status="none") == 1
    assert value(samples, "watcher_fetch_http_status_total", feed="b", status="304") == 1
