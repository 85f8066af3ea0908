"""The state store on one SQLite file: feed state, seen articles and the alert outbox.

sqlite3 is synchronous, so every operation runs on one dedicated thread that owns the
connection: calls are serialised, and the event loop never waits on a lock held by another
process (`busy_timeout`). sqlite3 errors become `StoreError` here and nowhere else.
The connection and its conventions are in sqlite_conn.py, the outbox statements in
sqlite_outbox.py, feed leases in sqlite_leases.py.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from watcher.errors import StoreError
from watcher.models import (
    Article,
    Delivery,
    FeedState,
    Lane,
    OutboxItem,
    Story,
    StoryDecider,
    StoryEntry,
)
from watcher.store import sqlite_desk as desk
from watcher.store import sqlite_leases as leases
from watcher.store import sqlite_outbox as outbox
from watcher.store import sqlite_replicas as replicas
from watcher.store import sqlite_stories as stories
from watcher.store import sqlite_websub as websub
from watcher.store.cluster import ClusterView, ReplicaRecord
from watcher.store.desk_records import Ack, AlertQuery, DeskAlert, FacetKind, Silence, StoryRecord
from watcher.store.records import OUTBOX_STATUSES, OutboxRecord, PollRecord
from watcher.store.sqlite_conn import connect, from_text, in_chunks, to_text, transaction
from watcher.store.subscriptions import Subscription

T = TypeVar("T")


async def open_store(path: Path) -> SqliteStore:
    """Open (creating if needed) the store file, bringing its schema up to date."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{path}: cannot create folder: {exc.strerror}") from exc
    store = SqliteStore(path)
    try:
        store._conn = await store._call(connect, path)
    except BaseException:
        await store.close()
        raise
    return store


