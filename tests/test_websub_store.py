"""WebSub subscriptions in both stores (store/subscriptions.py): one row per feed, the first
replica's token and secret kept, requests claimed by one replica at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests import pgtest
from watcher.store import Store, Subscription, open_store

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "postgres":
        location: Path | str = pgtest.schema_url(request.getfixturevalue("pg_schema"))
    else:
        location = tmp_path / "w.db"
    s = await open_store(location)
    yield s
    await s.close()


def sub(feed_id: str = "desk", token: str = "tok1", secret: str = "sec1") -> Subscription:
    return Subscription(feed_id, "https://hub.example/", "https://news.example/feed", token,
                        secret)


async def test_first_replica_wins_and_rows_round_trip(store: Store) -> None:
    first = await store.add_subscription(sub())
    second = await store.add_subscription(sub(token="tok2", secret="sec2"))
    assert (first.token, second.token, second.secret) == ("tok1", "tok1", "sec1")
    first.state, first.lease_seconds, first.expires_at = "active", 600, NOW
    first.last_error = "none"
    await store.save_subscription(first)
    assert await store.load_subscription("desk") == first
    assert await store.subscription_by_token("tok1") == first
    assert await store.subscription_by_token("tok2") is None
    await store.add_subscription(sub("other", "tok3"))
    assert [s.feed_id for s in await store.list_subscriptions()] == ["desk", "other"]
    await store.delete_subscription("desk")
    assert await store.load_subscription("desk") is None


async def test_a_request_is_claimed_once_until_it_is_stale(store: Store) -> None:
    await store.add_subscription(sub())
    assert await store.claim_subscription_request("desk", NOW, NOW - timedelta(seconds=60))
    assert not await store.claim_subscription_request("desk", NOW, NOW - timedelta(seconds=60))
    later = NOW + timedelta(seconds=61)
    assert await store.claim_subscription_request("desk", later, later - timedelta(seconds=60))
    loaded = await store.load_subscription("desk")
    assert loaded is not None and loaded.requested_at == later
    assert not await store.claim_subscription_request("nope", NOW, NOW)


def test_watcher_feeds_shows_the_subscription() -> None:
    from watcher.cli.feeds_cmd import render_feeds
    from watcher.feeds.report import FeedRow, with_subscription

    active = sub()
    active.state, active.expires_at = "active", NOW
    failed = sub("other")
    failed.state, failed.last_error = "failed", "hub hub.example: HTTP 500"
    rows = [with_subscription(FeedRow("desk", "u", "ok", True), active),
            with_subscription(FeedRow("other", "u", "ok", True), failed),
            with_subscription(FeedRow("plain", "u", "ok", True), None)]
    lines = render_feeds(rows).splitlines()
    assert "push" in lines[0]
    assert "active until 2026-12-04T12:00:00+00:00" in lines[1]
    assert "failed" in lines[2] and "websub: hub hub.example: HTTP 500" in lines[2]
    assert lines[3].split()[-1] == "-"
