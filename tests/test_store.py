"""The store on both backends, proving they keep one contract: a real SQLite file and the real
PostgreSQL (a schema of its own per test). Schema, dedupe, outbox leases and transitions,
restarts; what is particular to one backend is tested on that one."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests import pgtest
from tests.alertfactory import make_alert, make_article
from watcher.errors import StoreError
from watcher.models import Delivery, FeedState, Lane
from watcher.store import PollRecord, Store, open_store
from watcher.store.pg_schema import MIGRATIONS as PG_MIGRATIONS
from watcher.store.pg_schema import SCHEMA_VERSION_TABLE as PG_SCHEMA_VERSION_TABLE
from watcher.store.postgres import PostgresStore
from watcher.store.schema import MIGRATIONS, SCHEMA_VERSION_TABLE

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LEASE = 60.0


class Backend:
    """Where a test's store lives: opened (again) at will, and reachable with raw SQL."""

    def __init__(self, name: str, location: Path | str, schema: str = "") -> None:
        self.name, self.location, self.schema = name, location, schema

    async def open(self) -> Store:
        return await open_store(self.location)

    def sql(self, statement: str) -> list[tuple[object, ...]]:
        if self.name == "postgres":
            return pgtest.run_sql(self.schema, statement)
        assert isinstance(self.location, Path)
        with closing(sqlite3.connect(self.location)) as conn, conn:
            return conn.execute(statement).fetchall()

    def script(self, statements: str) -> None:
        """Several statements at once (a migration)."""
        if self.name == "postgres":
            pgtest.run_sql(self.schema, statements)
            return
        assert isinstance(self.location, Path)
        self.location.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.location)) as conn:
            conn.executescript(statements)

    def migrations(self) -> tuple[tuple[int, str], ...]:
        return PG_MIGRATIONS if self.name == "postgres" else MIGRATIONS


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "postgres":
        schema = request.getfixturevalue("pg_schema")
        return Backend("postgres", pgtest.schema_url(schema), schema)
    return Backend("sqlite", tmp_path / "state" / "w.db")


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    s = await backend.open()
    yield s
    await s.close()


