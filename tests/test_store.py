"""The SQLite store on a real file: schema, dedupe, outbox leases and transitions, restarts."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.alertfactory import make_alert, make_article
from watcher.errors import StoreError
from watcher.models import Delivery, FeedState
from watcher.store import SqliteStore, open_store
from watcher.store.schema import MIGRATIONS

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LEASE = 60.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = await open_store(tmp_path / "state" / "w.db")
    yield s
    await s.close()


async def queue_one(store: SqliteStore, key: str = "desk:a1", sinks: tuple[str, ...] = ("hook",),
                    now: datetime = NOW) -> int:
    alert = make_alert(key)
    return await store.record_articles([make_article(key)],
                                       [Delivery(alert, s) for s in sinks], now)


def schema_versions(path: Path) -> list[int]:
    with closing(sqlite3.connect(path)) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]


async def test_open_creates_folder_wal_and_migrates_once(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "w.db"
    for _ in range(2):
        s = await open_store(path)
        await s.close()
    assert schema_versions(path) == [v for v, _ in MIGRATIONS]
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"w\.db"):
        await open_store(path)


async def test_closed_store_raises_store_error(store: SqliteStore) -> None:
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.outbox_counts()


async def test_feed_state_round_trips_and_updates(store: SqliteStore) -> None:
    assert await store.load_feed_state("f") is None
    state = FeedState(feed_id="f", url="https://x.example/feed", etag='"v1"',
                      last_attempt=NOW, last_success=NOW, last_status=200, entries_seen=3,
                      next_poll=NOW + timedelta(minutes=10))
    await store.save_feed_state(state)
    assert await store.load_feed_state("f") == state
    state.consecutive_failures, state.last_error, state.etag = 2, "HTTP 500", None
    await store.save_feed_state(state)
    assert await store.load_feed_state("f") == state


async def test_record_articles_dedupes_and_alerts_only_for_new_articles(
        store: SqliteStore) -> None:
    assert await store.unseen_keys(["desk:a1", "desk:a2"]) == {"desk:a1", "desk:a2"}
    assert await queue_one(store, "desk:a1", ("hook", "mail")) == 1
    assert await store.unseen_keys(["desk:a1", "desk:a2"]) == {"desk:a2"}
    # The same article again (a racing poller, a re-published entry): no new outbox rows.
    assert await queue_one(store, "desk:a1", ("hook", "mail", "archive")) == 0
    assert await store.outbox_counts() == {"pending": 2, "delivered": 0, "dead": 0}


async def test_record_articles_same_key_twice_in_one_call(store: SqliteStore) -> None:
    article, alert = make_article("k"), make_alert("k")
    new = await store.record_articles([article, article],
                                      [Delivery(alert, "hook"), Delivery(alert, "hook")], NOW)
    assert new == 1
    assert (await store.outbox_counts())["pending"] == 1


async def test_deliveries_for_articles_not_in_the_call_are_ignored(store: SqliteStore) -> None:
    new = await store.record_articles([make_article("k1")],
                                      [Delivery(make_alert("k2"), "hook")], NOW)
    assert new == 1
    assert (await store.outbox_counts())["pending"] == 0


async def test_many_keys_and_articles_since(store: SqliteStore) -> None:
    keys = [f"k{i}" for i in range(1200)]
    await store.record_articles([make_article(k) for k in keys[:700]], [], NOW)
    assert await store.unseen_keys(keys) == set(keys[700:])
    await store.record_articles([make_article("late")], [], NOW + timedelta(hours=1))
    since = await store.articles_since(NOW + timedelta(minutes=30))
    assert since == [make_article("late")]
    assert len(await store.articles_since(NOW)) == 701


async def test_claim_leases_rows_until_they_expire(store: SqliteStore) -> None:
    await queue_one(store, "k1")
    await queue_one(store, "k2", now=NOW + timedelta(seconds=1))
    assert await store.claim_due(NOW - timedelta(seconds=1), 10, LEASE) == []  # not due yet
    first = await store.claim_due(NOW + timedelta(seconds=5), 1, LEASE)
    assert [i.alert.article.key for i in first] == ["k1"]  # oldest first, limit honoured
    assert first[0].alert == make_alert("k1")
    assert (first[0].sink, first[0].attempts, first[0].created_at) == ("hook", 0, NOW)
    rest = await store.claim_due(NOW + timedelta(seconds=5), 10, LEASE)
    assert [i.alert.article.key for i in rest] == ["k2"]  # k1 is leased
    assert await store.claim_due(NOW + timedelta(seconds=30), 10, LEASE) == []
    # The worker died: after the lease both come back.
    again = await store.claim_due(NOW + timedelta(seconds=LEASE + 10), 10, LEASE)
    assert [i.alert.article.key for i in again] == ["k1", "k2"]


async def test_claimed_row_survives_a_restart_and_returns_after_its_lease(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    store = await open_store(path)
    await queue_one(store, "k1")
    await store.save_feed_state(FeedState(feed_id="f", url="u", etag='"e"'))
    assert len(await store.claim_due(NOW, 10, LEASE)) == 1
    await store.close()  # crash mid-delivery: never marked

    store = await open_store(path)
    try:
        assert await store.unseen_keys(["k1"]) == set()
        state = await store.load_feed_state("f")
        assert state is not None and state.etag == '"e"'
        assert await store.claim_due(NOW + timedelta(seconds=1), 10, LEASE) == []
        items = await store.claim_due(NOW + timedelta(seconds=LEASE), 10, LEASE)
        assert [i.alert.alert_id for i in items] == [make_alert("k1").alert_id]
    finally:
        await store.close()


async def test_retry_then_delivered(store: SqliteStore) -> None:
    await queue_one(store)
    [item] = await store.claim_due(NOW, 10, LEASE)
    later = NOW + timedelta(seconds=30)
    await store.mark_retry(item.id, "HTTP 503", later)
    assert await store.claim_due(NOW + timedelta(seconds=29), 10, LEASE) == []
    [again] = await store.claim_due(later, 10, LEASE)  # the lease was cleared by mark_retry
    assert again.attempts == 1
    await store.mark_delivered(again.id, later)
    assert await store.outbox_counts() == {"pending": 0, "delivered": 1, "dead": 0}
    [record] = await store.list_alerts("delivered", 10)
    assert (record.attempts, record.last_error, record.finished_at) == (2, "HTTP 503", later)
    assert await store.claim_due(later + timedelta(days=9), 10, LEASE) == []


async def test_release_does_not_count_an_attempt(store: SqliteStore) -> None:
    await queue_one(store)
    [item] = await store.claim_due(NOW, 10, LEASE)
    await store.release(item.id, NOW + timedelta(seconds=5))
    [again] = await store.claim_due(NOW + timedelta(seconds=5), 10, LEASE)
    assert again.attempts == 0


async def test_dead_is_final_and_listed(store: SqliteStore) -> None:
    await queue_one(store, "k1")
    await queue_one(store, "k2")
    items = await store.claim_due(NOW, 10, LEASE)
    await store.mark_dead(items[0].id, "HTTP 404 from hooks.example", NOW)
    await store.mark_delivered(items[0].id, NOW)  # too late: dead stays dead
    await store.mark_retry(items[1].id, "timeout", NOW)
    assert await store.outbox_counts() == {"pending": 1, "delivered": 0, "dead": 1}
    [dead] = await store.list_alerts("dead", 10)
    assert dead.last_error == "HTTP 404 from hooks.example"
    assert dead.alert is not None and dead.alert.article.key == "k1"
    assert [r.alert.article.key for r in await store.list_alerts(None, 10)  # type: ignore[union-attr]
            ] == ["k2", "k1"]
    with pytest.raises(ValueError, match="unknown status"):
        await store.list_alerts("sent", 10)


async def test_unreadable_outbox_row_goes_dead_instead_of_looping(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    store = await open_store(path)
    try:
        await queue_one(store, "k1")
        with closing(sqlite3.connect(path)) as conn, conn:
            conn.execute("UPDATE outbox SET alert_json = '{\"schema\": 1}'")
        assert await store.claim_due(NOW, 10, LEASE) == []
        assert await store.outbox_counts() == {"pending": 0, "delivered": 0, "dead": 1}
        [record] = await store.list_alerts("dead", 1)
        assert record.alert is None and "unreadable" in (record.last_error or "")
    finally:
        await store.close()
