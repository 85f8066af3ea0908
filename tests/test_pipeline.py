"""poll_feed and queue_articles in-process, with a real SQLite file and a local HTTP server."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from watcher.config import Config, FeedConfig
from watcher.fetch import make_client
from watcher.match import compile_rules
from watcher.models import Article
from watcher.pipeline import Pipeline, failure_backoff, poll_feed, queue_articles
from watcher.rules import load_rules
from watcher.store import open_store

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FEED = """<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>
<item><guid>x1</guid><title>Isil convoy leaves Raqqa for Deir Ezzor</title>
<link>https://news.example.org/x1</link><description>Daesh fighters moved to Mayadin.</description>
</item><item><guid>x2</guid><title>Weather calm</title><link>https://news.example.org/x2</link>
</item></channel></rss>"""


@pytest.mark.parametrize(("interval", "failures", "retry_after", "low", "high"), [
    (60, 1, None, 48, 72),
    (60, 2, None, 96, 144),
    (60, 5, None, 768, 1152),
    (600, 30, None, 6 * 3600 * 0.8, 6 * 3600 * 1.2),
    (60, 1, 900.0, 900, 900),
    (60, 3, 10.0, 192, 288),
])
def test_failure_backoff(interval: float, failures: int, retry_after: float | None,
                         low: float, high: float) -> None:
    rng = random.Random(7)
    for _ in range(50):
        assert low <= failure_backoff(interval, failures, retry_after, rng) <= high


@pytest.fixture
async def pipe(tmp_path: Path) -> AsyncIterator[Pipeline]:
    config = Config.model_validate({
        "base_dir": tmp_path, "fetch": {"allow_private_addresses": True},
        "sinks": [{"type": "jsonl", "name": "archive", "path": "a.jsonl"}],
    })
    store = await open_store(tmp_path / "w.db")
    matcher = compile_rules(load_rules([ROOT / "rules"]))
    clock = [NOW]
    async with make_client(config.fetch) as client:
        yield Pipeline(config=config, store=store, client=client, matcher=matcher,
                       clock=lambda: clock[0])
    await store.close()


async def test_poll_records_health_and_queues_alerts(pipe: Pipeline,
                                                     httpserver: HTTPServer) -> None:
    httpserver.expect_request("/f.xml").respond_with_data(
        FEED, content_type="application/rss+xml", headers={"ETag": '"v1"'})
    feed = FeedConfig(id="f", url=httpserver.url_for("/f.xml"), interval=120)

    report = await poll_feed(pipe, feed)
    assert (report.status, report.articles, report.new_articles) == (200, 2, 2)
    assert report.alerts >= 1
    assert report.deliveries == report.alerts  # one sink
    assert pipe.outbox_changed.is_set()
    state = await pipe.store.load_feed_state("f")
    assert state is not None
    assert state.etag == '"v1"'
    assert state.last_success == NOW
    assert state.consecutive_failures == 0
    assert state.entries_seen == 2
    assert state.next_poll == NOW + timedelta(seconds=120)
    assert (await pipe.store.outbox_counts())["pending"] == report.deliveries

    # Not due yet: the scheduler's poll is skipped; `once` forces it.
    assert (await poll_feed(pipe, feed)).skipped
    again = await poll_feed(pipe, feed, force=True)
    assert (again.new_articles, again.alerts) == (0, 0)


async def test_not_modified_keeps_validators(pipe: Pipeline, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/f.xml", headers={"If-None-Match": '"v1"'}).respond_with_data(
        "", status=304)
    httpserver.expect_request("/f.xml").respond_with_data(
        FEED, content_type="application/rss+xml", headers={"ETag": '"v1"'})
    feed = FeedConfig(id="f", url=httpserver.url_for("/f.xml"))
    await poll_feed(pipe, feed)
    report = await poll_feed(pipe, feed, force=True)
    assert report.status == 304
    state = await pipe.store.load_feed_state("f")
    assert state is not None and state.etag == '"v1"'


async def test_failing_feed_backs_off_and_recovers(pipe: Pipeline,
                                                   httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/f.xml").respond_with_data("no", status=500)
    httpserver.expect_oneshot_request("/f.xml").respond_with_data("no", status=503,
                                                                  headers={"Retry-After": "900"})
    httpserver.expect_request("/f.xml").respond_with_data(FEED,
                                                          content_type="application/rss+xml")
    feed = FeedConfig(id="f", url=httpserver.url_for("/f.xml"), interval=60)

    first = await poll_feed(pipe, feed)
    assert first.error and "500" in first.error
    second = await poll_feed(pipe, feed, force=True)
    assert second.error
    state = await pipe.store.load_feed_state("f")
    assert state is not None
    assert state.consecutive_failures == 2
    assert state.next_poll is not None and state.next_poll >= NOW + timedelta(seconds=900)
    third = await poll_feed(pipe, feed, force=True)
    assert third.error is None and third.new_articles == 2
    state = await pipe.store.load_feed_state("f")
    assert state is not None and state.consecutive_failures == 0 and state.last_error is None


async def test_queue_dedupes_within_a_batch_and_across_calls(pipe: Pipeline) -> None:
    article = Article(key="k1", title="Isil convoy leaves Raqqa for Deir Ezzor",
                      url="https://news.example.org/k1")
    first = await queue_articles(pipe, [article, article], NOW)
    assert first.new_articles == 1
    assert first.alerts >= 1
    second = await queue_articles(pipe, [article], NOW)
    assert (second.new_articles, second.alerts) == (0, 0)


async def test_old_articles_are_recorded_but_not_alerted(pipe: Pipeline) -> None:
    pipe.config.max_article_age = 86400
    old = Article(key="old", title="Isil convoy leaves Raqqa for Deir Ezzor",
                  published=NOW - timedelta(days=3))
    report = await queue_articles(pipe, [old], NOW)
    assert (report.new_articles, report.alerts) == (1, 0)
