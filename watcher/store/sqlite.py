"""The state store on one SQLite file: feed state, seen articles and the alert outbox.

sqlite3 is synchronous, so every operation runs on one dedicated thread that owns the
connection: calls are serialised, and the event loop never waits on a lock held by another
process (`busy_timeout`). sqlite3 errors become `StoreError` here and nowhere else.
Write transactions are `BEGIN IMMEDIATE`, so two processes sharing the file queue up rather
than deadlock when both try to upgrade a read to a write.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from ..errors import StoreError
from ..models import Alert, Article, Delivery, FeedState, OutboxItem
from . import sqlite_leases as leases
from .cluster import ClusterView
from .records import OUTBOX_STATUSES, OutboxRecord
from .schema import MIGRATIONS, SCHEMA_VERSION_TABLE

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
KEYS_PER_QUERY = 500  # stay well under SQLite's limit on bound variables


def to_text(moment: datetime) -> str:
    """ISO-8601 UTC in one fixed width, so that text order is time order. Naive means UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_text(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _from_text(text: str) -> datetime:
    return datetime.fromisoformat(text)


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _statements(script: str) -> Iterator[str]:
    """Split a migration into statements (executescript would commit our transaction)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        yield pending.strip()


def migrate(conn: sqlite3.Connection, now: datetime) -> int:
    """Apply every migration not yet recorded; safe to run on every open, by racing processes."""
    conn.execute(SCHEMA_VERSION_TABLE)
    with _transaction(conn):
        # Versions are reserved ahead, so one may land after a higher one: apply every
        # version not yet recorded, in order, rather than only those above the highest.
        applied = {int(r[0]) for r in conn.execute("SELECT version FROM schema_version")}
        for version, script in sorted(MIGRATIONS):
            if version in applied:
                continue
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                         (version, to_text(now)))
            applied.add(version)
    return max(applied, default=0)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)  # explicit transactions only
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")  # an acknowledged alert survives power loss
        migrate(conn, datetime.now(UTC))
    except BaseException:
        conn.close()
        raise
    return conn


async def open_store(path: Path) -> SqliteStore:
    """Open (creating if needed) the store file, bringing its schema up to date."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{path}: cannot create folder: {exc.strerror}") from exc
    store = SqliteStore(path)
    try:
        store._conn = await store._call(_connect, path)
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

    # articles

    async def unseen_keys(self, keys: Sequence[str]) -> set[str]:
        """The keys among these that no call to `record_articles` has recorded."""
        return await self._run(_unseen_keys, list(keys))

    async def record_articles(self, articles: Sequence[Article], deliveries: Sequence[Delivery],
                              now: datetime) -> int:
        """Record unseen articles and queue the deliveries of their alerts, in one transaction.

        A delivery is queued only if its article was newly recorded by this very call, so two
        pollers racing on the same entry cannot both alert. Returns how many were new."""
        return await self._run(_record_articles, list(articles), list(deliveries), now)

    async def recent_stories(self, keys: Sequence[str], since: datetime) -> set[str]:
        """The story keys among these that a delivery queued at or after `since` carried."""
        return await self._run(_recent_stories, list(keys), since)

    async def articles_since(self, since: datetime) -> list[Article]:
        """Articles first seen at or after `since`, oldest first (for backtesting rules)."""
        return await self._run(_articles_since, since)

    # outbox

    async def claim_due(self, now: datetime, limit: int, lease_seconds: float) -> list[OutboxItem]:
        """Lease up to `limit` pending rows that are due. A row whose worker dies comes back
        when its lease expires (at-least-once)."""
        return await self._run(_claim_due, now, limit, lease_seconds)

    async def mark_delivered(self, item_id: int, now: datetime) -> None:
        await self._run(_finish, item_id, "delivered", None, now)

    async def mark_retry(self, item_id: int, error: str, next_attempt: datetime) -> None:
        """Count a failed attempt and make the row due again at `next_attempt`."""
        await self._run(_reschedule, item_id, error, next_attempt, 1)

    async def release(self, item_id: int, next_attempt: datetime) -> None:
        """Give a claimed row back unattempted, due at `next_attempt` (its sink is down)."""
        await self._run(_reschedule, item_id, None, next_attempt, 0)

    async def mark_dead(self, item_id: int, error: str, now: datetime) -> None:
        await self._run(_finish, item_id, "dead", error, now)

    async def extend_leases(self, item_ids: Sequence[int], until: datetime) -> int:
        """Keep rows a worker is still sending leased until `until`; returns rows extended."""
        return await self._run(_extend_leases, list(item_ids), until)

    # batches (grouping.py)

    async def claim_batch(self, sink: str, created_before: datetime, now: datetime,
                          limit: int, lease_seconds: float) -> list[OutboxItem]:
        """Lease up to `limit` pending rows of `sink` queued before `created_before`, due or
        not (they go out together now), oldest first; rows leased by others are skipped."""
        return await self._run(_claim_batch, sink, created_before, now, limit, lease_seconds)

    async def mark_batch_delivered(self, item_ids: Sequence[int], now: datetime) -> None:
        """Mark rows sent in one message delivered, together, as one message."""
        await self._run(_mark_batch_delivered, list(item_ids), now)

    async def hold(self, item_ids: Sequence[int], next_attempt: datetime,
                   capped: bool) -> None:
        """Give claimed rows back unattempted, due at `next_attempt`; `capped` marks them
        held over the sink's max_per_hour (they go out in a summary)."""
        await self._run(_hold, list(item_ids), next_attempt, capped)

    async def sent_messages(self, sink: str, since: datetime) -> list[datetime]:
        """When each message delivered to `sink` at or after `since` went out."""
        return await self._run(_sent_messages, sink, since)

    async def outbox_counts(self) -> dict[str, int]:
        """Rows by status: {"pending": n, "delivered": n, "dead": n}."""
        return await self._run(_outbox_counts)

    async def oldest_pending(self) -> datetime | None:
        """When the oldest delivery still waiting was queued (None when none waits)."""
        return await self._run(_oldest_pending)

    async def requeue(self, ref: str, now: datetime) -> int:
        """Put delivered or dead rows back in the queue, due now with a fresh attempt count:
        the row whose id is `ref`, or every row of the alert whose alert_id is `ref`.
        Returns how many rows were re-queued."""
        return await self._run(_requeue, ref, now)

    async def requeue_dead(self, now: datetime) -> int:
        """Put every dead row back in the queue, due now; returns how many."""
        return await self._run(_requeue_dead, now)

    async def list_alerts(self, status: str | None, limit: int) -> list[OutboxRecord]:
        """Outbox rows, newest first, optionally of one status."""
        if status is not None and status not in OUTBOX_STATUSES:
            raise ValueError(f"unknown status {status!r}; use one of {OUTBOX_STATUSES}")
        return await self._run(_list_alerts, status, limit)


