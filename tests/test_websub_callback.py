"""The WebSub callback (service/websub_callback.py) on a real loopback server: forged,
flooding and oversized pushes are refused before any parsing, verification answers only what
was asked, and with a shared store any replica takes a push for a subscription another
replica made."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp.test_utils import TestServer
from pytest_httpserver import HTTPServer

from tests import pgtest
from watcher.config.settings import Config
from watcher.feeds.fetch import make_client
from watcher.feeds.websub import sign
from watcher.matching.matcher import Matcher, compile_rules
from watcher.pipeline import Pipeline, poll_feed
from watcher.rules.load import load_rules
from watcher.service.websub_callback import websub_app
from watcher.service.websub_subscriber import WebSubSubscriber
from watcher.store import Store, Subscription, open_store

TOPIC = "https://news.example.org/feed.xml"
SECRET = "s3cret-of-the-subscription"
ATOM = ("<feed xmlns='http://www.w3.org/2005/Atom'><title>d</title><entry><id>urn:{0}</id>"
        "<title>{1}</title><link href='https://news.example.org/{0}'/></entry></feed>")
MAX_BYTES = 4096


@pytest.fixture(scope="module")
def matcher(tmp_path_factory: pytest.TempPathFactory) -> Matcher:
    rules = tmp_path_factory.mktemp("rules") / "r.yaml"
    rules.write_text("rules:\n  - id: convoys\n    title: Convoys\n    severity: high\n"
                     "    match:\n      words: [convoy]\n")
    return compile_rules(load_rules([rules]))


def config(tmp_path: Path, per_minute: int = 60) -> Config:
    return Config.model_validate({
        "base_dir": tmp_path, "http": {"listen": "127.0.0.1:0"},
        "feeds": [{"id": "desk", "url": TOPIC}],
        "websub": {"callback_url": "https://watcher.example.org/websub/",
                   "max_pushes_per_minute": per_minute},
        "sinks": [{"type": "jsonl", "name": "archive", "path": "a.jsonl"}]})


class Replica:
    """One replica's callback on its own loopback server, over `store`."""

    def __init__(self, cfg: Config, store: Store, matcher: Matcher,
                 client: httpx.AsyncClient) -> None:
        self.pipe = Pipeline(config=cfg, store=store, client=client, matcher=matcher)
        self.subscriber = WebSubSubscriber(self.pipe, cfg.feeds, cfg.websub)
        self.server = TestServer(websub_app(self.subscriber, MAX_BYTES), host="127.0.0.1")

    def url(self, token: str) -> str:
        return str(self.server.make_url(f"/{token}"))

    def pushes(self, outcome: str) -> float:
        value = self.pipe.metrics.websub_pushes.labels(outcome)._value.get()
        return float(value)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


async def replica(tmp_path: Path, location: Path | str, matcher: Matcher,
                  client: httpx.AsyncClient, per_minute: int = 60) -> Replica:
    r = Replica(config(tmp_path, per_minute), await open_store(location), matcher, client)
    await r.server.start_server()
    return r


async def close(*replicas: Replica) -> None:
    for r in replicas:
        await r.server.close()
        await r.pipe.store.close()


async def subscribed(store: Store, state: Any = "subscribing") -> Subscription:
    return await store.add_subscription(Subscription("desk", "https://hub.example/", TOPIC,
                                                     "tok-1", SECRET, state=state))


def push(body: bytes, secret: str = SECRET, method: str = "sha256") -> dict[str, Any]:
    return {"content": body, "headers": {"Content-Type": "application/atom+xml",
                                         "X-Hub-Signature": sign(body, secret, method)}}


async def test_forged_flooding_and_oversized_pushes_are_refused(
        tmp_path: Path, matcher: Matcher, client: httpx.AsyncClient) -> None:
    r = await replica(tmp_path, tmp_path / "w.db", matcher, client, per_minute=3)
    try:
        await subscribed(r.pipe.store)
        body = ATOM.format("a1", "Convoy leaves Raqqa").encode()
        assert (await client.post(r.url("no-such-token"), **push(body))).status_code == 404
        forged = await client.post(r.url("tok-1"), **push(body, secret="guessed"))
        assert forged.status_code == 202 and r.pushes("bad_signature") == 1
        unsigned = await client.post(r.url("tok-1"), content=body)
        assert unsigned.status_code == 202 and r.pushes("bad_signature") == 2
        huge = b"<feed>" + b"x" * MAX_BYTES + b"</feed>"
        assert (await client.post(r.url("tok-1"), **push(huge))).status_code == 413
        assert await r.pipe.store.outbox_counts() == {"pending": 0, "delivered": 0, "dead": 0}
        flood = await client.post(r.url("tok-1"), **push(body))
        assert flood.status_code == 429 and flood.headers["Retry-After"] == "60"
        assert r.pushes("rate_limited") == 1 and r.pushes("accepted") == 0
    finally:
        await close(r)


