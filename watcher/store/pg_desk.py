"""The desk's statements on PostgreSQL (desk_records.py), as a part of `PostgresStore`:
alerts filtered and paged by facets, acknowledgements, silences, and which silences mute an
alert. The same contract as sqlite_desk.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from watcher.store.desk_records import (
    Ack,
    AlertQuery,
    DeskAlert,
    FacetKind,
    Silence,
    StoryRecord,
)
from watcher.store.sqlite_desk import alerts_statement

Conn = psycopg.AsyncConnection[TupleRow]

_MUTES = ("NOT EXISTS (SELECT 1 FROM silence_matchers m WHERE m.silence_id = s.id AND "
          "NOT EXISTS (SELECT 1 FROM desk_facets f WHERE f.kind = m.kind "
          "AND f.value = m.value AND f.seq = d.seq))")

_ACK_COLUMNS = "id, alert_id, author, note, acked_at"


class PgDesk:
    """The desk's methods of the `Store`; `PostgresStore` supplies `_conn`."""

    _conn: Callable[[], AbstractAsyncContextManager[Conn]]  # PostgresStore's pool

    async def _rows(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        async with self._conn() as conn:
            cur = await conn.execute(query.encode(), params)
            return await cur.fetchall() if cur.description is not None else []

    async def desk_alerts(self, query: AlertQuery) -> list[DeskAlert]:
        """Alerts that pass `query`, newest first, with their ack and muting silences."""
        if query.text:  # titles are stored in lower case (pg_schema.py, 13)
            query = replace(query, text=query.text.lower())
        sql, params = alerts_statement(query, "%s", "LIKE", lambda moment: moment)
        rows = await self._rows(sql, params)
        if query.after is not None:
            rows.reverse()
        return await self._annotated(rows)

    async def desk_alert(self, alert_id: str) -> DeskAlert | None:
        rows = await self._rows("SELECT d.seq, o.alert_json, d.arrived_at FROM desk_alerts d "
                                "JOIN outbox o ON o.id = d.outbox_id WHERE d.alert_id = %s",
                                (alert_id,))
        found = await self._annotated(rows)
        return found[0] if found else None

    async def _annotated(self, rows: list[tuple[Any, ...]]) -> list[DeskAlert]:
        if not rows:
            return []
        alerts = {r[0]: json.loads(r[1]) for r in rows}
        ids = [a["alert_id"] for a in alerts.values()]
        acks = {r[1]: _ack(r) for r in await self._rows(
            f"SELECT DISTINCT ON (alert_id) {_ACK_COLUMNS} FROM acks "
            "WHERE alert_id = ANY(%s) ORDER BY alert_id, id DESC", (ids,))}
        muted: dict[int, list[int]] = {}
        for seq, silence_id in await self._rows(
                "SELECT d.seq, s.id FROM desk_alerts d JOIN silences s "
                "ON s.starts_at <= d.arrived_at AND d.arrived_at < s.ends_at "
                f"WHERE d.seq = ANY(%s) AND {_MUTES} ORDER BY s.id", (list(alerts),)):
            muted.setdefault(seq, []).append(silence_id)
        return [DeskAlert(seq, alerts[seq], arrived.astimezone(UTC),
                          acks.get(alerts[seq]["alert_id"]), tuple(muted.get(seq, ())))
                for seq, _, arrived in rows]

    async def add_ack(self, alert_id: str, author: str, note: str,
                      now: datetime) -> Ack | None:
        """Acknowledge a known alert; None when no alert has that id."""
        rows = await self._rows(
            "INSERT INTO acks (alert_id, author, note, acked_at) SELECT %s, %s, %s, %s "
            "WHERE EXISTS (SELECT 1 FROM desk_alerts WHERE alert_id = %s) "
            f"RETURNING {_ACK_COLUMNS}", (alert_id, author, note, now, alert_id))
        return _ack(rows[0]) if rows else None

    async def list_acks(self, limit: int) -> list[Ack]:
        """The latest acknowledgements, newest first."""
        return [_ack(r) for r in await self._rows(
            f"SELECT {_ACK_COLUMNS} FROM acks ORDER BY id DESC LIMIT %s", (limit,))]

    async def add_silence(self, matchers: Sequence[tuple[FacetKind, str]], starts_at: datetime,
                          ends_at: datetime, author: str, reason: str,
                          now: datetime) -> Silence:
        async with self._conn() as conn, conn.transaction():
            cur = await conn.execute(
                "INSERT INTO silences (starts_at, ends_at, author, reason, created_at) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (starts_at, ends_at, author, reason, now))
            row = await cur.fetchone()
            assert row is not None
            silence_id = int(row[0])
            await conn.execute(
                "INSERT INTO silence_matchers (silence_id, kind, value) "
                "SELECT %s, k, v FROM unnest(%s::text[], %s::text[]) AS m(k, v) "
                "ON CONFLICT DO NOTHING",
                (silence_id, [k for k, _ in matchers], [v for _, v in matchers]))
        return (await self._silences("WHERE id = %s", (silence_id,)))[0]

    async def list_silences(self, ending_after: datetime | None) -> list[Silence]:
        """Silences that end after `ending_after` (every one when None), newest first."""
        if ending_after is None:
            return await self._silences("", ())
        return await self._silences("WHERE ends_at > %s", (ending_after,))

    async def _silences(self, where: str, params: Any) -> list[Silence]:
        rows = await self._rows(
            "SELECT s.id, s.starts_at, s.ends_at, s.author, s.reason, s.created_at, "
            "coalesce((SELECT array_agg(array[m.kind, m.value] ORDER BY m.kind, m.value) "
            "FROM silence_matchers m WHERE m.silence_id = s.id), '{}') "
            f"FROM silences s {where} ORDER BY s.id DESC", params)
        return [Silence(r[0], tuple((k, v) for k, v in r[6]), r[1].astimezone(UTC),
                        r[2].astimezone(UTC), r[3], r[4], r[5].astimezone(UTC)) for r in rows]

    async def expire_silence(self, silence_id: int, now: datetime) -> Silence | None:
        """End a silence now (a silence already over is left as it was); None if unknown."""
        await self._rows("UPDATE silences SET ends_at = %(now)s, "
                         "starts_at = least(starts_at, %(now)s) "
                         "WHERE id = %(id)s AND ends_at > %(now)s",
                         {"now": now, "id": silence_id})
        found = await self._silences("WHERE id = %s", (silence_id,))
        return found[0] if found else None

    async def muting_silences(self, alert_ids: Sequence[str], now: datetime) -> dict[str, int]:
        """alert_id -> the oldest silence active at `now` that mutes that alert."""
        if not alert_ids:
            return {}
        rows = await self._rows(
            "SELECT d.alert_id, min(s.id) FROM desk_alerts d JOIN silences s "
            "ON s.starts_at <= %(now)s AND %(now)s < s.ends_at "
            f"WHERE d.alert_id = ANY(%(ids)s) AND {_MUTES} GROUP BY d.alert_id",
            {"now": now, "ids": list(alert_ids)})
        return {r[0]: int(r[1]) for r in rows}

    async def mark_silenced(self, silenced: dict[int, int], now: datetime) -> None:
        """Finish pending outbox rows (id -> silence id) unsent: a silence muted them."""
        if silenced:
            await self._rows(
                "UPDATE outbox o SET status = 'delivered', silenced_by = m.sid, "
                "lease_until = NULL, finished_at = %s "
                "FROM unnest(%s::bigint[], %s::bigint[]) AS m(id, sid) "
                "WHERE o.id = m.id AND o.status = 'pending'",
                (now, list(silenced), list(silenced.values())))

    async def rule_days(self, since: datetime) -> dict[str, dict[str, int]]:
        """rule id -> {YYYY-MM-DD -> alerts that arrived that day (UTC)}, since `since`."""
        counts: dict[str, dict[str, int]] = {}
        for rule_id, day, n in await self._rows(
                "SELECT f.value, to_char(d.arrived_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), "
                "count(*) FROM desk_alerts d "
                "JOIN desk_facets f ON f.seq = d.seq AND f.kind = 'rule' "
                "WHERE d.arrived_at >= %s GROUP BY 1, 2", (since,)):
            counts.setdefault(rule_id, {})[day] = n
        return counts

    async def list_stories(self, limit: int) -> list[StoryRecord]:
        """Stories the alerts carry, the latest first, with their alert counts."""
        return [StoryRecord(r[0], r[1], r[2].astimezone(UTC), r[3].astimezone(UTC))
                for r in await self._rows(
            "SELECT f.value, count(*), min(d.arrived_at), max(d.arrived_at) "
            "FROM desk_facets f JOIN desk_alerts d ON d.seq = f.seq WHERE f.kind = 'story' "
            "GROUP BY f.value ORDER BY max(d.seq) DESC LIMIT %s", (limit,))]


def _ack(row: Any) -> Ack:
    return Ack(row[0], row[1], row[2], row[3], row[4].astimezone(UTC))