# The functions below run on the store's thread, with its connection.

_FEED_COLUMNS = ("feed_id", "url", "etag", "last_modified", "last_attempt", "last_success",
                 "last_status", "last_error", "consecutive_failures", "entries_seen",
                 "next_poll", "moved_to", "last_warning", "failing_since")
_FEED_TIMES = {"last_attempt", "last_success", "next_poll", "failing_since"}


def _load_feed_state(conn: sqlite3.Connection, feed_id: str) -> FeedState | None:
    row = conn.execute(f"SELECT {', '.join(_FEED_COLUMNS)} FROM feed_state WHERE feed_id = ?",
                       (feed_id,)).fetchone()
    if row is None:
        return None
    values: dict[str, Any] = {c: (from_text(v) if c in _FEED_TIMES else v)
                              for c, v in zip(_FEED_COLUMNS, row, strict=True)}
    return FeedState(**values)


_SAVE_FEED_STATE = (
    f"INSERT INTO feed_state ({', '.join(_FEED_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_FEED_COLUMNS))}) ON CONFLICT (feed_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _FEED_COLUMNS[1:]))


def _save_feed_state(conn: sqlite3.Connection, state: FeedState) -> None:
    values = [getattr(state, c) for c in _FEED_COLUMNS]
    values = [to_text(v) if isinstance(v, datetime) else v for v in values]
    # Every poll writes its feed's state: waiting for the disk each time (synchronous=FULL)
    # would cap polling at a few hundred feeds a second. Losing the last few on power loss
    # costs one re-fetch (dedupe keeps it quiet), so these commits skip the sync; the next
    # commit of articles or alerts, which is synced, makes them durable too (WAL order).
    conn.execute("PRAGMA synchronous = NORMAL")
    try:
        conn.execute(_SAVE_FEED_STATE, values)
    finally:
        conn.execute("PRAGMA synchronous = FULL")


def _unseen_keys(conn: sqlite3.Connection, keys: list[str]) -> set[str]:
    unseen = set(keys)
    for i in range(0, len(keys), KEYS_PER_QUERY):
        chunk = keys[i:i + KEYS_PER_QUERY]
        marks = ", ".join("?" * len(chunk))
        rows = conn.execute(f"SELECT key FROM articles WHERE key IN ({marks})", chunk)
        unseen.difference_update(r[0] for r in rows)
    return unseen


def _record_articles(conn: sqlite3.Connection, articles: list[Article],
                     deliveries: list[Delivery], now: datetime) -> int:
    stamp = to_text(now)
    new: set[str] = set()
    with _transaction(conn):
        for article in articles:
            published = to_text(article.published) if article.published else None
            cur = conn.execute("INSERT OR IGNORE INTO articles (key, published, seen_at, "
                               "article_json) VALUES (?, ?, ?, ?)",
                               (article.key, published, stamp, article.model_dump_json()))
            if cur.rowcount == 1:
                new.add(article.key)
        for d in deliveries:
            if d.alert.article.key not in new:
                continue
            conn.execute("INSERT OR IGNORE INTO outbox (alert_id, sink, article_key, rule_id, "
                         "severity, alert_json, status, attempts, next_attempt, created_at) "
                         "VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
                         (d.alert.alert_id, d.sink, d.alert.article.key, d.alert.rule.id,
                          d.alert.rule.severity, d.alert.to_json(), stamp, stamp))
            conn.executemany("INSERT INTO story_marks (story_key, alerted_at) VALUES (?, ?) "
                             "ON CONFLICT (story_key) DO UPDATE SET alerted_at = "
                             "excluded.alerted_at", [(k, stamp) for k in d.story_keys])
    return len(new)


def _recent_stories(conn: sqlite3.Connection, keys: list[str], since: datetime) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(keys), KEYS_PER_QUERY):
        chunk = keys[i:i + KEYS_PER_QUERY]
        marks = ", ".join("?" * len(chunk))
        rows = conn.execute(f"SELECT story_key FROM story_marks WHERE story_key IN ({marks}) "
                            "AND alerted_at >= ?", [*chunk, to_text(since)])
        found.update(r[0] for r in rows)
    return found


