"""Stories on PostgreSQL: which story each article is in, and the gates of delivery per story.

Replicas place articles under one transaction-scoped advisory lock per schema: a batch reads
the stories its articles may join, decides and writes them before another replica's batch
reads, so two replicas polling two outlets of one event at once still make one story (the
article key is the primary key of `story_articles` besides). Gates are taken with
`ON CONFLICT DO NOTHING`: the first article to take one holds it. Retention as on SQLite
(stories_retention.py): each placement deletes keys and gates no one can use."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from watcher.models import Story, StoryDecider, StoryEntry, StoryMember
from watcher.store.stories_retention import retention_cutoff

Conn = psycopg.AsyncConnection[TupleRow]

# Second key of the advisory lock (the first is pg_schema.LOCK_NAMESPACE's neighbour).
STORY_LOCK_NAMESPACE = 0x57A7C5
MAX_MEMBERS = 1000  # as sqlite_stories.MAX_MEMBERS
MEMBERS_PER_STORY = 8  # as sqlite_stories.MEMBERS_PER_STORY
_ENTRY_COLUMNS = "sa.article_key, sa.source, sa.url, sa.title, sa.at, sa.signature"


async def assign_stories(conn: Conn, entries: Sequence[StoryEntry], since: datetime,
                         decide: StoryDecider) -> list[Story]:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))",
                           (STORY_LOCK_NAMESPACE,))
        cur = await conn.execute("SELECT article_key, story_id FROM story_articles "
                                 "WHERE article_key = ANY(%s)",
                                 ([e.article_key for e in entries],))
        placed: dict[str, str] = {r[0]: r[1] for r in await cur.fetchall()}
        todo = [e for e in entries if e.article_key not in placed]
        if todo:
            members = await _members(conn, sorted({k for e in todo for k in e.keys}), since)
            ids = decide(todo, members)
            await _insert(conn, todo, ids)
            await prune(conn, retention_cutoff(since, todo))
            placed.update((e.article_key, sid) for e, sid in zip(todo, ids, strict=True))
        views = await _views(conn, sorted(set(placed.values())))
    return [views[placed[e.article_key]] for e in entries]


async def prune(conn: Conn, before: datetime) -> int:
    """Delete story keys of articles before `before` and gates taken before it."""
    keys = await conn.execute("DELETE FROM story_keys WHERE at < %s", (before,))
    gates = await conn.execute("DELETE FROM story_gates WHERE taken_at < %s", (before,))
    return keys.rowcount + gates.rowcount


async def _members(conn: Conn, keys: list[str], since: datetime) -> list[StoryMember]:
    """As sqlite_stories._members: of each story its latest MEMBERS_PER_STORY, ranked on
    keys alone."""
    cur = await conn.execute(
        "WITH near AS (SELECT DISTINCT article_key FROM story_keys WHERE key = ANY(%s)), "
        "ranked AS (SELECT sa.article_key, ROW_NUMBER() OVER (PARTITION BY sa.story_id "
        "ORDER BY sa.at DESC, sa.article_key DESC) AS n FROM near "
        "JOIN story_articles sa ON sa.article_key = near.article_key WHERE sa.at >= %s) "
        f"SELECT {_ENTRY_COLUMNS}, sa.story_id, s.first_seen FROM ranked r "
        "JOIN story_articles sa ON sa.article_key = r.article_key "
        "JOIN stories s ON s.story_id = sa.story_id "
        "WHERE r.n <= %s ORDER BY sa.at DESC, sa.article_key DESC LIMIT %s",
        (keys, since, MEMBERS_PER_STORY, MAX_MEMBERS))
    members = [StoryMember(_entry(r), r[6], r[7]) for r in await cur.fetchall()]
    return sorted(members, key=lambda m: (m.entry.at, m.entry.article_key))


def _entry(row: Sequence[Any]) -> StoryEntry:
    return StoryEntry(article_key=row[0], source=row[1], url=row[2], title=row[3], at=row[4],
                      keys=(), signature=row[5])


async def _insert(conn: Conn, entries: Sequence[StoryEntry], ids: Sequence[str]) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO story_articles (article_key, story_id, source, url, title, at, "
            "signature) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(e.article_key, sid, e.source, e.url, e.title, e.at, e.signature)
             for e, sid in zip(entries, ids, strict=True)])
        await cur.executemany(
            "INSERT INTO story_keys (key, article_key, at) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            [(k, e.article_key, e.at) for e in entries for k in sorted(set(e.keys))])
        await cur.executemany(
            "INSERT INTO stories (story_id, first_seen, last_seen, articles) "
            "VALUES (%s, %s, %s, 1) ON CONFLICT (story_id) DO UPDATE SET "
            "first_seen = LEAST(stories.first_seen, excluded.first_seen), "
            "last_seen = GREATEST(stories.last_seen, excluded.last_seen), "
            "articles = stories.articles + 1",
            [(sid, e.at, e.at) for e, sid in zip(entries, ids, strict=True)])


async def _views(conn: Conn, ids: list[str]) -> dict[str, Story]:
    cur = await conn.execute("SELECT story_id, first_seen, articles FROM stories "
                             "WHERE story_id = ANY(%s)", (ids,))
    views = {r[0]: Story(id=r[0], first_seen=r[1], articles=r[2]) for r in await cur.fetchall()}
    cur = await conn.execute("SELECT story_id, source FROM story_articles "
                             "WHERE story_id = ANY(%s) GROUP BY story_id, source "
                             "ORDER BY MIN(at), source", (ids,))
    for sid, source in await cur.fetchall():
        views[sid].sources.append(source)
    return views


async def story_articles(conn: Conn, sid: str) -> list[StoryEntry]:
    cur = await conn.execute(f"SELECT {_ENTRY_COLUMNS} FROM story_articles sa "
                             "WHERE sa.story_id = %s ORDER BY sa.at, sa.article_key", (sid,))
    return [_entry(r) for r in await cur.fetchall()]


async def claim_gates(conn: Conn, claims: Sequence[tuple[str, str]],
                      now: datetime) -> set[tuple[str, str]]:
    ordered = sorted(set(claims))  # one order for every replica: no deadlock
    cur = await conn.execute(
        "WITH taken AS (INSERT INTO story_gates (gate, article_key, taken_at) "
        "SELECT g, k, %(now)s FROM unnest(%(gates)s::text[], %(keys)s::text[]) AS c(g, k) "
        "ON CONFLICT (gate) DO NOTHING RETURNING gate, article_key) "
        "SELECT gate, article_key FROM taken UNION "
        "SELECT gate, article_key FROM story_gates WHERE gate = ANY(%(gates)s)",
        {"now": now, "gates": [g for g, _ in ordered], "keys": [k for _, k in ordered]})
    return {(r[0], r[1]) for r in await cur.fetchall()}.intersection(claims)
