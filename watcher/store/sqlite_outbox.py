"""The outbox on SQLite: the statements `SqliteStore` runs to claim, send, hold and list rows.

    pending ─▶ claim_due / claim_batch (leased) ─┬▶ finish: delivered, dead
                                                 ├▶ reschedule: retry, release, hold
                                                 └▶ lease expires: pending again

Batch statements take a `Lane` (delivery/grouping.py): a route with its own group_wait or
max_per_hour has its rows claimed and its messages counted apart from the sink's others.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from watcher.models import Alert, Lane, OutboxItem
from watcher.store.records import OUTBOX_STATUSES, OutboxRecord
from watcher.store.sqlite_conn import as_time, from_text, in_chunks, to_text, transaction


def claim_due(conn: sqlite3.Connection, now: datetime, limit: int,
              lease_seconds: float) -> list[OutboxItem]:
    stamp = to_text(now)
    lease = to_text(now + timedelta(seconds=lease_seconds))
    with transaction(conn):
        rows = conn.execute(
            "UPDATE outbox SET lease_until = ? WHERE id IN ("
            "  SELECT id FROM outbox WHERE status = 'pending' AND next_attempt <= ?"
            "  AND (lease_until IS NULL OR lease_until <= ?)"
            "  ORDER BY next_attempt, attempts, id LIMIT ?)"
            " RETURNING id, alert_json, sink, attempts, created_at, next_attempt, requeued_at,"
            " held, route",
            (lease, stamp, stamp, limit)).fetchall()
        items: list[tuple[str, OutboxItem]] = []
        for (item_id, alert_json, sink, attempts, created_at, next_attempt, requeued, held,
             route) in rows:
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
                                                   created_at=as_time(created_at),
                                                   queued_at=from_text(requeued),
                                                   held=held is not None, route=route)))
    # Rows held back unattempted (their sink was down) go before rows that keep failing.
    items.sort(key=lambda pair: (pair[0], pair[1].attempts, pair[1].id))
    return [item for _, item in items]


def extend_leases(conn: sqlite3.Connection, item_ids: list[int], until: datetime) -> int:
    if not item_ids:
        return 0
    marks = ", ".join("?" * len(item_ids))
    cur = conn.execute(f"UPDATE outbox SET lease_until = ? WHERE id IN ({marks}) "
                       "AND status = 'pending' AND lease_until IS NOT NULL",
                       [to_text(until), *item_ids])
    return cur.rowcount


def reschedule(conn: sqlite3.Connection, item_id: int, error: str | None,
               next_attempt: datetime, attempted: int) -> None:
    conn.execute("UPDATE outbox SET attempts = attempts + ?, next_attempt = ?, "
                 "lease_until = NULL, last_error = coalesce(?, last_error) "
                 "WHERE id = ? AND status = 'pending'",
                 (attempted, to_text(next_attempt), error, item_id))


def finish(conn: sqlite3.Connection, item_id: int, status: str, error: str | None,
           now: datetime) -> None:
    conn.execute("UPDATE outbox SET status = ?, attempts = attempts + 1, lease_until = NULL, "
                 "last_error = coalesce(?, last_error), finished_at = ? "
                 "WHERE id = ? AND status = 'pending'",
                 (status, error, to_text(now), item_id))


def outbox_counts(conn: sqlite3.Connection) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(OUTBOX_STATUSES, 0)
    for status, n in conn.execute("SELECT status, count(*) FROM outbox GROUP BY status"):
        counts[status] = n
    return counts


def oldest_pending(conn: sqlite3.Connection) -> datetime | None:
    row = conn.execute("SELECT min(created_at) FROM outbox WHERE status = 'pending'").fetchone()
    return from_text(row[0])


_REQUEUE = ("UPDATE outbox SET status = 'pending', attempts = 0, next_attempt = ?, "
            "requeued_at = ?, lease_until = NULL, finished_at = NULL ")


def requeue(conn: sqlite3.Connection, ref: str, now: datetime) -> int:
    stamp = to_text(now)
    with transaction(conn):
        if ref.isdigit():
            cur = conn.execute(_REQUEUE + "WHERE id = ? AND status <> 'pending'",
                               (stamp, stamp, int(ref)))
            if cur.rowcount:
                return cur.rowcount
        return conn.execute(_REQUEUE + "WHERE alert_id = ? AND status <> 'pending'",
                            (stamp, stamp, ref)).rowcount


def requeue_dead(conn: sqlite3.Connection, now: datetime) -> int:
    stamp = to_text(now)
    with transaction(conn):
        return conn.execute(_REQUEUE + "WHERE status = 'dead'", (stamp, stamp)).rowcount


def list_alerts(conn: sqlite3.Connection, status: str | None, limit: int) -> list[OutboxRecord]:
    query = ("SELECT id, alert_json, sink, status, attempts, last_error, created_at, "
             "next_attempt, finished_at, route FROM outbox")
    params: list[Any] = []
    if status is not None:
        query += " WHERE status = ?"
        params.append(status)
    query += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    return [OutboxRecord(id=r[0], alert=_readable_alert(r[1]), sink=r[2], status=r[3],
                         attempts=r[4], last_error=r[5], created_at=as_time(r[6]),
                         next_attempt=as_time(r[7]), finished_at=from_text(r[8]), route=r[9])
            for r in conn.execute(query, params)]


def _readable_alert(alert_json: str) -> Alert | None:
    try:
        return Alert.model_validate_json(alert_json)
    except ValidationError:
        return None


def _lane_rows(lane: Lane) -> tuple[str, list[Any]]:
    """The WHERE condition, and its parameters, of the rows of `lane`."""
    if lane.route:
        return "sink = ? AND route = ?", [lane.sink, lane.route]
    if not lane.apart:
        return "sink = ?", [lane.sink]
    marks = ", ".join("?" * len(lane.apart))
    return f"sink = ? AND route NOT IN ({marks})", [lane.sink, *lane.apart]


def claim_batch(conn: sqlite3.Connection, lane: Lane, created_before: datetime, now: datetime,
                limit: int, lease_seconds: float) -> list[OutboxItem]:
    stamp = to_text(now)
    lease = to_text(now + timedelta(seconds=lease_seconds))
    where, params = _lane_rows(lane)
    with transaction(conn):
        ids = [r[0] for r in conn.execute(
            f"SELECT id FROM outbox WHERE {where} AND status = 'pending' AND created_at < ? "
            "AND (lease_until IS NULL OR lease_until <= ?) ORDER BY created_at, id LIMIT ?",
            [*params, to_text(created_before), stamp, limit])]
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        conn.execute(f"UPDATE outbox SET lease_until = ? WHERE id IN ({marks})", [lease, *ids])
        rows = conn.execute("SELECT id, alert_json, sink, attempts, created_at, requeued_at, "
                            f"held, route FROM outbox WHERE id IN ({marks}) "
                            "ORDER BY created_at, id", ids).fetchall()
        items = []
        for item_id, alert_json, name, attempts, created_at, requeued, held, route in rows:
            alert = _readable_alert(alert_json)
            if alert is None:
                conn.execute("UPDATE outbox SET status = 'dead', lease_until = NULL, "
                             "last_error = 'unreadable alert', finished_at = ? WHERE id = ?",
                             (stamp, item_id))
                continue
            items.append(OutboxItem(id=item_id, alert=alert, sink=name, attempts=attempts,
                                    created_at=as_time(created_at),
                                    queued_at=from_text(requeued), held=held is not None,
                                    route=route))
    return items


def mark_batch_delivered(conn: sqlite3.Connection, ids: list[int], now: datetime) -> None:
    if not ids:
        return
    with transaction(conn):
        for chunk, marks in in_chunks(ids):
            conn.execute("UPDATE outbox SET status = 'delivered', attempts = attempts + 1, "
                         "lease_until = NULL, finished_at = ?, batch_id = ? "
                         f"WHERE id IN ({marks}) AND status = 'pending'",
                         [to_text(now), min(ids), *chunk])


def hold(conn: sqlite3.Connection, ids: list[int], next_attempt: datetime,
         capped: bool) -> None:
    with transaction(conn):
        for chunk, marks in in_chunks(ids):
            conn.execute("UPDATE outbox SET next_attempt = ?, lease_until = NULL, "
                         "held = CASE WHEN ? THEN 'cap' ELSE held END "
                         f"WHERE id IN ({marks}) AND status = 'pending'",
                         [to_text(next_attempt), int(capped), *chunk])


def sent_messages(conn: sqlite3.Connection, lane: Lane, since: datetime) -> list[datetime]:
    where, params = _lane_rows(lane)
    rows = conn.execute(f"SELECT min(finished_at) FROM outbox WHERE {where} "
                        "AND status = 'delivered' AND finished_at >= ? "
                        "GROUP BY coalesce(batch_id, id) ORDER BY 1", [*params, to_text(since)])
    return [as_time(r[0]) for r in rows]
