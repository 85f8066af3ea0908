"""The SQLite connection of the store: how it is opened and migrated, and the conventions every
statement on it follows (times as text, explicit write transactions).

Write transactions are `BEGIN IMMEDIATE`, so two processes sharing the file queue up rather
than deadlock when both try to upgrade a read to a write.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from watcher.store.schema import MIGRATIONS, SCHEMA_VERSION_TABLE

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
KEYS_PER_QUERY = 500  # stay well under SQLite's limit on bound variables


def in_chunks(keys: Sequence[T]) -> Iterator[tuple[list[T], str]]:
    """`keys` in slices small enough to bind, each with its `?, ?, …` for `IN (…)`."""
    for i in range(0, len(keys), KEYS_PER_QUERY):
        chunk = list(keys[i:i + KEYS_PER_QUERY])
        yield chunk, ", ".join("?" * len(chunk))


def to_text(moment: datetime) -> str:
    """ISO-8601 UTC in one fixed width, so that text order is time order. Naive means UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_text(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def as_time(text: str) -> datetime:
    """A NOT NULL time column."""
    return datetime.fromisoformat(text)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
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
    with transaction(conn):
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


def connect(path: Path) -> sqlite3.Connection:
    """Open the file (created if missing) and bring its schema up to date."""
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