class SqliteStore:
    """The `Store` on a local SQLite file. Build it with `open_store`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="watcher-store")
        self._conn: sqlite3.Connection | None = None

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc
        except RuntimeError as exc:  # executor shut down
            raise StoreError(f"{self.path}: store is closed") from exc

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._conn is None:
            raise StoreError(f"{self.path}: store is closed")
        return await self._call(fn, self._conn, *args)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._call(conn.close)
        self._executor.shutdown(wait=False)

    # feed state

    async def load_feed_state(self, feed_id: str) -> FeedState | None:
        return await self._run(_load_feed_state, feed_id)

    async def load_feed_states(self, feed_ids: Sequence[str]) -> dict[str, FeedState]:
        return await self._run(_load_feed_states, list(feed_ids))

    async def save_feed_state(self, state: FeedState) -> None:
        await self._run(_save_feed_state, state)

    async def claim_feed(self, feed_id: str, replica_id: str, now: datetime,
                         lease_seconds: float, due_within: float = 0.0) -> bool:
        """Lease the feed to this replica if it is due (within `due_within` seconds) and no
        other replica's live lease holds it."""
        until = to_text(now + timedelta(seconds=lease_seconds))
        due_by = to_text(now + timedelta(seconds=due_within))
        return await self._run(leases.claim_feed, feed_id, replica_id, to_text(now), until,
                               due_by)

    async def release_feed(self, feed_id: str, replica_id: str) -> None:
        await self._run(leases.release_feed, feed_id, replica_id)

    async def cluster_view(self, now: datetime) -> ClusterView:
        """Feeds leased and last polled per replica, and the outbox."""
        return await self._run(leases.cluster_view, to_text(now))

    # running services (service/heartbeat.py)

    async def save_replica(self, record: ReplicaRecord) -> None:
        """Write what this replica runs now (inserted on its first call, replaced after)."""
        await self._run(replicas.save_replica, record)

    async def stop_replica(self, replica_id: str, now: datetime) -> None:
        await self._run(replicas.stop_replica, replica_id, to_text(now))

    async def list_replicas(self, since: datetime) -> list[ReplicaRecord]:
        """Replicas whose last heartbeat (or stop) is at or after `since`, by id."""
        return await self._run(replicas.list_replicas, to_text(since))

    async def forget_replicas(self, before: datetime) -> int:
        """Drop replicas silent since before `before`; returns how many."""
        return await self._run(replicas.forget_replicas, to_text(before))

    # WebSub subscriptions (store/subscriptions.py)

    async def load_subscription(self, feed_id: str) -> Subscription | None:
        return await self._run(websub.load_subscription, feed_id)

    async def subscription_by_token(self, token: str) -> Subscription | None:
        return await self._run(websub.subscription_by_token, token)

    async def list_subscriptions(self) -> list[Subscription]:
        return await self._run(websub.list_subscriptions)

    async def add_subscription(self, sub: Subscription) -> Subscription:
        return await self._run(websub.add_subscription, sub)

    async def save_subscription(self, sub: Subscription) -> None:
        await self._run(websub.save_subscription, sub)

    async def claim_subscription_request(self, feed_id: str, now: datetime,
                                         stale_before: datetime) -> bool:
        return await self._run(websub.claim_subscription_request, feed_id, to_text(now),
                               to_text(stale_before))

    async def delete_subscription(self, feed_id: str) -> None:
        await self._run(websub.delete_subscription, feed_id)

    # articles

    async def unseen_keys(self, keys: Sequence[str]) -> set[str]:
        """The keys among these that no call to `record_articles` has recorded, as an
        article's key or as one of its aliases."""
        return await self._run(_unseen_keys, list(keys))

    async def record_articles(self, articles: Sequence[Article], deliveries: Sequence[Delivery],
                              now: datetime) -> int:
        """Record unseen articles and queue the deliveries of their alerts, in one transaction.

        A delivery is queued only if its article was newly recorded by this very call, so two
        pollers racing on the same entry cannot both alert. Returns how many were new."""
        return await self._run(_record_articles, list(articles), list(deliveries), now)

    async def record_polls(self, polls: Sequence[PollRecord], replica_id: str) -> list[int]:
        """Write the outcome of many polls in one transaction: each feed's state, and its
        articles and deliveries as `record_articles` would (a delivery is queued only if its
        article is new to this store, per poll). The leases `replica_id` holds on these feeds
        end with it. Returns how many articles each poll recorded as new."""
        return await self._run(_record_polls, list(polls), replica_id)

    async def recent_stories(self, keys: Sequence[str], since: datetime) -> set[str]:
        """The story keys among these that a delivery queued at or after `since` carried."""
        return await self._run(_recent_stories, list(keys), since)

    async def articles_since(self, since: datetime) -> list[Article]:
        """Articles first seen at or after `since`, oldest first (for backtesting rules)."""
        return await self._run(_articles_since, since)

    # stories (watcher/stories/)

    async def assign_stories(self, entries: Sequence[StoryEntry], since: datetime,
                             decide: StoryDecider) -> list[Story]:
        """Place each entry in a story and return each one's story, in order. Entries placed
        before (a retried batch) keep their story; the others are decided by `decide`, given
        the stored articles that share a key with them and were published at or after
        `since`, all in one transaction."""
        return await self._run(stories.assign_stories, list(entries), since, decide)

    async def story_articles(self, story_id: str) -> list[StoryEntry]:
        """The articles of a story, oldest first (their keys and signatures left out)."""
        return await self._run(stories.story_articles, story_id)

    async def claim_story_gates(self, claims: Sequence[tuple[str, str]],
                                now: datetime) -> set[tuple[str, str]]:
        """Take each (gate, article key) not yet taken; return the claims whose article
        holds the gate now (taken by this call, or earlier by the same article)."""
        return await self._run(stories.claim_gates, list(claims), now)

    # outbox

    async def claim_due(self, now: datetime, limit: int, lease_seconds: float) -> list[OutboxItem]:
        """Lease up to `limit` pending rows that are due. A row whose worker dies comes back
        when its lease expires (at-least-once)."""
        return await self._run(outbox.claim_due, now, limit, lease_seconds)

    async def mark_delivered(self, item_id: int, now: datetime) -> None:
        await self._run(outbox.finish, item_id, "delivered", None, now)

    async def mark_retry(self, item_id: int, error: str, next_attempt: datetime) -> None:
        """Count a failed attempt and make the row due again at `next_attempt`."""
        await self._run(outbox.reschedule, item_id, error, next_attempt, 1)

    async def release(self, item_id: int, next_attempt: datetime) -> None:
        """Give a claimed row back unattempted, due at `next_attempt` (its sink is down)."""
        await self._run(outbox.reschedule, item_id, None, next_attempt, 0)

    async def mark_dead(self, item_id: int, error: str, now: datetime) -> None:
        await self._run(outbox.finish, item_id, "dead", error, now)

    async def extend_leases(self, item_ids: Sequence[int], until: datetime) -> int:
        """Keep rows a worker is still sending leased until `until`; returns rows extended."""
        return await self._run(outbox.extend_leases, list(item_ids), until)

    # batches (delivery/grouping.py)

    async def claim_batch(self, lane: Lane, created_before: datetime, now: datetime,
                          limit: int, lease_seconds: float) -> list[OutboxItem]:
        """Lease up to `limit` pending rows of `lane` queued before `created_before`, due or
        not (they go out together now), oldest first; rows leased by others are skipped."""
        return await self._run(outbox.claim_batch, lane, created_before, now, limit,
                               lease_seconds)

    async def mark_batch_delivered(self, item_ids: Sequence[int], now: datetime) -> None:
        """Mark rows sent in one message delivered, together, as one message."""
        await self._run(outbox.mark_batch_delivered, list(item_ids), now)

    async def hold(self, item_ids: Sequence[int], next_attempt: datetime,
                   capped: bool) -> None:
        """Give claimed rows back unattempted, due at `next_attempt`; `capped` marks them
        held over their lane's max_per_hour (they go out in a summary)."""
        await self._run(outbox.hold, list(item_ids), next_attempt, capped)

    async def sent_messages(self, lane: Lane, since: datetime) -> list[datetime]:
        """When each message delivered in `lane` at or after `since` went out."""
        return await self._run(outbox.sent_messages, lane, since)

    async def outbox_counts(self) -> dict[str, int]:
        """Rows by status: {"pending": n, "delivered": n, "dead": n}."""
        return await self._run(outbox.outbox_counts)

    async def oldest_pending(self) -> datetime | None:
        """When the oldest delivery still waiting was queued (None when none waits)."""
        return await self._run(outbox.oldest_pending)

    async def requeue(self, ref: str, now: datetime) -> int:
        """Put delivered or dead rows back in the queue, due now with a fresh attempt count:
        the row whose id is `ref`, or every row of the alert whose alert_id is `ref`.
        Returns how many rows were re-queued."""
        return await self._run(outbox.requeue, ref, now)

    async def requeue_dead(self, now: datetime) -> int:
        """Put every dead row back in the queue, due now; returns how many."""
        return await self._run(outbox.requeue_dead, now)

    async def list_alerts(self, status: str | None, limit: int) -> list[OutboxRecord]:
        """Outbox rows, newest first, optionally of one status."""
        if status is not None and status not in OUTBOX_STATUSES:
            raise ValueError(f"unknown status {status!r}; use one of {OUTBOX_STATUSES}")
        return await self._run(outbox.list_alerts, status, limit)

    # the desk (watcher/desk/, desk_records.py)

    async def desk_alerts(self, query: AlertQuery) -> list[DeskAlert]:
        """Alerts that pass `query`, newest first, with their ack and muting silences."""
        return await self._run(desk.query_alerts, query)

    async def desk_alert(self, alert_id: str) -> DeskAlert | None:
        return await self._run(desk.get_alert, alert_id)

    async def add_ack(self, alert_id: str, author: str, note: str,
                      now: datetime) -> Ack | None:
        """Acknowledge a known alert; None when no alert has that id."""
        return await self._run(desk.add_ack, alert_id, author, note, now)

    async def list_acks(self, limit: int) -> list[Ack]:
        """The latest acknowledgements, newest first."""
        return await self._run(desk.list_acks, limit)

    async def add_silence(self, matchers: Sequence[tuple[FacetKind, str]], starts_at: datetime,
                          ends_at: datetime, author: str, reason: str,
                          now: datetime) -> Silence:
        return await self._run(desk.add_silence, list(matchers), starts_at, ends_at, author,
                               reason, now)

    async def list_silences(self, ending_after: datetime | None) -> list[Silence]:
        """Silences that end after `ending_after` (every one when None), newest first."""
        return await self._run(desk.list_silences, ending_after)

    async def expire_silence(self, silence_id: int, now: datetime) -> Silence | None:
        """End a silence now (a silence already over is left as it was); None if unknown."""
        return await self._run(desk.expire_silence, silence_id, now)

    async def muting_silences(self, alert_ids: Sequence[str], now: datetime) -> dict[str, int]:
        """alert_id -> the oldest silence active at `now` that mutes that alert."""
        return await self._run(desk.muting_silences, list(alert_ids), now)

    async def mark_silenced(self, silenced: dict[int, int], now: datetime) -> None:
        """Finish pending outbox rows (id -> silence id) unsent: a silence muted them."""
        await self._run(desk.mark_silenced, dict(silenced), now)

    async def rule_days(self, since: datetime) -> dict[str, dict[str, int]]:
        """rule id -> {YYYY-MM-DD -> alerts that arrived that day (UTC)}, since `since`."""
        return await self._run(desk.rule_days, since)

    async def list_stories(self, limit: int) -> list[StoryRecord]:
        """Stories the alerts carry, the latest first, with their alert counts."""
        return await self._run(desk.list_stories, limit)


