"""The desk's statements on SQLite (desk_records.py): alerts filtered and paged by facets,
acknowledgements, silences, and which silences mute an alert."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from watcher.store.desk_records import (
    Ack,
    AlertQuery,
    DeskAlert,
    FacetKind,
    Silence,
    StoryRecord,
)
from watcher.store.sqlite_conn import as_time, in_chunks, to_text, transaction

# Silence s mutes alert d at time t when t is in its window and no matcher of s is missing
# from d's facets.
_MUTES = ("NOT EXISTS (SELECT 1 FROM silence_matchers m WHERE m.silence_id = s.id AND "
          "NOT EXISTS (SELECT 1 FROM desk_facets f WHERE f.kind = m.kind "
          "AND f.value = m.value AND f.seq = d.seq))")


def like_pattern(text: str) -> str:
    """`text` as a LIKE pattern matching it anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def alerts_statement(query: AlertQuery, mark: str, title_like: str,
                     stamp: Callable[[datetime], object]) -> tuple[str, list[Any]]:
    """The SELECT of (seq, alert_json, arrived_at) for `query`, and its parameters, in a
    backend's dialect: `mark` its placeholder, `title_like` its case-insensitive LIKE,
    `stamp` how it binds a time. Newest first; a page of newer alerts (`after`) is taken
    oldest first and turned by the caller."""
    where: list[str] = []
    params: list[Any] = []
    for kind, value in query.facets:
        where.append(f"d.seq IN (SELECT seq FROM desk_facets WHERE kind = {mark} "
                     f"AND value = {mark})")
        params += [kind, value]
    bounds: tuple[tuple[str, object], ...] = (
        ("d.seq <", query.before), ("d.seq >", query.after),
        ("d.arrived_at >=", query.since and stamp(query.since)),
        ("d.arrived_at <", query.until and stamp(query.until)))
    for clause, bound in bounds:
        if bound is not None:
            where.append(f"{clause} {mark}")
            params.append(bound)
    if query.text:
        where.append(f"d.title {title_like} {mark} ESCAPE '\\'")
        params.append(like_pattern(query.text))
    order = "ASC" if query.after is not None else "DESC"
    # The page of seqs first, then the JSON of those alerts only: a planner that misjudges a
    # filter's selectivity cannot join the whole outbox before it limits.
    page = "SELECT d.seq, d.outbox_id, d.arrived_at FROM desk_alerts d"
    if where:
        page += " WHERE " + " AND ".join(where)
    page += f" ORDER BY d.seq {order} LIMIT {mark}"
    sql = (f"SELECT p.seq, o.alert_json, p.arrived_at FROM ({page}) AS p "
           f"JOIN outbox o ON o.id = p.outbox_id ORDER BY p.seq {order}")
    return sql, [*params, query.limit]


def query_alerts(conn: sqlite3.Connection, query: AlertQuery) -> list[DeskAlert]:
    sql, params = alerts_statement(query, "?", "LIKE", to_text)
    rows = conn.execute(sql, params).fetchall()
    if query.after is not None:
        rows.reverse()
    return _annotated(conn, rows)


def get_alert(conn: sqlite3.Connection, alert_id: str) -> DeskAlert | None:
    rows = conn.execute("SELECT d.seq, o.alert_json, d.arrived_at FROM desk_alerts d "
                        "JOIN outbox o ON o.id = d.outbox_id WHERE d.alert_id = ?",
                        (alert_id,)).fetchall()
    found = _annotated(conn, rows)
    return found[0] if found else None


def _annotated(conn: sqlite3.Connection, rows: list[Any]) -> list[DeskAlert]:
    """Rows of (seq, alert_json, arrived_at) with their latest ack and muting silences."""
    seqs = [r[0] for r in rows]
    alerts = {r[0]: json.loads(r[1]) for r in rows}
    acks: dict[str, Ack] = {}
    muted: dict[int, list[int]] = {}
    for chunk, marks in in_chunks(seqs):
        ids = [alerts[s]["alert_id"] for s in chunk]
        for row in conn.execute(
                "SELECT id, alert_id, author, note, acked_at FROM acks WHERE id IN ("
                f"SELECT max(id) FROM acks WHERE alert_id IN ({', '.join('?' * len(ids))}) "
                "GROUP BY alert_id)", ids):
            acks[row[1]] = _ack(row)
        for seq, silence_id in conn.execute(
                "SELECT d.seq, s.id FROM desk_alerts d JOIN silences s "
                "ON s.starts_at <= d.arrived_at AND d.arrived_at < s.ends_at "
                f"WHERE d.seq IN ({marks}) AND {_MUTES} ORDER BY s.id", chunk):
            muted.setdefault(seq, []).append(silence_id)
    return [DeskAlert(seq, alerts[seq], as_time(arrived), acks.get(alerts[seq]["alert_id"]),
                      tuple(muted.get(seq, ()))) for seq, _, arrived in rows]


def _ack(row: Any) -> Ack:
    return Ack(row[0], row[1], row[2], row[3], as_time(row[4]))


def add_ack(conn: sqlite3.Connection, alert_id: str, author: str, note: str,
            now: datetime) -> Ack | None:
    with transaction(conn):
        if conn.execute("SELECT 1 FROM desk_alerts WHERE alert_id = ?",
                        (alert_id,)).fetchone() is None:
            return None
        row = conn.execute("INSERT INTO acks (alert_id, author, note, acked_at) "
                           "VALUES (?, ?, ?, ?) RETURNING id, alert_id, author, note, acked_at",
                           (alert_id, author, note, to_text(now))).fetchone()
    return _ack(row)