async def test_verification_answers_only_what_was_asked(
        tmp_path: Path, matcher: Matcher, client: httpx.AsyncClient) -> None:
    r = await replica(tmp_path, tmp_path / "w.db", matcher, client)
    try:
        await subscribed(r.pipe.store)
        asked = {"hub.mode": "subscribe", "hub.topic": TOPIC, "hub.challenge": "ch4llenge",
                 "hub.lease_seconds": "864000"}
        for wrong, status in [({"hub.topic": TOPIC + "?other"}, 404),
                              ({"hub.mode": "unsubscribe"}, 404),
                              ({"hub.challenge": ""}, 400), ({"hub.mode": "publish"}, 400)]:
            answer = await client.get(r.url("tok-1"), params={**asked, **wrong})
            assert answer.status_code == status, wrong
        assert (await client.get(r.url("tok-2"), params=asked)).status_code == 404
        answer = await client.get(r.url("tok-1"), params=asked)
        assert (answer.status_code, answer.text) == (200, "ch4llenge")
        sub = await r.pipe.store.load_subscription("desk")
        assert sub is not None and (sub.state, sub.lease_seconds) == ("active", 864000)
        assert r.subscriber.interval(r.pipe.config.feeds[0]) == 3600  # polls as a safety net
        denied = await client.get(r.url("tok-1"), params={
            "hub.mode": "denied", "hub.topic": TOPIC, "hub.reason": "not allowed"})
        assert denied.status_code == 200
        sub = await r.pipe.store.load_subscription("desk")
        assert sub is not None and sub.state == "denied" and "not allowed" in str(sub.last_error)
        assert r.subscriber.interval(r.pipe.config.feeds[0]) is None
        gone = await client.post(r.url("tok-1"), **push(b"<feed/>"))
        assert gone.status_code == 410
    finally:
        await close(r)


@pytest.fixture(params=["sqlite", "postgres"])
def shared_state(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    if request.param == "postgres":
        return pgtest.schema_url(request.getfixturevalue("pg_schema"))
    return tmp_path / "shared.db"


async def test_any_replica_takes_the_push(tmp_path: Path, matcher: Matcher,
                                          client: httpx.AsyncClient,
                                          shared_state: Path | str) -> None:
    a = await replica(tmp_path, shared_state, matcher, client)
    b = await replica(tmp_path, shared_state, matcher, client)
    try:
        await subscribed(a.pipe.store)
        verify = {"hub.mode": "subscribe", "hub.topic": TOPIC, "hub.challenge": "c",
                  "hub.lease_seconds": "600"}
        assert (await client.get(a.url("tok-1"), params=verify)).text == "c"
        body = ATOM.format("a1", "Convoy leaves Raqqa").encode()
        answer = await client.post(b.url("tok-1"), **push(body, method="sha384"))
        assert answer.status_code == 202 and b.pushes("accepted") == 1
        assert (await a.pipe.store.outbox_counts())["pending"] == 1
        again = await client.post(a.url("tok-1"), **push(body))  # the same entry: deduped
        assert again.status_code == 202
        assert (await a.pipe.store.outbox_counts())["pending"] == 1
        sub = await b.pipe.store.load_subscription("desk")
        assert sub is not None and sub.last_push_at is not None
    finally:
        await close(a, b)


async def test_an_active_subscription_stretches_the_poll_interval(
        tmp_path: Path, matcher: Matcher, httpserver: HTTPServer) -> None:
    feed_url = httpserver.url_for("/feed.xml")
    body = ATOM.format("a1", "Quiet day").replace(
        "<title>d</title>", f"<title>d</title><link rel='hub' href='{feed_url}/hub'/>")
    httpserver.expect_request("/feed.xml").respond_with_data(body, content_type="text/xml")
    cfg = Config.model_validate({
        "base_dir": tmp_path, "http": {"listen": "127.0.0.1:0"},
        "fetch": {"allow_addresses": ["127.0.0.0/8", "::1/128"]},
        "feeds": [{"id": "desk", "url": feed_url, "interval": 60}],
        "websub": {"callback_url": "https://watcher.example.org/websub/"}})
    store = await open_store(tmp_path / "w.db")
    async with make_client(cfg.fetch) as feed_client:
        pipe = Pipeline(config=cfg, store=store, client=feed_client, matcher=matcher)
        subscriber = WebSubSubscriber(pipe, cfg.feeds, cfg.websub)
        pipe.push = subscriber
        try:
            await poll_feed(pipe, cfg.feeds[0], force=True)
            state = await store.load_feed_state("desk")
            assert state is not None and state.next_poll is not None
            assert state.next_poll - pipe.clock() < timedelta(seconds=61)  # no subscription yet
            sub = await store.add_subscription(Subscription(
                "desk", f"{feed_url}/hub", feed_url, "tok", SECRET, state="active",
                expires_at=pipe.clock() + timedelta(days=1)))
            subscriber.note_verified(sub)
            await poll_feed(pipe, cfg.feeds[0], force=True)
            state = await store.load_feed_state("desk")
            assert state is not None and state.next_poll is not None
            assert state.next_poll - pipe.clock() > timedelta(seconds=3000)  # the safety net
        finally:
            await store.close()
