"""The state store on PostgreSQL, shared by several replicas (psycopg 3, async).

The same `Store` as sqlite.py, made safe for many writers:
- feeds are leased: `claim_due_feeds` takes a batch of due feeds no live replica holds in
  one statement (`FOR UPDATE SKIP LOCKED`, lease expiry), so each feed is polled once per
  interval across replicas (`claim_feed` leases one feed: the same rule, one at a time);
- outbox rows are claimed with `FOR UPDATE SKIP LOCKED` and a lease expiry, so each alert is
  sent by one replica, and a dead replica's rows come back when their lease runs out;
- `record_articles` is one statement (`ON CONFLICT DO NOTHING` on articles, then on
  (alert_id, sink)), so an article two replicas see at once is recorded and alerted once.
Every statement runs in autocommit unless it must share a transaction. psycopg errors become
`StoreError` here, naming the URL with its password masked.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError

from watcher.config.masked import mask_url_password, url_password
from watcher.errors import StoreError
from watcher.models import (
    Alert,
    Article,
    Delivery,
    FeedState,
    Lane,
    OutboxItem,
    Story,
    StoryDecider,
    StoryEntry,
)
from watcher.store import pg_websub as websub
from watcher.store import postgres_stories as stories
from watcher.store.cluster import ClusterView, ReplicaRecord, ReplicaView
from watcher.store.pg_desk import PgDesk
from watcher.store.pg_schema import migrate
from watcher.store.records import OUTBOX_STATUSES, OutboxRecord, PollRecord
from watcher.store.subscriptions import Subscription

Conn = psycopg.AsyncConnection[TupleRow]

# Polls and deliveries of one replica share these. A broken connection (server restart)
# fails the statement on it and is dropped by the pool; the next statement gets a new one.
POOL_MAX = 8
CONNECT_TIMEOUT = 10.0

async def open_postgres(url: str) -> PostgresStore:
    """Connect to the database at `url`, bringing its schema up to date (safe when several
    replicas start at once)."""
    store = PostgresStore(url)
    await store._open()
    return store


async def _configure(conn: Conn) -> None:
    await conn.execute("SET TIME ZONE 'UTC'")


class PostgresStore(PgDesk):
    """The `Store` on PostgreSQL. Build it with `open_postgres` (or `open_store`)."""

    def __init__(self, url: str) -> None:
        self.label = mask_url_password(url)
        self._url = url
        self._password = url_password(url)
        self._pool: AsyncConnectionPool[Conn] | None = AsyncConnectionPool(
            url, min_size=1, max_size=POOL_MAX, open=False, timeout=CONNECT_TIMEOUT,
            kwargs={"autocommit": True}, configure=_configure, name="watcher-store")

    def _error(self, exc: BaseException) -> StoreError:
        text = " ".join(str(exc).split()) or type(exc).__name__
        if self._password:
            text = text.replace(self._password, "***")
        return StoreError(f"{self.label}: {text}")

    async def _open(self) -> None:
        assert self._pool is not None
        try:
            # One plain connection first: when the server is unreachable its error says why
            # (refused, unknown host, bad password); the pool would only say it timed out.
            probe = await psycopg.AsyncConnection.connect(
                self._url, connect_timeout=max(1, round(CONNECT_TIMEOUT)), autocommit=True)
            await probe.close()
            await self._pool.open(wait=True, timeout=CONNECT_TIMEOUT)
            async with self._pool.connection() as conn:
                await migrate(conn)
        except psycopg.Error as exc:
            await self.close()
            raise self._error(exc) from None

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[Conn]:
        if self._pool is None:
            raise StoreError(f"{self.label}: store is closed")
        try:
            async with self._pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise self._error(exc) from exc

    async def _fetch(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        async with self._conn() as conn:
            cur = await conn.execute(query.encode(), params)
            return await cur.fetchall() if cur.description is not None else []

    async def _rowcount(self, query: str, params: Any = None) -> int:
        async with self._conn() as conn:
            cur = await conn.execute(query.encode(), params)
            return cur.rowcount

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    # feed state

    async def load_feed_state(self, feed_id: str) -> FeedState | None:
        rows = await self._fetch(f"SELECT {', '.join(_FEED_COLUMNS)} FROM feed_state "
                                 "WHERE feed_id = %s", (feed_id,))
        return FeedState(**dict(zip(_FEED_COLUMNS, rows[0], strict=True))) if rows else None

    async def load_feed_states(self, feed_ids: Sequence[str]) -> dict[str, FeedState]:
        rows = await self._fetch(f"SELECT {', '.join(_FEED_COLUMNS)} FROM feed_state "
                                 "WHERE feed_id = ANY(%s)", (list(feed_ids),))
        return {r[0]: FeedState(**dict(zip(_FEED_COLUMNS, r, strict=True))) for r in rows}

    async def save_feed_state(self, state: FeedState) -> None:
        await self._rowcount(_SAVE_FEED_STATE, [getattr(state, c) for c in _FEED_COLUMNS])

    async def claim_feed(self, feed_id: str, replica_id: str, now: datetime,
                         lease_seconds: float, due_within: float = 0.0) -> bool:
        """Lease the feed to this replica if it is due (within `due_within` seconds) and no
        other replica's lease on it is live; False otherwise. A row is created for a feed
        never polled."""
        rows = await self._fetch(_CLAIM_FEED, {
            "feed": feed_id, "owner": replica_id, "now": now,
            "due_by": now + timedelta(seconds=due_within),
            "until": now + timedelta(seconds=lease_seconds)})
        return bool(rows)

    async def add_feeds(self, feeds: Sequence[tuple[str, str, datetime]]) -> int:
        """Create the state row of each (feed id, url, first due time) that has none, so a
        batch claim can find it; rows that exist keep their state. Replicas that start
        together insert the same ids in the same (sorted) order: one creates each row, the
        others wait for it and skip. Returns how many rows were created."""
        unique = sorted({f[0]: f for f in feeds}.values())
        if not unique:
            return 0
        return await self._rowcount(_ADD_FEEDS, {
            "ids": [f[0] for f in unique], "urls": [f[1] for f in unique],
            "due": [f[2] for f in unique]})

    async def claim_due_feeds(self, feed_ids: Sequence[str], replica_id: str, now: datetime,
                              limit: int, lease_seconds: float) -> list[str]:
        """Lease up to `limit` of these feeds that are due and not leased by a live replica,
        most overdue first, in one statement; returns their ids. Rows another replica is
        claiming this instant are skipped (`SKIP LOCKED`), so concurrent claims never return
        the same feed; a dead replica's feeds come back when their lease runs out."""
        if limit <= 0 or not feed_ids:
            return []
        rows = await self._fetch(_CLAIM_DUE_FEEDS, {
            "feeds": list(feed_ids), "owner": replica_id, "now": now, "limit": limit,
            "until": now + timedelta(seconds=lease_seconds)})
        return [r[0] for r in rows]

    async def release_feed(self, feed_id: str, replica_id: str) -> None:
        """End this replica's lease on the feed (its poll is over, `next_poll` saved)."""
        await self._rowcount("UPDATE feed_state SET lease_until = NULL "
                             "WHERE feed_id = %s AND lease_owner = %s", (feed_id, replica_id))

    async def cluster_view(self, now: datetime) -> ClusterView:
        """Feeds leased and last polled per replica, and the outbox they share."""
        async with self._conn() as conn:
            cur = await conn.execute(
                "SELECT lease_owner, count(*) FILTER (WHERE lease_until > %s), count(*), "
                "max(leased_at) FROM feed_state WHERE lease_owner IS NOT NULL "
                "GROUP BY lease_owner ORDER BY lease_owner", (now,))
            replicas = [ReplicaView(r[0], r[1], r[2], r[3]) for r in await cur.fetchall()]
            cur = await conn.execute(
                "SELECT status, count(*), count(*) FILTER (WHERE lease_until > %s) "
                "FROM outbox GROUP BY status", (now,))
            counts: dict[str, int] = dict.fromkeys(OUTBOX_STATUSES, 0)
            in_flight = 0
            for status, n, leased in await cur.fetchall():
                counts[status] = n
                in_flight += leased if status == "pending" else 0
        return ClusterView(replicas, counts, in_flight)

    # running services (service/heartbeat.py)

    async def save_replica(self, record: ReplicaRecord) -> None:
        """Write what this replica runs now (inserted on its first call, replaced after)."""
        await self._rowcount(_SAVE_REPLICA, (
            record.replica_id, record.version, record.started_at, record.heartbeat_at,
            record.stopped_at, record.rules_loaded, json.dumps(record.rules)))

    async def stop_replica(self, replica_id: str, now: datetime) -> None:
        await self._rowcount("UPDATE replicas SET stopped_at = %s, heartbeat_at = %s "
                             "WHERE replica_id = %s", (now, now, replica_id))

    async def list_replicas(self, since: datetime) -> list[ReplicaRecord]:
        """Replicas whose last heartbeat (or stop) is at or after `since`, by id."""
        rows = await self._fetch("SELECT replica_id, version, started_at, heartbeat_at, "
                                 "stopped_at, rules_loaded, rules_json FROM replicas "
                                 "WHERE heartbeat_at >= %s ORDER BY replica_id", (since,))
        return [ReplicaRecord(r[0], r[1], r[2].astimezone(UTC), r[3].astimezone(UTC), r[5],
                              json.loads(r[6]), _utc(r[4])) for r in rows]

    async def forget_replicas(self, before: datetime) -> int:
        """Drop replicas silent since before `before`; returns how many."""
        return await self._rowcount("DELETE FROM replicas WHERE heartbeat_at < %s", (before,))

    # WebSub subscriptions (store/subscriptions.py; statements in pg_websub.py)

    async def load_subscription(self, feed_id: str) -> Subscription | None:
        return await websub.load_subscription(self._fetch, feed_id)

    async def subscription_by_token(self, token: str) -> Subscription | None:
        return await websub.subscription_by_token(self._fetch, token)

    async def list_subscriptions(self) -> list[Subscription]:
        return await websub.list_subscriptions(self._fetch)

    async def add_subscription(self, sub: Subscription) -> Subscription:
        return await websub.add_subscription(self._fetch, sub)

    async def save_subscription(self, sub: Subscription) -> None:
        await websub.save_subscription(self._fetch, sub)

    async def claim_subscription_request(self, feed_id: str, now: datetime,
                                         stale_before: datetime) -> bool:
        return await websub.claim_subscription_request(self._fetch, feed_id, now, stale_before)

    async def delete_subscription(self, feed_id: str) -> None:
        await websub.delete_subscription(self._fetch, feed_id)

    # articles

    async def unseen_keys(self, keys: Sequence[str]) -> set[str]:
        """The keys among these that no call to `record_articles` has recorded, as an
        article's key or as one of its aliases."""
        rows = await self._fetch("SELECT key FROM articles WHERE key = ANY(%(keys)s) UNION ALL "
                                 "SELECT alias FROM article_aliases WHERE alias = ANY(%(keys)s)",
                                 {"keys": list(keys)})
        return set(keys) - {r[0] for r in rows}

    async def record_articles(self, articles: Sequence[Article], deliveries: Sequence[Delivery],
                              now: datetime) -> int:
        """Record unseen articles and queue the deliveries of their alerts, in one statement.

        A delivery is queued only if its article was newly recorded by this very call, so
        replicas racing on the same entry cannot both alert. Keys and aliases are written in
        sorted order, so two racing calls wait for each other instead of deadlocking."""
        params = _record_params(articles, deliveries, now)
        if params is None:
            return 0
        rows = await self._fetch(_RECORD_ARTICLES, params)
        return int(rows[0][0])

    async def record_polls(self, polls: Sequence[PollRecord], replica_id: str) -> list[int]:
        """Write the outcome of many polls in one transaction: each feed's state, and its
        articles and deliveries as `record_articles` would (one statement per poll with news,
        so a delivery is queued only if its article is new, per poll). The leases
        `replica_id` holds on these feeds end with it. Returns how many articles each poll
        recorded as new."""
        counts: list[int] = []
        async with self._conn() as conn, conn.transaction():
            for poll in polls:
                params = (_record_params(poll.articles, poll.deliveries, poll.now)
                          if poll.now is not None else None)
                if params is None:
                    counts.append(0)
                    continue
                cur = await conn.execute(_RECORD_ARTICLES.encode(), params)
                row = await cur.fetchone()
                counts.append(int(row[0]) if row else 0)
            # Sorted by feed: replicas writing overlapping batches lock rows in one order.
            states = sorted((replace(p.state, entries_seen=p.state.entries_seen + n)
                             for p, n in zip(polls, counts, strict=True)),
                            key=lambda s: s.feed_id)
            async with conn.cursor() as cur:
                await cur.executemany(_SAVE_FEED_STATE.encode(),
                                      [[getattr(s, c) for c in _FEED_COLUMNS] for s in states])
            await conn.execute("UPDATE feed_state SET lease_until = NULL "
                               "WHERE feed_id = ANY(%s) AND lease_owner = %s",
                               ([s.feed_id for s in states], replica_id))
        return counts

    async def recent_stories(self, keys: Sequence[str], since: datetime) -> set[str]:
        """The story keys among these that a delivery queued at or after `since` carried."""
        rows = await self._fetch("SELECT story_key FROM story_marks "
                                 "WHERE story_key = ANY(%s) AND alerted_at >= %s",
                                 (list(keys), since))
        return {r[0] for r in rows}

    async def articles_since(self, since: datetime) -> list[Article]:
        """Articles first seen at or after `since`, oldest first (for backtesting rules)."""
        rows = await self._fetch("SELECT article_json FROM articles WHERE seen_at >= %s "
                                 "ORDER BY seen_at, key", (since,))
        return [Article.model_validate_json(r[0]) for r in rows]

    # outbox

    # stories (watcher/stories/)

    async def assign_stories(self, entries: Sequence[StoryEntry], since: datetime,
                             decide: StoryDecider) -> list[Story]:
        """As SqliteStore.assign_stories; replicas place articles one batch at a time."""
        async with self._conn() as conn:
            return await stories.assign_stories(conn, entries, since, decide)

    async def story_articles(self, story_id: str) -> list[StoryEntry]:
        async with self._conn() as conn:
            return await stories.story_articles(conn, story_id)

    async def claim_story_gates(self, claims: Sequence[tuple[str, str]],
                                now: datetime) -> set[tuple[str, str]]:
        """As SqliteStore.claim_story_gates."""
        async with self._conn() as conn:
            return await stories.claim_gates(conn, claims, now)

    async def claim_due(self, now: datetime, limit: int, lease_seconds: float) -> list[OutboxItem]:
        """Lease up to `limit` pending rows that are due, skipping rows another replica is
        claiming this instant. A row whose worker dies comes back when its lease expires."""
        items: list[OutboxItem] = []
        async with self._conn() as conn, conn.transaction():
            cur = await conn.execute(_CLAIM_DUE, {
                "now": now, "lease": now + timedelta(seconds=lease_seconds), "limit": limit})
            rows = sorted(await cur.fetchall(), key=lambda r: (r[6], r[3], r[0]))
            for item_id, alert_json, sink, attempts, created_at, requeued, _, held, route in rows:
                try:
                    alert = Alert.model_validate_json(alert_json)
                except ValidationError as exc:
                    # A row no version of the code can send again: say so, don't loop on it.
                    await conn.execute(
                        "UPDATE outbox SET status = 'dead', lease_until = NULL, "
                        "last_error = %s, finished_at = %s WHERE id = %s",
                        (f"unreadable alert: {exc.error_count()} errors", now, item_id))
                    continue
                items.append(OutboxItem(id=item_id, alert=alert, sink=sink, attempts=attempts,
                                        created_at=created_at, queued_at=requeued,
                                        held=held is not None, route=route))
        return items

    async def mark_delivered(self, item_id: int, now: datetime) -> None:
        await self._finish(item_id, "delivered", None, now)

    async def mark_retry(self, item_id: int, error: str, next_attempt: datetime) -> None:
        """Count a failed attempt and make the row due again at `next_attempt`."""
        await self._reschedule(item_id, error, next_attempt, 1)

    async def release(self, item_id: int, next_attempt: datetime) -> None:
        """Give a claimed row back unattempted, due at `next_attempt` (its sink is down)."""
        await self._reschedule(item_id, None, next_attempt, 0)

    async def mark_dead(self, item_id: int, error: str, now: datetime) -> None:
        await self._finish(item_id, "dead", error, now)

    async def extend_leases(self, item_ids: Sequence[int], until: datetime) -> int:
        """Keep rows a worker is still sending leased until `until`; returns rows extended."""
        if not item_ids:
            return 0
        return await self._rowcount(
            "UPDATE outbox SET lease_until = %s WHERE id = ANY(%s) "
            "AND status = 'pending' AND lease_until IS NOT NULL", (until, list(item_ids)))

    async def _reschedule(self, item_id: int, error: str | None, next_attempt: datetime,
                          attempted: int) -> None:
        await self._rowcount(
            "UPDATE outbox SET attempts = attempts + %s, next_attempt = %s, lease_until = NULL, "
            "last_error = coalesce(%s, last_error) WHERE id = %s AND status = 'pending'",
            (attempted, next_attempt, error, item_id))

    async def _finish(self, item_id: int, status: str, error: str | None,
                      now: datetime) -> None:
        await self._rowcount(
            "UPDATE outbox SET status = %s, attempts = attempts + 1, lease_until = NULL, "
            "last_error = coalesce(%s, last_error), finished_at = %s "
            "WHERE id = %s AND status = 'pending'", (status, error, now, item_id))

    # batches (delivery/grouping.py)

    async def claim_batch(self, lane: Lane, created_before: datetime, now: datetime,
                          limit: int, lease_seconds: float) -> list[OutboxItem]:
        """Lease up to `limit` pending rows of `lane` queued before `created_before`, due or
        not (they go out together now), oldest first; rows leased by others are skipped."""
        items: list[OutboxItem] = []
        async with self._conn() as conn, conn.transaction():
            cur = await conn.execute(_CLAIM_BATCH, {
                **_lane_params(lane), "before": created_before, "now": now, "limit": limit,
                "lease": now + timedelta(seconds=lease_seconds)})
            for item_id, alert_json, name, attempts, created_at, requeued, held, route in sorted(
                    await cur.fetchall(), key=lambda r: (r[4], r[0])):
                alert = _readable_alert(alert_json)
                if alert is None:
                    await conn.execute(
                        "UPDATE outbox SET status = 'dead', lease_until = NULL, "
                        "last_error = 'unreadable alert', finished_at = %s WHERE id = %s",
                        (now, item_id))
                    continue
                items.append(OutboxItem(id=item_id, alert=alert, sink=name, attempts=attempts,
                                        created_at=created_at, queued_at=requeued,
                                        held=held is not None, route=route))
        return items

    async def mark_batch_delivered(self, item_ids: Sequence[int], now: datetime) -> None:
        """Mark rows sent in one message delivered, together, as one message."""
        if item_ids:
            await self._rowcount(
                "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, "
                "lease_until = NULL, finished_at = %s, batch_id = %s "
                "WHERE id = ANY(%s) AND status = 'pending'",
                (now, min(item_ids), list(item_ids)))

    async def hold(self, item_ids: Sequence[int], next_attempt: datetime,
                   capped: bool) -> None:
        """Give claimed rows back unattempted, due at `next_attempt`; `capped` marks them
        held over their lane's max_per_hour (they go out in a summary)."""
        await self._rowcount(
            "UPDATE outbox SET next_attempt = %s, lease_until = NULL, "
            "held = CASE WHEN %s THEN 'cap' ELSE held END "
            "WHERE id = ANY(%s) AND status = 'pending'",
            (next_attempt, capped, list(item_ids)))

    async def sent_messages(self, lane: Lane, since: datetime) -> list[datetime]:
        """When each message delivered in `lane` at or after `since` went out."""
        rows = await self._fetch(
            f"SELECT min(finished_at) FROM outbox WHERE {_IN_LANE} AND status = 'delivered' "
            "AND finished_at >= %(since)s GROUP BY coalesce(batch_id, id) ORDER BY 1",
            {**_lane_params(lane), "since": since})
        return [r[0].astimezone(UTC) for r in rows]

    async def outbox_counts(self) -> dict[str, int]:
        """Rows by status: {"pending": n, "delivered": n, "dead": n}."""
        counts: dict[str, int] = dict.fromkeys(OUTBOX_STATUSES, 0)
        for status, n in await self._fetch("SELECT status, count(*) FROM outbox "
                                           "GROUP BY status"):
            counts[status] = n
        return counts

    async def oldest_pending(self) -> datetime | None:
        """When the oldest delivery still waiting was queued (None when none waits)."""
        rows = await self._fetch("SELECT min(created_at) FROM outbox WHERE status = 'pending'")
        return _utc(rows[0][0])

    async def requeue(self, ref: str, now: datetime) -> int:
        """Put delivered or dead rows back in the queue, due now with a fresh attempt count:
        the row whose id is `ref`, or every row of the alert whose alert_id is `ref`."""
        if ref.isdigit() and int(ref) < 2**63:
            n = await self._rowcount(_REQUEUE + "WHERE id = %s AND status <> 'pending'",
                                     (now, now, int(ref)))
            if n:
                return n
        return await self._rowcount(_REQUEUE + "WHERE alert_id = %s AND status <> 'pending'",
                                    (now, now, ref))

    async def requeue_dead(self, now: datetime) -> int:
        """Put every dead row back in the queue, due now; returns how many."""
        return await self._rowcount(_REQUEUE + "WHERE status = 'dead'", (now, now))

    async def list_alerts(self, status: str | None, limit: int) -> list[OutboxRecord]:
        """Outbox rows, newest first, optionally of one status."""
        if status is not None and status not in OUTBOX_STATUSES:
            raise ValueError(f"unknown status {status!r}; use one of {OUTBOX_STATUSES}")
        rows = await self._fetch(
            "SELECT id, alert_json, sink, status, attempts, last_error, created_at, "
            "next_attempt, finished_at, route FROM outbox WHERE (%(status)s::text IS NULL "
            "OR status = %(status)s) ORDER BY id DESC LIMIT %(limit)s",
            {"status": status, "limit": limit})
        return [OutboxRecord(id=r[0], alert=_readable_alert(r[1]), sink=r[2], status=r[3],
                             attempts=r[4], last_error=r[5], created_at=r[6],
                             next_attempt=r[7], finished_at=r[8], route=r[9]) for r in rows]