def _articles_since(conn: sqlite3.Connection, since: datetime) -> list[Article]:
    rows = conn.execute("SELECT article_json FROM articles WHERE seen_at >= ? "
                        "ORDER BY seen_at, key", (to_text(since),))
    return [Article.model_validate_json(r[0]) for r in rows]


def _claim_due(conn: sqlite3.Connection, now: datetime, limit: int,
               lease_seconds: float) -> list[OutboxItem]:
    stamp = to_text(now)
    lease = to_text(now + timedelta(seconds=lease_seconds))
    with _transaction(conn):
        rows = conn.execute(
            "UPDATE outbox SET lease_until = ? WHERE id IN ("
            "  SELECT id FROM outbox WHERE status = 'pending' AND next_attempt <= ?"
            "  AND (lease_until IS NULL OR lease_until <= ?)"
            "  ORDER BY next_attempt, attempts, id LIMIT ?)"
            " RETURNING id, alert_json, sink, attempts, created_at, next_attempt, requeued_at,"
            " held",
            (lease, stamp, stamp, limit)).fetchall()
        items: list[tuple[str, OutboxItem]] = []
        for item_id, alert_json, sink, attempts, created_at, next_attempt, requeued, held in rows:
            try:
                alert = Alert.model_validate_json(alert_json)
            except ValidationError as exc:
                # A row no version of the code can send again: say so instead of looping on it.
                conn.execute("UPDATE outbox SET status = 'dead', lease_until = NULL, "
                             "last_error = ?, finished_at = ? WHERE id = ?",
                             (f"unreadable alert: {exc.error_count()} errors", stamp, item_id))
                continue
            items.append((next_attempt, OutboxItem(id=item_id, alert=alert, sink=sink,
                                                   attempts=attempts,
                                                   created_at=_from_text(created_at),
                                                   queued_at=from_text(requeued),
                                                   held=held is not None)))
    # Rows held back unattempted (their sink was down) go before rows that keep failing.
    items.sort(key=lambda pair: (pair[0], pair[1].attempts, pair[1].id))
    return [item for _, item in items]


