"""Stories on SQLite (run on the store's thread): which story each article is in, and the
gates of delivery per story. Placing articles is one `BEGIN IMMEDIATE` transaction, so
processes sharing the file place them one batch at a time and never split a story.

Retention: each placement deletes, by time (indexed), the keys and gates that no article can
use any more (`retention_cutoff`); stories and their articles stay, the record behind
`watcher alerts --story` and the alerts that name them."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from watcher.models import Story, StoryDecider, StoryEntry, StoryMember
from watcher.store.sqlite_conn import as_time, in_chunks, to_text, transaction
from watcher.store.stories_retention import retention_cutoff

# The most recent articles a batch compares with, per query: enough for any real news day;
# a flood of look-alike articles (a template headline) stays linear.
MAX_MEMBERS = 1000
# A story is compared through its latest few articles (stories.clustering.COMPARED_PER_STORY,
# which a test keeps equal): older ones are not read.
MEMBERS_PER_STORY = 8
_ENTRY_COLUMNS = "sa.article_key, sa.source, sa.url, sa.title, sa.at, sa.signature"


def assign_stories(conn: sqlite3.Connection, entries: list[StoryEntry], since: datetime,
                   decide: StoryDecider) -> list[Story]:
    with transaction(conn):
        placed = _placed(conn, [e.article_key for e in entries])
        todo = [e for e in entries if e.article_key not in placed]
        if todo:
            members = _members(conn, sorted({k for e in todo for k in e.keys}), since)
            ids = decide(todo, members)
            for entry, sid in zip(todo, ids, strict=True):
                _insert(conn, entry, sid)
                placed[entry.article_key] = sid
            prune(conn, retention_cutoff(since, todo))
        views = _views(conn, sorted(set(placed.values())))
    return [views[placed[e.article_key]] for e in entries]


def prune(conn: sqlite3.Connection, before: datetime) -> int:
    """Delete story keys of articles before `before` and gates taken before it."""
    cutoff = to_text(before)
    keys = conn.execute("DELETE FROM story_keys WHERE at < ?", (cutoff,)).rowcount
    return keys + conn.execute("DELETE FROM story_gates WHERE taken_at < ?",
                               (cutoff,)).rowcount


def _placed(conn: sqlite3.Connection, keys: list[str]) -> dict[str, str]:
    placed: dict[str, str] = {}
    for chunk, marks in in_chunks(keys):
        rows = conn.execute("SELECT article_key, story_id FROM story_articles "
                            f"WHERE article_key IN ({marks})", chunk)
        placed.update((r[0], r[1]) for r in rows)
    return placed


def _members(conn: sqlite3.Connection, keys: list[str], since: datetime) -> list[StoryMember]:
    """The stored articles sharing a key with the batch, at or after `since`: of each story
    only its latest MEMBERS_PER_STORY (all the decider compares), of all the latest
    MAX_MEMBERS. Ranked on keys alone, so a key that thousands of articles share (a place,
    a template headline) costs an index scan, not a sort of their rows and signatures."""
    found: dict[str, StoryMember] = {}
    for chunk, marks in in_chunks(keys):
        rows = conn.execute(
            "WITH near AS (SELECT DISTINCT article_key FROM story_keys "
            f"WHERE key IN ({marks})), "
            "ranked AS (SELECT sa.article_key, ROW_NUMBER() OVER (PARTITION BY sa.story_id "
            "ORDER BY sa.at DESC, sa.article_key DESC) AS n FROM near "
            "JOIN story_articles sa ON sa.article_key = near.article_key WHERE sa.at >= ?) "
            f"SELECT {_ENTRY_COLUMNS}, sa.story_id, s.first_seen FROM ranked r "
            "JOIN story_articles sa ON sa.article_key = r.article_key "
            "JOIN stories s ON s.story_id = sa.story_id "
            "WHERE r.n <= ? ORDER BY sa.at DESC, sa.article_key DESC LIMIT ?",
            [*chunk, to_text(since), MEMBERS_PER_STORY, MAX_MEMBERS])
        for r in rows:
            found[r[0]] = StoryMember(_entry(r), r[6], as_time(r[7]))
    latest = sorted(found.values(), key=lambda m: (m.entry.at, m.entry.article_key))
    return latest[-MAX_MEMBERS:]


def _entry(row: Sequence[str]) -> StoryEntry:
    return StoryEntry(article_key=row[0], source=row[1], url=row[2], title=row[3],
                      at=as_time(row[4]), keys=(), signature=row[5])


def _insert(conn: sqlite3.Connection, entry: StoryEntry, sid: str) -> None:
    at = to_text(entry.at)
    conn.execute("INSERT INTO story_articles (article_key, story_id, source, url, title, at, "
                 "signature) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (entry.article_key, sid, entry.source, entry.url, entry.title, at,
                  entry.signature))
    conn.executemany("INSERT OR IGNORE INTO story_keys (key, article_key, at) VALUES (?, ?, ?)",
                     [(k, entry.article_key, at) for k in entry.keys])
    conn.execute("INSERT INTO stories (story_id, first_seen, last_seen, articles) "
                 "VALUES (?, ?, ?, 1) ON CONFLICT (story_id) DO UPDATE SET "
                 "first_seen = MIN(first_seen, excluded.first_seen), "
                 "last_seen = MAX(last_seen, excluded.last_seen), articles = articles + 1",
                 (sid, at, at))


def _views(conn: sqlite3.Connection, ids: list[str]) -> dict[str, Story]:
    views: dict[str, Story] = {}
    for chunk, marks in in_chunks(ids):
        for sid, first, count in conn.execute(
                "SELECT story_id, first_seen, articles FROM stories "
                f"WHERE story_id IN ({marks})", chunk):
            views[sid] = Story(id=sid, first_seen=as_time(first), articles=count)
        for sid, source in conn.execute(
                "SELECT story_id, source FROM story_articles "
                f"WHERE story_id IN ({marks}) GROUP BY story_id, source "
                "ORDER BY MIN(at), source", chunk):
            views[sid].sources.append(source)
    return views


def story_articles(conn: sqlite3.Connection, sid: str) -> list[StoryEntry]:
    rows = conn.execute(f"SELECT {_ENTRY_COLUMNS} FROM story_articles sa "
                        "WHERE sa.story_id = ? ORDER BY sa.at, sa.article_key", (sid,))
    return [_entry(r) for r in rows]


def claim_gates(conn: sqlite3.Connection, claims: list[tuple[str, str]],
                now: datetime) -> set[tuple[str, str]]:
    held: set[tuple[str, str]] = set()
    with transaction(conn):
        conn.executemany("INSERT OR IGNORE INTO story_gates (gate, article_key, taken_at) "
                         "VALUES (?, ?, ?)", [(g, k, to_text(now)) for g, k in claims])
        for chunk, marks in in_chunks(sorted({g for g, _ in claims})):
            held.update(conn.execute("SELECT gate, article_key FROM story_gates "
                                     f"WHERE gate IN ({marks})", chunk))
    return held.intersection(claims)