_FEED_COLUMNS = ("feed_id", "url", "etag", "last_modified", "last_attempt", "last_success",
                 "last_status", "last_error", "consecutive_failures", "entries_seen",
                 "next_poll", "moved_to", "last_warning", "failing_since", "body_hash")

_SAVE_FEED_STATE = (
    f"INSERT INTO feed_state ({', '.join(_FEED_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * len(_FEED_COLUMNS))}) ON CONFLICT (feed_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _FEED_COLUMNS[1:]))

_SAVE_REPLICA = """
INSERT INTO replicas (replica_id, version, started_at, heartbeat_at, stopped_at, rules_loaded,
                      rules_json)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (replica_id) DO UPDATE SET
    version = excluded.version, started_at = excluded.started_at,
    heartbeat_at = excluded.heartbeat_at, stopped_at = excluded.stopped_at,
    rules_loaded = excluded.rules_loaded, rules_json = excluded.rules_json
"""

# The conflict branch is taken only when the WHERE holds; a racing replica waits for the
# row lock, then re-reads the row and finds the lease taken.
_CLAIM_FEED = """
INSERT INTO feed_state (feed_id, url, lease_owner, lease_until, leased_at)
VALUES (%(feed)s, '', %(owner)s, %(until)s, %(now)s)
ON CONFLICT (feed_id) DO UPDATE
    SET lease_owner = excluded.lease_owner, lease_until = excluded.lease_until,
        leased_at = excluded.leased_at
    WHERE (feed_state.next_poll IS NULL OR feed_state.next_poll <= %(due_by)s)
      AND (feed_state.lease_until IS NULL OR feed_state.lease_until <= %(now)s
           OR feed_state.lease_owner = %(owner)s)
RETURNING 1
"""

_ADD_FEEDS = """
INSERT INTO feed_state (feed_id, url, next_poll)
SELECT f.feed_id, f.url, f.due
FROM unnest(%(ids)s::text[], %(urls)s::text[], %(due)s::timestamptz[]) AS f(feed_id, url, due)
ORDER BY f.feed_id
ON CONFLICT (feed_id) DO NOTHING
"""

# A row locked by a concurrent claim is skipped; one it has just leased and committed is
# re-checked against the WHERE (the lease is now live) and left out.
_CLAIM_DUE_FEEDS = """
UPDATE feed_state SET lease_owner = %(owner)s, lease_until = %(until)s, leased_at = %(now)s
WHERE feed_id IN (
    SELECT feed_id FROM feed_state
    WHERE feed_id = ANY(%(feeds)s::text[])
      AND (next_poll IS NULL OR next_poll <= %(now)s)
      AND (lease_until IS NULL OR lease_until <= %(now)s)
    ORDER BY next_poll NULLS FIRST, feed_id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED)
  AND (lease_until IS NULL OR lease_until <= %(now)s)
RETURNING feed_id
"""

_RECORD_ARTICLES = """
WITH new AS (
    INSERT INTO articles (key, published, seen_at, article_json)
    SELECT a.key, a.published, %(now)s, a.article_json
    FROM unnest(%(keys)s::text[], %(published)s::timestamptz[], %(article_json)s::text[])
         WITH ORDINALITY AS a(key, published, article_json, n)
    ORDER BY a.n
    ON CONFLICT (key) DO NOTHING
    RETURNING key
), queued AS (
    INSERT INTO outbox (alert_id, sink, route, article_key, rule_id, severity, alert_json,
                        next_attempt, created_at)
    SELECT d.alert_id, d.sink, d.route, d.article_key, d.rule_id, d.severity, d.alert_json,
           %(now)s, %(now)s
    FROM unnest(%(alert_ids)s::text[], %(sinks)s::text[], %(routes)s::text[],
                %(article_keys)s::text[], %(rule_ids)s::text[], %(severities)s::text[],
                %(alert_json)s::text[])
         WITH ORDINALITY AS d(alert_id, sink, route, article_key, rule_id, severity,
                              alert_json, n)
    WHERE d.article_key IN (SELECT key FROM new)
    ORDER BY d.n
    ON CONFLICT (alert_id, sink) DO NOTHING
    RETURNING 1
), marked AS (
    INSERT INTO story_marks (story_key, alerted_at)
    SELECT DISTINCT s.story_key, %(now)s::timestamptz
    FROM unnest(%(story_keys)s::text[], %(story_articles)s::text[]) AS s(story_key, article_key)
    WHERE s.article_key IN (SELECT key FROM new)
    ORDER BY s.story_key
    ON CONFLICT (story_key) DO UPDATE SET alerted_at = excluded.alerted_at
    RETURNING 1
), aliased AS (
    INSERT INTO article_aliases (alias, article_key)
    SELECT x.alias, x.article_key
    FROM unnest(%(aliases)s::text[], %(alias_keys)s::text[]) WITH ORDINALITY
         AS x(alias, article_key, n)
    ORDER BY x.n
    ON CONFLICT (alias) DO NOTHING
)
SELECT (SELECT count(*) FROM new), (SELECT count(*) FROM queued),
       (SELECT count(*) FROM marked)
"""

# Rows held back unattempted (their sink was down) go before rows that keep failing;
# UPDATE … RETURNING keeps no order, so claim_due sorts what it gets by the same key.
_CLAIM_DUE = """
UPDATE outbox SET lease_until = %(lease)s
WHERE id IN (
    SELECT id FROM outbox
    WHERE status = 'pending' AND next_attempt <= %(now)s
      AND (lease_until IS NULL OR lease_until <= %(now)s)
    ORDER BY next_attempt, attempts, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED)
RETURNING id, alert_json, sink, attempts, created_at, requeued_at, next_attempt, held, route
"""

# The rows of a lane (delivery/grouping.py): one route's, or the sink's rows of no route in `apart`.
_IN_LANE = ("sink = %(sink)s AND (route = %(route)s "
            "OR (%(route)s::text = '' AND route <> ALL(%(apart)s::text[])))")

_CLAIM_BATCH = f"""
UPDATE outbox SET lease_until = %(lease)s
WHERE id IN (
    SELECT id FROM outbox
    WHERE {_IN_LANE} AND status = 'pending' AND created_at < %(before)s
      AND (lease_until IS NULL OR lease_until <= %(now)s)
    ORDER BY created_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED)
RETURNING id, alert_json, sink, attempts, created_at, requeued_at, held, route
"""

_REQUEUE = ("UPDATE outbox SET status = 'pending', attempts = 0, next_attempt = %s, "
            "requeued_at = %s, lease_until = NULL, finished_at = NULL ")


def _record_params(articles: Sequence[Article], deliveries: Sequence[Delivery],
                   now: datetime) -> dict[str, Any] | None:
    """The parameters of _RECORD_ARTICLES, or None when there is no article. Keys and
    aliases are sorted, so two racing calls wait for each other instead of deadlocking."""
    unique = sorted({a.key: a for a in reversed(articles)}.values(), key=lambda a: a.key)
    if not unique:
        return None
    queued = sorted({(d.alert.alert_id, d.sink): d for d in reversed(deliveries)}.items())
    stories = sorted({(k, d.alert.article.key) for _, d in queued for k in d.story_keys})
    aliases = sorted({alias: a.key for a in reversed(unique) for alias in a.aliases}.items())
    return {
        "now": now,
        "keys": [a.key for a in unique],
        "published": [a.published for a in unique],
        "article_json": [a.model_dump_json() for a in unique],
        "alert_ids": [k[0] for k, _ in queued],
        "sinks": [k[1] for k, _ in queued],
        "routes": [d.route for _, d in queued],
        "article_keys": [d.alert.article.key for _, d in queued],
        "rule_ids": [d.alert.rule.id for _, d in queued],
        "severities": [d.alert.rule.severity for _, d in queued],
        "alert_json": [d.alert.to_json() for _, d in queued],
        "story_keys": [k for k, _ in stories],
        "story_articles": [a for _, a in stories],
        "aliases": [alias for alias, _ in aliases],
        "alias_keys": [key for _, key in aliases]}


def _lane_params(lane: Lane) -> dict[str, Any]:
    return {"sink": lane.sink, "route": lane.route, "apart": list(lane.apart)}


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def _readable_alert(alert_json: str) -> Alert | None:
    try:
        return Alert.model_validate_json(alert_json)
    except ValidationError:
        return None
