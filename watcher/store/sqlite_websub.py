"""WebSub subscriptions on SQLite (store/subscriptions.py): the statements `SqliteStore` runs.

Times are the store's ISO text (sqlite_conn).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from watcher.store.sqlite_conn import from_text, to_text
from watcher.store.subscriptions import SUBSCRIPTION_COLUMNS, TIME_COLUMNS, Subscription

_SELECT = f"SELECT {', '.join(SUBSCRIPTION_COLUMNS)} FROM websub_subscriptions"
_PLACES = ", ".join(f":{c}" for c in SUBSCRIPTION_COLUMNS)
_UPDATES = ", ".join(f"{c} = excluded.{c}" for c in SUBSCRIPTION_COLUMNS[1:])


def _row(row: tuple[Any, ...]) -> Subscription:
    values = dict(zip(SUBSCRIPTION_COLUMNS, row, strict=True))
    for column in TIME_COLUMNS:
        values[column] = from_text(values[column])
    return Subscription(**values)


def _params(sub: Subscription) -> dict[str, Any]:
    values = {c: getattr(sub, c) for c in SUBSCRIPTION_COLUMNS}
    for column in TIME_COLUMNS:
        values[column] = to_text(values[column]) if values[column] is not None else None
    return values


def load_subscription(conn: sqlite3.Connection, feed_id: str) -> Subscription | None:
    row = conn.execute(f"{_SELECT} WHERE feed_id = ?", (feed_id,)).fetchone()
    return _row(row) if row else None


def subscription_by_token(conn: sqlite3.Connection, token: str) -> Subscription | None:
    row = conn.execute(f"{_SELECT} WHERE token = ?", (token,)).fetchone()
    return _row(row) if row else None


def list_subscriptions(conn: sqlite3.Connection) -> list[Subscription]:
    return [_row(r) for r in conn.execute(f"{_SELECT} ORDER BY feed_id")]


def add_subscription(conn: sqlite3.Connection, sub: Subscription) -> Subscription:
    conn.execute(f"INSERT INTO websub_subscriptions ({', '.join(SUBSCRIPTION_COLUMNS)}) "
                 f"VALUES ({_PLACES}) ON CONFLICT (feed_id) DO NOTHING", _params(sub))
    stored = load_subscription(conn, sub.feed_id)
    assert stored is not None
    return stored


def save_subscription(conn: sqlite3.Connection, sub: Subscription) -> None:
    conn.execute(f"INSERT INTO websub_subscriptions ({', '.join(SUBSCRIPTION_COLUMNS)}) "
                 f"VALUES ({_PLACES}) ON CONFLICT (feed_id) DO UPDATE SET {_UPDATES}",
                 _params(sub))


def claim_subscription_request(conn: sqlite3.Connection, feed_id: str, now: str,
                               stale_before: str) -> bool:
    return conn.execute(
        "UPDATE websub_subscriptions SET requested_at = ? WHERE feed_id = ? "
        "AND (requested_at IS NULL OR requested_at < ?)", (now, feed_id, stale_before)
    ).rowcount == 1


def delete_subscription(conn: sqlite3.Connection, feed_id: str) -> None:
    conn.execute("DELETE FROM websub_subscriptions WHERE feed_id = ?", (feed_id,))
