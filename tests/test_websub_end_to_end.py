"""WebSub end to end on loopback: a hub of our own (tests/websubhub.py), the real service with
its HTTP endpoint, a webhook receiver. Subscribe, verify, push, a forged push refused, the
lease renewed, and after the feed leaves the config, unsubscribe."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests.conftest import free_port
from tests.websubhub import LoopbackHub
from watcher.cli.feeds_cmd import read_feeds
from watcher.config.settings import Config, load_config
from watcher.service.runner import run_service
from watcher.store import open_store

RULES = ("rules:\n  - id: convoys\n    title: Convoys on the move\n    severity: high\n"
         "    match:\n      words: [convoy]\n")
LOOPBACK_FEEDS = "fetch: {allow_addresses: [127.0.0.0/8, '::1/128']}\n"  # feed, hub on loopback


@pytest.fixture
async def hub() -> AsyncIterator[LoopbackHub]:
    hub = LoopbackHub(lease_seconds=3)
    await hub.start()
    yield hub
    await hub.close()


def write_config(tmp_path: Path, hub: LoopbackHub, receiver: str, port: int,
                 with_feed: bool = True) -> Config:
    (tmp_path / "rules.yaml").write_text(RULES)
    feeds = f"feeds:\n  - {{id: desk, url: '{hub.topic}'}}\n" if with_feed else "feeds: []\n"
    (tmp_path / "w.yaml").write_text(
        "state: w.db\nrules: [rules.yaml]\njitter: 0\n" + LOOPBACK_FEEDS + feeds
        + f"http: {{listen: '127.0.0.1:{port}'}}\n"
        + f"websub: {{callback_url: 'http://127.0.0.1:{port}/websub/'}}\n"
        + f"sinks:\n  - {{type: webhook, name: hook, url: '{receiver}'}}\n"
        + "delivery: {poll_interval: 0.2}\n")
    return load_config(tmp_path / "w.yaml", env={})


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


def alert_titles(httpserver: HTTPServer) -> list[str]:
    return [json.loads(r.get_data())["article"]["title"] for r, _ in httpserver.log
            if r.path == "/hook"]


def subscribes(hub: LoopbackHub, mode: str = "subscribe") -> int:
    return sum(1 for v in hub.verifications if v.mode == mode and v.ok)


async def started(caplog: pytest.LogCaptureFixture) -> None:
    """The service has loaded its rules (the gazetteer takes seconds) and runs."""
    await until(lambda: "watcher running" in caplog.text, timeout=60)


@pytest.mark.timeout(180)
async def test_subscribe_push_forgery_renewal_unsubscribe(
        tmp_path: Path, hub: LoopbackHub, httpserver: HTTPServer,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    port = free_port()
    config = write_config(tmp_path, hub, httpserver.url_for("/hook"), port)
    hub.set_entries([("old1", "Quiet day in Damascus")])
    stop = asyncio.Event()
    service = asyncio.create_task(run_service(config, stop))
    try:
        await started(caplog)
        # The first poll finds the hub; the subscriber subscribes, the hub verifies.
        await until(lambda: subscribes(hub) >= 1)
        [request, *_] = hub.requests
        assert request["hub.mode"] == "subscribe" and request["hub.topic"] == hub.topic
        assert request["hub.callback"].startswith(f"http://127.0.0.1:{port}/websub/")
        assert len(request["hub.secret"]) >= 32
        [row] = await read_feeds(config, datetime.now(UTC))
        assert row.websub == "active" and row.websub_hub == hub.hub_url

        # A pushed entry reaches the webhook without waiting for a poll.
        body = hub.set_entries([("old1", "Quiet day in Damascus"),
                                ("new1", "Convoy leaves Raqqa for Deir Ezzor")])
        assert await hub.publish(body) == [202]
        await until(lambda: alert_titles(httpserver) == ["Convoy leaves Raqqa for Deir Ezzor"])

        # A push signed with another secret is dropped (answered 202, as WebSub asks).
        forged = hub.set_entries([("forged", "Convoy of forged news")])
        assert await hub.publish(forged, secret="not-the-secret") == [202]
        await until(lambda: "push without a valid signature dropped" in caplog.text)
        # sha512, as some hubs sign, is accepted; the forged entry was never recorded.
        await hub.publish(hub.set_entries([("new2", "Second convoy seen")]), method="sha512")
        await until(lambda: len(alert_titles(httpserver)) == 2)
        assert alert_titles(httpserver)[1] == "Second convoy seen"

        # A 3-second lease is renewed before it ends, with the same callback and secret.
        await until(lambda: subscribes(hub) >= 3, timeout=8)
        renewals = [r for r in hub.requests if r["hub.mode"] == "subscribe"]
        assert {(r["hub.callback"], r["hub.secret"]) for r in renewals} == {
            (request["hub.callback"], request["hub.secret"])}
        hub.lease_seconds = 600
        granted = subscribes(hub)
        await until(lambda: subscribes(hub) > granted, timeout=5)
    finally:
        stop.set()
        await asyncio.wait_for(service, 15)

    # The feed leaves the config: on the next start, the subscriber unsubscribes.
    config = write_config(tmp_path, hub, httpserver.url_for("/hook"), port, with_feed=False)
    stop = asyncio.Event()
    caplog.clear()
    service = asyncio.create_task(run_service(config, stop))
    try:
        await started(caplog)
        await until(lambda: subscribes(hub, "unsubscribe") == 1)
        assert hub.subscribers == {}
        store = await open_store(config.state_location())
        try:
            await until(lambda: True)
            assert await store.list_subscriptions() == []
        finally:
            await store.close()
    finally:
        stop.set()
        await asyncio.wait_for(service, 15)