def _extend_leases(conn: sqlite3.Connection, item_ids: list[int], until: datetime) -> int:
    if not item_ids:
        return 0
    marks = ", ".join("?" * len(item_ids))
    cur = conn.execute(f"UPDATE outbox SET lease_until = ? WHERE id IN ({marks}) "
                       "AND status = 'pending' AND lease_until IS NOT NULL",
                       [to_text(until), *item_ids])
    return cur.rowcount


def _reschedule(conn: sqlite3.Connection, item_id: int, error: str | None,
                next_attempt: datetime, attempted: int) -> None:
    conn.execute("UPDATE outbox SET attempts = attempts + ?, next_attempt = ?, "
                 "lease_until = NULL, last_error = coalesce(?, last_error) "
                 "WHERE id = ? AND status = 'pending'",
                 (attempted, to_text(next_attempt), error, item_id))


def _finish(conn: sqlite3.Connection, item_id: int, status: str, error: str | None,
            now: datetime) -> None:
    conn.execute("UPDATE outbox SET status = ?, attempts = attempts + 1, lease_until = NULL, "
                 "last_error = coalesce(?, last_error), finished_at = ? "
                 "WHERE id = ? AND status = 'pending'",
                 (status, error, to_text(now), item_id))


def _outbox_counts(conn: sqlite3.Connection) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(OUTBOX_STATUSES, 0)
    for status, n in conn.execute("SELECT status, count(*) FROM outbox GROUP BY status"):
        counts[status] = n
    return counts


def _oldest_pending(conn: sqlite3.Connection) -> datetime | None:
    row = conn.execute("SELECT min(created_at) FROM outbox WHERE status = 'pending'").fetchone()
    return from_text(row[0])


_REQUEUE = ("UPDATE outbox SET status = 'pending', attempts = 0, next_attempt = ?, "
            "requeued_at = ?, lease_until = NULL, finished_at = NULL ")


def _requeue(conn: sqlite3.Connection, ref: str, now: datetime) -> int:
    stamp = to_text(now)
    with _transaction(conn):
        if ref.isdigit():
            cur = conn.execute(_REQUEUE + "WHERE id = ? AND status <> 'pending'",
                               (stamp, stamp, int(ref)))
            if cur.rowcount:
                return cur.rowcount
        return conn.execute(_REQUEUE + "WHERE alert_id = ? AND status <> 'pending'",
                            (stamp, stamp, ref)).rowcount


def _requeue_dead(conn: sqlite3.Connection, now: datetime) -> int:
    stamp = to_text(now)
    with _transaction(conn):
        return conn.execute(_REQUEUE + "WHERE status = 'dead'", (stamp, stamp)).rowcount