# The functions below run on the store's thread, with its connection.

_FEED_COLUMNS = ("feed_id", "url", "etag", "last_modified", "last_attempt", "last_success",
                 "last_status", "last_error", "consecutive_failures", "entries_seen",
                 "next_poll", "moved_to", "last_warning", "failing_since", "body_hash")
_FEED_TIMES = {"last_attempt", "last_success", "next_poll", "failing_since"}


def _load_feed_state(conn: sqlite3.Connection, feed_id: str) -> FeedState | None:
    row = conn.execute(f"SELECT {', '.join(_FEED_COLUMNS)} FROM feed_state WHERE feed_id = ?",
                       (feed_id,)).fetchone()
    return None if row is None else _state_of(row)


def _load_feed_states(conn: sqlite3.Connection, feed_ids: list[str]) -> dict[str, FeedState]:
    states: dict[str, FeedState] = {}
    for chunk, marks in in_chunks(feed_ids):
        rows = conn.execute(f"SELECT {', '.join(_FEED_COLUMNS)} FROM feed_state "
                            f"WHERE feed_id IN ({marks})", chunk)
        states.update((row[0], _state_of(row)) for row in rows)
    return states


def _state_of(row: Sequence[Any]) -> FeedState:
    values: dict[str, Any] = {c: (from_text(v) if c in _FEED_TIMES else v)
                              for c, v in zip(_FEED_COLUMNS, row, strict=True)}
    return FeedState(**values)


