"""WebSub subscriptions on PostgreSQL (store/subscriptions.py): the statements
`PostgresStore` runs, through its `_fetch` (one pooled connection per statement)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from watcher.store.subscriptions import SUBSCRIPTION_COLUMNS, TIME_COLUMNS, Subscription

Fetch = Callable[[str, Any], Awaitable[list[tuple[Any, ...]]]]

_SELECT = f"SELECT {', '.join(SUBSCRIPTION_COLUMNS)} FROM websub_subscriptions"
_INSERT = (f"INSERT INTO websub_subscriptions ({', '.join(SUBSCRIPTION_COLUMNS)}) "
           f"VALUES ({', '.join(f'%({c})s' for c in SUBSCRIPTION_COLUMNS)}) ")
_UPDATES = ", ".join(f"{c} = excluded.{c}" for c in SUBSCRIPTION_COLUMNS[1:])


def _row(row: tuple[Any, ...]) -> Subscription:
    values = dict(zip(SUBSCRIPTION_COLUMNS, row, strict=True))
    for column in TIME_COLUMNS:
        if isinstance(values[column], datetime):
            values[column] = values[column].astimezone(UTC)
    return Subscription(**values)


def _params(sub: Subscription) -> dict[str, Any]:
    return {c: getattr(sub, c) for c in SUBSCRIPTION_COLUMNS}


async def load_subscription(fetch: Fetch, feed_id: str) -> Subscription | None:
    rows = await fetch(f"{_SELECT} WHERE feed_id = %s", (feed_id,))
    return _row(rows[0]) if rows else None


async def subscription_by_token(fetch: Fetch, token: str) -> Subscription | None:
    rows = await fetch(f"{_SELECT} WHERE token = %s", (token,))
    return _row(rows[0]) if rows else None


async def list_subscriptions(fetch: Fetch) -> list[Subscription]:
    return [_row(r) for r in await fetch(f"{_SELECT} ORDER BY feed_id", None)]


async def add_subscription(fetch: Fetch, sub: Subscription) -> Subscription:
    """Insert unless a replica already did; the stored row either way."""
    await fetch(_INSERT + "ON CONFLICT (feed_id) DO NOTHING", _params(sub))
    stored = await load_subscription(fetch, sub.feed_id)
    assert stored is not None
    return stored


async def save_subscription(fetch: Fetch, sub: Subscription) -> None:
    await fetch(_INSERT + f"ON CONFLICT (feed_id) DO UPDATE SET {_UPDATES}", _params(sub))


async def claim_subscription_request(fetch: Fetch, feed_id: str, now: datetime,
                                     stale_before: datetime) -> bool:
    rows = await fetch("UPDATE websub_subscriptions SET requested_at = %s WHERE feed_id = %s "
                       "AND (requested_at IS NULL OR requested_at < %s) RETURNING 1",
                       (now, feed_id, stale_before))
    return bool(rows)


async def delete_subscription(fetch: Fetch, feed_id: str) -> None:
    await fetch("DELETE FROM websub_subscriptions WHERE feed_id = %s", (feed_id,))