def _list_alerts(conn: sqlite3.Connection, status: str | None, limit: int) -> list[OutboxRecord]:
    query = ("SELECT id, alert_json, sink, status, attempts, last_error, created_at, "
             "next_attempt, finished_at FROM outbox")
    params: list[Any] = []
    if status is not None:
        query += " WHERE status = ?"
        params.append(status)
    query += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    return [OutboxRecord(id=r[0], alert=_readable_alert(r[1]), sink=r[2], status=r[3],
                         attempts=r[4], last_error=r[5], created_at=_from_text(r[6]),
                         next_attempt=_from_text(r[7]), finished_at=from_text(r[8]))
            for r in conn.execute(query, params)]


def _readable_alert(alert_json: str) -> Alert | None:
    try:
        return Alert.model_validate_json(alert_json)
    except ValidationError:
        return None


def _claim_batch(conn: sqlite3.Connection, sink: str, created_before: datetime, now: datetime,
                 limit: int, lease_seconds: float) -> list[OutboxItem]:
    stamp = to_text(now)
    lease = to_text(now + timedelta(seconds=lease_seconds))
    with _transaction(conn):
        ids = [r[0] for r in conn.execute(
            "SELECT id FROM outbox WHERE sink = ? AND status = 'pending' AND created_at < ? "
            "AND (lease_until IS NULL OR lease_until <= ?) ORDER BY created_at, id LIMIT ?",
            (sink, to_text(created_before), stamp, limit))]
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        conn.execute(f"UPDATE outbox SET lease_until = ? WHERE id IN ({marks})", [lease, *ids])
        rows = conn.execute("SELECT id, alert_json, sink, attempts, created_at, requeued_at, "
                            f"held FROM outbox WHERE id IN ({marks}) ORDER BY created_at, id",
                            ids).fetchall()
        items = []
        for item_id, alert_json, name, attempts, created_at, requeued, held in rows:
            alert = _readable_alert(alert_json)
            if alert is None:
                conn.execute("UPDATE outbox SET status = 'dead', lease_until = NULL, "
                             "last_error = 'unreadable alert', finished_at = ? WHERE id = ?",
                             (stamp, item_id))
                continue
            items.append(OutboxItem(id=item_id, alert=alert, sink=name, attempts=attempts,
                                    created_at=_from_text(created_at),
                                    queued_at=from_text(requeued), held=held is not None))
    return items


def _mark_batch_delivered(conn: sqlite3.Connection, ids: list[int], now: datetime) -> None:
    if not ids:
        return
    with _transaction(conn):
        for i in range(0, len(ids), KEYS_PER_QUERY):
            chunk = ids[i:i + KEYS_PER_QUERY]
            marks = ", ".join("?" * len(chunk))
            conn.execute("UPDATE outbox SET status = 'delivered', attempts = attempts + 1, "
                         "lease_until = NULL, finished_at = ?, batch_id = ? "
                         f"WHERE id IN ({marks}) AND status = 'pending'",
                         [to_text(now), min(ids), *chunk])


def _hold(conn: sqlite3.Connection, ids: list[int], next_attempt: datetime,
          capped: bool) -> None:
    with _transaction(conn):
        for i in range(0, len(ids), KEYS_PER_QUERY):
            chunk = ids[i:i + KEYS_PER_QUERY]
            marks = ", ".join("?" * len(chunk))
            conn.execute("UPDATE outbox SET next_attempt = ?, lease_until = NULL, "
                         "held = CASE WHEN ? THEN 'cap' ELSE held END "
                         f"WHERE id IN ({marks}) AND status = 'pending'",
                         [to_text(next_attempt), int(capped), *chunk])


def _sent_messages(conn: sqlite3.Connection, sink: str, since: datetime) -> list[datetime]:
    rows = conn.execute("SELECT min(finished_at) FROM outbox WHERE sink = ? "
                        "AND status = 'delivered' AND finished_at >= ? "
                        "GROUP BY coalesce(batch_id, id) ORDER BY 1", (sink, to_text(since)))
    return [_from_text(r[0]) for r in rows]