def list_acks(conn: sqlite3.Connection, limit: int) -> list[Ack]:
    return [_ack(r) for r in conn.execute("SELECT id, alert_id, author, note, acked_at "
                                          "FROM acks ORDER BY id DESC LIMIT ?", (limit,))]


def add_silence(conn: sqlite3.Connection, matchers: Sequence[tuple[FacetKind, str]],
                starts_at: datetime, ends_at: datetime, author: str, reason: str,
                now: datetime) -> Silence:
    with transaction(conn):
        silence_id = conn.execute(
            "INSERT INTO silences (starts_at, ends_at, author, reason, created_at) "
            "VALUES (?, ?, ?, ?, ?) RETURNING id",
            (to_text(starts_at), to_text(ends_at), author, reason, to_text(now))).fetchone()[0]
        conn.executemany("INSERT OR IGNORE INTO silence_matchers (silence_id, kind, value) "
                         "VALUES (?, ?, ?)", [(silence_id, k, v) for k, v in matchers])
    found = list_silences(conn, None, silence_id)
    return found[0]


def list_silences(conn: sqlite3.Connection, ending_after: datetime | None,
                  silence_id: int | None = None) -> list[Silence]:
    """Silences, newest first: those ending after `ending_after` (all when None), or one."""
    sql = "SELECT id, starts_at, ends_at, author, reason, created_at FROM silences"
    params: list[Any] = []
    if silence_id is not None:
        sql += " WHERE id = ?"
        params.append(silence_id)
    elif ending_after is not None:
        sql += " WHERE ends_at > ?"
        params.append(to_text(ending_after))
    rows = conn.execute(sql + " ORDER BY id DESC", params).fetchall()
    matchers: dict[int, list[tuple[Any, str]]] = {}
    for chunk, marks in in_chunks([r[0] for r in rows]):
        for sid, kind, value in conn.execute(
                "SELECT silence_id, kind, value FROM silence_matchers "
                f"WHERE silence_id IN ({marks}) ORDER BY kind, value", chunk):
            matchers.setdefault(sid, []).append((kind, value))
    return [Silence(r[0], tuple(matchers.get(r[0], ())), as_time(r[1]), as_time(r[2]), r[3],
                    r[4], as_time(r[5])) for r in rows]


def expire_silence(conn: sqlite3.Connection, silence_id: int, now: datetime) -> Silence | None:
    stamp = to_text(now)
    with transaction(conn):
        conn.execute("UPDATE silences SET ends_at = ?, starts_at = min(starts_at, ?) "
                     "WHERE id = ? AND ends_at > ?", (stamp, stamp, silence_id, stamp))
    found = list_silences(conn, None, silence_id)
    return found[0] if found else None


def muting_silences(conn: sqlite3.Connection, alert_ids: list[str],
                    now: datetime) -> dict[str, int]:
    """alert_id -> the oldest silence active at `now` that mutes it."""
    found: dict[str, int] = {}
    for chunk, marks in in_chunks(alert_ids):
        for alert_id, silence_id in conn.execute(
                "SELECT d.alert_id, min(s.id) FROM desk_alerts d JOIN silences s "
                "ON s.starts_at <= ? AND ? < s.ends_at "
                f"WHERE d.alert_id IN ({marks}) AND {_MUTES} GROUP BY d.alert_id",
                [to_text(now), to_text(now), *chunk]):
            found[alert_id] = silence_id
    return found


def mark_silenced(conn: sqlite3.Connection, silenced: dict[int, int], now: datetime) -> None:
    """Outbox rows (id -> silence id) done without sending: a silence muted them."""
    with transaction(conn):
        conn.executemany("UPDATE outbox SET status = 'delivered', silenced_by = ?, "
                         "lease_until = NULL, finished_at = ? "
                         "WHERE id = ? AND status = 'pending'",
                         [(sid, to_text(now), item_id) for item_id, sid in silenced.items()])


def rule_days(conn: sqlite3.Connection, since: datetime) -> dict[str, dict[str, int]]:
    """rule id -> {day (YYYY-MM-DD, UTC) -> alerts that arrived that day}, since `since`."""
    counts: dict[str, dict[str, int]] = {}
    for rule_id, day, n in conn.execute(
            "SELECT f.value, substr(d.arrived_at, 1, 10), count(*) FROM desk_alerts d "
            "JOIN desk_facets f ON f.seq = d.seq AND f.kind = 'rule' "
            "WHERE d.arrived_at >= ? GROUP BY 1, 2", (to_text(since),)):
        counts.setdefault(rule_id, {})[day] = n
    return counts


def list_stories(conn: sqlite3.Connection, limit: int) -> list[StoryRecord]:
    return [StoryRecord(r[0], r[1], as_time(r[2]), as_time(r[3])) for r in conn.execute(
        "SELECT f.value, count(*), min(d.arrived_at), max(d.arrived_at) FROM desk_facets f "
        "JOIN desk_alerts d ON d.seq = f.seq WHERE f.kind = 'story' GROUP BY f.value "
        "ORDER BY max(d.seq) DESC LIMIT ?", (limit,))]