_SAVE_FEED_STATE = (
    f"INSERT INTO feed_state ({', '.join(_FEED_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_FEED_COLUMNS))}) ON CONFLICT (feed_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _FEED_COLUMNS[1:]))


def _state_row(state: FeedState) -> list[Any]:
    values = [getattr(state, c) for c in _FEED_COLUMNS]
    return [to_text(v) if isinstance(v, datetime) else v for v in values]


@contextmanager
def _unsynced(conn: sqlite3.Connection) -> Iterator[None]:
    """Commits of feed state only: every poll writes its feed's state, and waiting for the
    disk each time (synchronous=FULL) would cap polling at a few hundred feeds a second.
    Losing the last few on power loss costs one re-fetch (dedupe keeps it quiet), so these
    commits skip the sync; the next commit of articles or alerts, which is synced, makes
    them durable too (WAL order)."""
    conn.execute("PRAGMA synchronous = NORMAL")
    try:
        yield
    finally:
        conn.execute("PRAGMA synchronous = FULL")


def _save_feed_state(conn: sqlite3.Connection, state: FeedState) -> None:
    with _unsynced(conn):
        conn.execute(_SAVE_FEED_STATE, _state_row(state))


def _record_polls(conn: sqlite3.Connection, polls: list[PollRecord], replica_id: str
                  ) -> list[int]:
    news = any(p.articles for p in polls)
    with nullcontext() if news else _unsynced(conn), transaction(conn):
        counts = [_insert_articles(conn, list(p.articles), list(p.deliveries), p.now)
                  if p.articles and p.now is not None else 0 for p in polls]
        conn.executemany(_SAVE_FEED_STATE, [_state_row(replace(
            p.state, entries_seen=p.state.entries_seen + n)) for p, n in zip(polls, counts,
                                                                             strict=True)])
        conn.executemany("UPDATE feed_state SET lease_until = NULL "
                         "WHERE feed_id = ? AND lease_owner = ?",
                         [(p.state.feed_id, replica_id) for p in polls])
    return counts


def _unseen_keys(conn: sqlite3.Connection, keys: list[str]) -> set[str]:
    unseen = set(keys)
    for chunk, marks in in_chunks(keys):
        rows = conn.execute(f"SELECT key FROM articles WHERE key IN ({marks})", chunk)
        unseen.difference_update(r[0] for r in rows)
        rows = conn.execute(f"SELECT alias FROM article_aliases WHERE alias IN ({marks})",
                            chunk)
        unseen.difference_update(r[0] for r in rows)
    return unseen


def _record_articles(conn: sqlite3.Connection, articles: list[Article],
                     deliveries: list[Delivery], now: datetime) -> int:
    with transaction(conn):
        return _insert_articles(conn, articles, deliveries, now)


def _insert_articles(conn: sqlite3.Connection, articles: list[Article],
                     deliveries: list[Delivery], now: datetime) -> int:
    """`_record_articles` within a transaction the caller holds."""
    stamp = to_text(now)
    new: set[str] = set()
    for article in articles:
        published = to_text(article.published) if article.published else None
        cur = conn.execute("INSERT OR IGNORE INTO articles (key, published, seen_at, "
                           "article_json) VALUES (?, ?, ?, ?)",
                           (article.key, published, stamp, article.model_dump_json()))
        if cur.rowcount == 1:
            new.add(article.key)
    conn.executemany("INSERT OR IGNORE INTO article_aliases (alias, article_key) "
                     "VALUES (?, ?)", [(alias, a.key) for a in articles for alias in a.aliases])
    for d in deliveries:
        if d.alert.article.key not in new:
            continue
        conn.execute("INSERT OR IGNORE INTO outbox (alert_id, sink, route, article_key, "
                     "rule_id, severity, alert_json, status, attempts, next_attempt, "
                     "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
                     (d.alert.alert_id, d.sink, d.route, d.alert.article.key,
                      d.alert.rule.id, d.alert.rule.severity, d.alert.to_json(), stamp,
                      stamp))
        conn.executemany("INSERT INTO story_marks (story_key, alerted_at) VALUES (?, ?) "
                         "ON CONFLICT (story_key) DO UPDATE SET alerted_at = "
                         "excluded.alerted_at", [(k, stamp) for k in d.story_keys])
    return len(new)


def _recent_stories(conn: sqlite3.Connection, keys: list[str], since: datetime) -> set[str]:
    found: set[str] = set()
    for chunk, marks in in_chunks(keys):
        rows = conn.execute(f"SELECT story_key FROM story_marks WHERE story_key IN ({marks}) "
                            "AND alerted_at >= ?", [*chunk, to_text(since)])
        found.update(r[0] for r in rows)
    return found


def _articles_since(conn: sqlite3.Connection, since: datetime) -> list[Article]:
    rows = conn.execute("SELECT article_json FROM articles WHERE seen_at >= ? "
                        "ORDER BY seen_at, key", (to_text(since),))
    return [Article.model_validate_json(r[0]) for r in rows]