async def queue_one(store: Store, key: str = "desk:a1", sinks: tuple[str, ...] = ("hook",),
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


async def test_closed_store_raises_store_error(store: Store) -> None:
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.outbox_counts()


async def test_feed_state_round_trips_and_updates(store: Store) -> None:
    assert await store.load_feed_state("f") is None
    state = FeedState(feed_id="f", url="https://x.example/feed", etag='"v1"',
                      last_attempt=NOW, last_success=NOW, last_status=200, entries_seen=3,
                      next_poll=NOW + timedelta(minutes=10))
    await store.save_feed_state(state)
    assert await store.load_feed_state("f") == state
    state.consecutive_failures, state.last_error, state.etag = 2, "HTTP 500", None
    await store.save_feed_state(state)
    assert await store.load_feed_state("f") == state
    other = FeedState(feed_id="g", url="https://y.example/feed")
    await store.save_feed_state(other)
    assert await store.load_feed_states(["f", "g", "never"]) == {"f": state, "g": other}
    assert await store.load_feed_states([]) == {}


async def test_record_articles_dedupes_and_alerts_only_for_new_articles(
        store: Store) -> None:
    assert await store.unseen_keys(["desk:a1", "desk:a2"]) == {"desk:a1", "desk:a2"}
    assert await queue_one(store, "desk:a1", ("hook", "mail")) == 1
    assert await store.unseen_keys(["desk:a1", "desk:a2"]) == {"desk:a2"}
    # The same article again (a racing poller, a re-published entry): no new outbox rows.
    assert await queue_one(store, "desk:a1", ("hook", "mail", "archive")) == 0
    assert await store.outbox_counts() == {"pending": 2, "delivered": 0, "dead": 0}


async def test_record_articles_same_key_twice_in_one_call(store: Store) -> None:
    article, alert = make_article("k"), make_alert("k")
    new = await store.record_articles([article, article],
                                      [Delivery(alert, "hook"), Delivery(alert, "hook")], NOW)
    assert new == 1
    assert (await store.outbox_counts())["pending"] == 1


async def test_deliveries_for_articles_not_in_the_call_are_ignored(store: Store) -> None:
    new = await store.record_articles([make_article("k1")],
                                      [Delivery(make_alert("k2"), "hook")], NOW)
    assert new == 1
    assert (await store.outbox_counts())["pending"] == 0


async def test_many_keys_and_articles_since(store: Store) -> None:
    keys = [f"k{i}" for i in range(1200)]
    await store.record_articles([make_article(k) for k in keys[:700]], [], NOW)
    assert await store.unseen_keys(keys) == set(keys[700:])
    await store.record_articles([make_article("late")], [], NOW + timedelta(hours=1))
    since = await store.articles_since(NOW + timedelta(minutes=30))
    assert since == [make_article("late")]
    assert len(await store.articles_since(NOW)) == 701


async def test_claim_leases_rows_until_they_expire(store: Store) -> None:
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


async def test_extended_leases_hold_rows_longer_and_skip_finished_ones(store: Store) -> None:
    await queue_one(store, "k1")
    await queue_one(store, "k2")
    [a, b] = await store.claim_due(NOW, 10, LEASE)
    await store.mark_delivered(b.id, NOW)
    later = NOW + timedelta(seconds=2 * LEASE)
    assert await store.extend_leases([a.id, b.id], later) == 1  # the delivered row is left
    assert await store.claim_due(NOW + timedelta(seconds=LEASE + 1), 10, LEASE) == []
    again = await store.claim_due(later + timedelta(seconds=1), 10, LEASE)
    assert [i.id for i in again] == [a.id]
    assert await store.extend_leases([], later) == 0


async def test_claimed_row_survives_a_restart_and_returns_after_its_lease(
        backend: Backend) -> None:
    store = await backend.open()
    await queue_one(store, "k1")
    await store.save_feed_state(FeedState(feed_id="f", url="u", etag='"e"'))
    assert len(await store.claim_due(NOW, 10, LEASE)) == 1
    await store.close()  # crash mid-delivery: never marked

    store = await backend.open()
    try:
        assert await store.unseen_keys(["k1"]) == set()
        state = await store.load_feed_state("f")
        assert state is not None and state.etag == '"e"'
        assert await store.claim_due(NOW + timedelta(seconds=1), 10, LEASE) == []
        items = await store.claim_due(NOW + timedelta(seconds=LEASE), 10, LEASE)
        assert [i.alert.alert_id for i in items] == [make_alert("k1").alert_id]
    finally:
        await store.close()


async def test_retry_then_delivered(store: Store) -> None:
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


async def test_release_does_not_count_an_attempt(store: Store) -> None:
    await queue_one(store)
    [item] = await store.claim_due(NOW, 10, LEASE)
    await store.release(item.id, NOW + timedelta(seconds=5))
    [again] = await store.claim_due(NOW + timedelta(seconds=5), 10, LEASE)
    assert again.attempts == 0


async def test_dead_is_final_and_listed(store: Store) -> None:
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


async def test_unreadable_outbox_row_goes_dead_instead_of_looping(backend: Backend) -> None:
    store = await backend.open()
    try:
        await queue_one(store, "k1")
        backend.sql("UPDATE outbox SET alert_json = '{\"schema\": 1}'")
        assert await store.claim_due(NOW, 10, LEASE) == []
        assert await store.outbox_counts() == {"pending": 0, "delivered": 0, "dead": 1}
        [record] = await store.list_alerts("dead", 1)
        assert record.alert is None and "unreadable" in (record.last_error or "")
    finally:
        await store.close()


# Feed leases and the cluster view (both backends)

async def test_claim_feed_only_when_due_and_not_leased_by_another(store: Store) -> None:
    assert await store.claim_feed("f", "r1", NOW, LEASE)  # never polled: due
    assert not await store.claim_feed("f", "r2", NOW + timedelta(seconds=1), LEASE)
    assert await store.load_feed_state("f") is not None  # a row exists for the lease
    await store.save_feed_state(FeedState(feed_id="f", url="u", last_attempt=NOW,
                                          next_poll=NOW + timedelta(seconds=30)))
    await store.release_feed("f", "r1")
    assert not await store.claim_feed("f", "r2", NOW + timedelta(seconds=29), LEASE)  # not due
    assert not await store.claim_feed("f", "r2", NOW + timedelta(seconds=28), LEASE,
                                      due_within=1.5)
    assert await store.claim_feed("f", "r2", NOW + timedelta(seconds=29), LEASE, due_within=1)
    await store.release_feed("f", "r2")
    assert await store.claim_feed("f", "r2", NOW + timedelta(seconds=30), LEASE)
    state = await store.load_feed_state("f")  # the lease leaves the feed's state alone
    assert state is not None and (state.url, state.last_attempt) == ("u", NOW)


async def test_record_polls_writes_many_feeds_in_one_call_and_ends_their_leases(
        store: Store) -> None:
    for feed in ("a", "b", "c"):
        assert await store.claim_feed(feed, "r1", NOW, LEASE)
    shared = make_article("k-shared")  # the same story in two feeds of one batch
    polls = [
        PollRecord(FeedState(feed_id="a", url="ua", etag='"a1"', entries_seen=5,
                             body_hash="h", next_poll=NOW + timedelta(seconds=30))),
        PollRecord(FeedState(feed_id="b", url="ub", entries_seen=1),
                   [make_article("k1"), shared],
                   [Delivery(make_alert("k1"), "hook"), Delivery(make_alert("k-shared"), "hook")],
                   NOW),
        PollRecord(FeedState(feed_id="c", url="uc"), [shared],
                   [Delivery(make_alert("k-shared"), "mail")], NOW),
    ]
    assert await store.record_polls(polls, "r1") == [0, 2, 0]
    a, b, c = [await store.load_feed_state(f) for f in ("a", "b", "c")]
    assert a is not None and (a.etag, a.body_hash, a.entries_seen) == ('"a1"', "h", 5)
    assert b is not None and b.entries_seen == 3  # the store adds what it recorded as new
    assert c is not None and c.entries_seen == 0
    # Only b's alerts are queued: c's article was not new to the store when c wrote it.
    assert sorted(r.sink for r in await store.list_alerts(None, 10)) == ["hook", "hook"]
    assert await store.unseen_keys(["k1", "k-shared", "k2"]) == {"k2"}
    # The leases ended with the write: another replica may claim a due feed at once.
    assert await store.claim_feed("b", "r2", NOW + timedelta(seconds=1), LEASE)
    assert not await store.claim_feed("a", "r2", NOW + timedelta(seconds=1), LEASE)  # not due


async def test_a_dead_replicas_feed_lease_expires(store: Store) -> None:
    assert await store.claim_feed("f", "r1", NOW, LEASE)  # r1 dies mid-poll: never released
    assert not await store.claim_feed("f", "r2", NOW + timedelta(seconds=LEASE - 1), LEASE)
    assert await store.claim_feed("f", "r2", NOW + timedelta(seconds=LEASE), LEASE)
    await store.release_feed("f", "r1")  # r1's late release does not end r2's lease
    assert not await store.claim_feed("f", "r3", NOW + timedelta(seconds=LEASE + 1), LEASE)


async def test_cluster_view_shows_feeds_per_replica_and_outbox(store: Store) -> None:
    for feed, owner in (("a", "r1"), ("b", "r1"), ("c", "r2")):
        assert await store.claim_feed(feed, owner, NOW, LEASE)
    await store.release_feed("a", "r1")
    await queue_one(store, "k1")
    await queue_one(store, "k2")
    await store.claim_due(NOW, 1, LEASE)
    view = await store.cluster_view(NOW + timedelta(seconds=1))
    assert [(r.replica_id, r.feeds_leased, r.feeds_polled) for r in view.replicas] == [
        ("r1", 1, 2), ("r2", 1, 1)]
    assert view.replicas[0].last_claim == NOW
    assert view.outbox == {"pending": 2, "delivered": 0, "dead": 0}
    assert view.deliveries_in_flight == 1
    assert [r.replica_id for r in view.live(NOW + timedelta(seconds=5), within=10)] == [
        "r1", "r2"]
    assert view.live(NOW + timedelta(seconds=60), within=10) == []


# PostgreSQL only: several replicas on one schema

@pytest.fixture
async def replicas(pg_url: str) -> AsyncIterator[list[Store]]:
    stores = [await open_store(pg_url) for _ in range(3)]
    yield stores
    for s in stores:
        await s.close()


async def test_postgres_migrations_are_safe_when_replicas_start_at_once(
        pg_schema: str) -> None:
    url = pgtest.schema_url(pg_schema)
    stores = await asyncio.gather(*(open_store(url) for _ in range(4)))
    for s in stores:
        await s.close()
    rows = pgtest.run_sql(pg_schema, "SELECT version FROM schema_version ORDER BY 1")
    assert [r[0] for r in rows] == [v for v, _ in PG_MIGRATIONS]


async def test_postgres_same_article_from_racing_replicas_alerts_once(
        replicas: list[Store]) -> None:
    for i in range(20):  # the same entry reaches three replicas through three feeds
        key = f"race:{i}"
        news = await asyncio.gather(*(queue_one(s, key, ("hook", "mail")) for s in replicas))
        assert sorted(news) == [0, 0, 1]
    assert await replicas[0].outbox_counts() == {"pending": 40, "delivered": 0, "dead": 0}


async def test_postgres_overlapping_batches_do_not_deadlock(replicas: list[Store]) -> None:
    keys = [f"k{i}" for i in range(60)]
    batches = [keys, list(reversed(keys)), keys[::2] + keys[1::2]]
    news = await asyncio.gather(*(s.record_articles(
        [make_article(k) for k in b], [Delivery(make_alert(k), "hook") for k in b], NOW)
        for s, b in zip(replicas, batches, strict=True)))
    assert sum(news) == 60
    assert (await replicas[0].outbox_counts())["pending"] == 60


async def test_postgres_replicas_claim_disjoint_outbox_rows(replicas: list[Store]) -> None:
    for i in range(30):
        await queue_one(replicas[0], f"k{i}")
    claims = await asyncio.gather(*(s.claim_due(NOW, 12, LEASE) for s in replicas))
    ids = [item.id for batch in claims for item in batch]
    assert len(ids) == len(set(ids)) == 30


async def test_postgres_one_replica_wins_a_feed(replicas: list[Store]) -> None:
    for i in range(10):
        won = await asyncio.gather(*(s.claim_feed(f"f{i}", f"r{r}", NOW, LEASE)
                                     for r, s in enumerate(replicas)))
        assert sorted(won) == [False, False, True]


def shared(stores: list[Store]) -> list[PostgresStore]:
    assert all(isinstance(s, PostgresStore) for s in stores)
    return [s for s in stores if isinstance(s, PostgresStore)]


async def test_postgres_concurrent_batch_claims_never_share_a_feed(
        replicas: list[Store], pg_schema: str) -> None:
    stores = shared(replicas)
    ids = [f"f{i:03}" for i in range(120)]
    created = await asyncio.gather(*(s.add_feeds([(f, f"https://x/{f}", NOW) for f in ids])
                                     for s in stores))  # replicas starting together
    assert sorted(created) == [0, 0, 120]
    rounds = []
    for _ in range(3):  # three replicas claim 30 each at the same moment, three times
        claims = await asyncio.gather(*(s.claim_due_feeds(ids, f"r{r}", NOW, 30, LEASE)
                                        for r, s in enumerate(stores)))
        rounds.append([f for batch in claims for f in batch])
    assert [len(r) for r in rounds] == [90, 30, 0]
    assert sorted(f for r in rounds for f in r) == ids  # each feed to exactly one replica
    assert pgtest.run_sql(pg_schema, "SELECT count(DISTINCT lease_owner) FROM feed_state"
                          ) == [(3,)]


async def test_postgres_batch_claim_takes_due_feeds_and_expired_leases_only(
        replicas: list[Store]) -> None:
    r1, r2, _ = shared(replicas)
    later = NOW + timedelta(seconds=100)
    await r1.add_feeds([("due", "u", NOW), ("later", "u", later), ("other", "u", NOW)])
    # Only configured feeds (`other` is in the table, not in this replica's list), due ones.
    assert await r1.claim_due_feeds(["due", "later"], "r1", NOW, 10, LEASE) == ["due"]
    # r1 dies holding `due`: nobody gets it while the lease is live, r2 does once it expires.
    assert await r2.claim_due_feeds(["due"], "r2", NOW + timedelta(seconds=LEASE - 1),
                                    10, LEASE) == []
    assert await r2.claim_due_feeds(["due"], "r2", NOW + timedelta(seconds=LEASE),
                                    10, LEASE) == ["due"]
    await r1.release_feed("due", "r1")  # r1's late release does not end r2's lease
    assert await r1.claim_due_feeds(["due"], "r1", NOW + timedelta(seconds=LEASE + 1),
                                    10, LEASE) == []
    # Starting again keeps what the table knows: `later` stays due later.
    assert await r1.add_feeds([("later", "u", NOW), ("new", "u", NOW)]) == 1
    assert await r1.claim_due_feeds(["later", "new"], "r1", NOW, 10, LEASE) == ["new"]
    assert await r1.claim_due_feeds(["later"], "r1", later, 10, LEASE) == ["later"]


async def test_postgres_errors_never_show_the_password(pg_schema: str) -> None:
    url = pgtest.schema_url(pg_schema).replace("postgres@", "postgres:hunter2secret@")
    url = url.replace("/test?", "/no_such_database_here?")
    with pytest.raises(StoreError) as caught:
        await open_store(url)
    assert "hunter2secret" not in str(caught.value)
    assert "**********" in str(caught.value) and "no_such_database_here" in str(caught.value)


async def test_feed_health_fields_and_story_marks_round_trip(store: Store) -> None:
    state = FeedState(feed_id="f", url="u", moved_to="https://new.example/feed",
                      last_warning="malformed XML", failing_since=NOW)
    await store.save_feed_state(state)
    assert await store.load_feed_state("f") == state
    alert = make_alert("k1")
    await store.record_articles([make_article("k1")],
                                [Delivery(alert, "hook", ("url:x", "title:y"))], NOW)
    await store.record_articles([make_article("k1")],  # seen already: marks not refreshed
                                [Delivery(alert, "hook", ("url:z",))], NOW + timedelta(hours=1))
    assert await store.recent_stories(["url:x", "title:y", "url:z", "other"], NOW) == {
        "url:x", "title:y"}
    assert await store.recent_stories(["url:x"], NOW + timedelta(seconds=1)) == set()


# Routes and lanes (delivery/grouping.py), both backends

async def test_rows_remember_the_route_that_chose_their_sink(store: Store) -> None:
    alert = make_alert("k1")
    await store.record_articles([make_article("k1")], [
        Delivery(alert, "hook", route="urgent"), Delivery(alert, "mail")], NOW)
    expected = [("hook", "urgent"), ("mail", "")]
    assert sorted((i.sink, i.route) for i in await store.claim_due(NOW, 10, LEASE)) == expected
    assert sorted((r.sink, r.route) for r in await store.list_alerts(None, 10)) == expected


async def test_batches_and_sent_messages_keep_to_their_lane(store: Store) -> None:
    keys = {"k1": "", "k2": "urgent", "k3": "quiet", "k4": "urgent"}
    await store.record_articles([make_article(k) for k in keys],
                                [Delivery(make_alert(k), "hook", route=r)
                                 for k, r in keys.items()], NOW)
    urgent, rest = Lane("hook", "urgent"), Lane("hook", "", ("urgent",))
    before = NOW + timedelta(seconds=1)
    mine = await store.claim_batch(urgent, before, NOW, 100, LEASE)
    assert [(i.alert.article.key, i.route) for i in mine] == [("k2", "urgent"), ("k4", "urgent")]
    others = await store.claim_batch(rest, before, NOW, 100, LEASE)
    assert [(i.alert.article.key, i.route) for i in others] == [("k1", ""), ("k3", "quiet")]
    later = NOW + timedelta(minutes=1)
    await store.mark_batch_delivered([i.id for i in mine], NOW)
    await store.mark_batch_delivered([i.id for i in others[:1]], NOW)
    await store.mark_batch_delivered([i.id for i in others[1:]], later)
    assert await store.sent_messages(urgent, NOW) == [NOW]  # two rows, one message
    assert await store.sent_messages(rest, NOW) == [NOW, later]
    assert await store.sent_messages(Lane("hook"), NOW) == [NOW, NOW, later]  # no lane apart
    assert await store.sent_messages(Lane("mail"), NOW) == []


async def test_migration_to_routes_keeps_existing_rows(backend: Backend) -> None:
    """A store written before outbox rows had a route opens with every row kept, route ''."""
    [ours] = [v for v, script in backend.migrations() if "ADD COLUMN route" in script]
    if backend.name == "postgres":
        backend.sql(f"CREATE SCHEMA {backend.schema}")
        backend.script(PG_SCHEMA_VERSION_TABLE)
    else:
        backend.script(SCHEMA_VERSION_TABLE)
    for version, script in sorted(backend.migrations()):
        if version != ours:
            backend.script(script)
            backend.sql(f"INSERT INTO schema_version (version, applied_at) "
                        f"VALUES ({version}, '{NOW.isoformat()}')")
    alert = make_alert("k1").to_json().replace("'", "''")
    stamp = NOW.isoformat(timespec="microseconds")
    backend.sql("INSERT INTO outbox (alert_id, sink, article_key, rule_id, severity, alert_json, "
                "status, attempts, next_attempt, created_at) VALUES ('isil-movement.k1', "
                f"'hook', 'k1', 'isil-movement', 'high', '{alert}', 'pending', 0, '{stamp}', "
                f"'{stamp}')")
    store = await backend.open()
    try:
        [row] = await store.claim_due(NOW, 10, LEASE)
        assert (row.alert.alert_id, row.sink, row.route) == ("isil-movement.k1", "hook", "")
        [record] = await store.list_alerts(None, 10)
        assert record.route == ""
        assert len(await store.claim_batch(Lane("hook"), NOW + timedelta(seconds=1),
                                           NOW + timedelta(hours=1), 10, LEASE)) == 1
    finally:
        await store.close()
    versions = [r[0] for r in backend.sql("SELECT version FROM schema_version ORDER BY 1")]
    assert versions == sorted(v for v, _ in backend.migrations())
