"""The SQLite schema, as numbered migrations applied in order and recorded in `schema_version`.

Append a new migration to change the schema; never edit one that has shipped. Every datetime
column holds ISO-8601 UTC text in one fixed format, so text order is time order.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (1, """
    CREATE TABLE feed_state (
        feed_id              TEXT PRIMARY KEY,
        url                  TEXT NOT NULL,
        etag                 TEXT,
        last_modified        TEXT,
        last_attempt         TEXT,
        last_success         TEXT,
        last_status          INTEGER,
        last_error           TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        entries_seen         INTEGER NOT NULL DEFAULT 0,
        next_poll            TEXT
    );

    -- Every article key ever seen (dedupe), with the article itself for backtesting rules.
    CREATE TABLE articles (
        key          TEXT PRIMARY KEY,
        published    TEXT,
        seen_at      TEXT NOT NULL,
        article_json TEXT NOT NULL
    );
    CREATE INDEX articles_seen_at ON articles (seen_at);

    -- One row per (alert, sink): written with its article, then delivered by the worker.
    CREATE TABLE outbox (
        id           INTEGER PRIMARY KEY,
        alert_id     TEXT NOT NULL,
        sink         TEXT NOT NULL,
        article_key  TEXT NOT NULL,
        rule_id      TEXT NOT NULL,
        severity     TEXT NOT NULL,
        alert_json   TEXT NOT NULL,
        status       TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'dead')),
        attempts     INTEGER NOT NULL DEFAULT 0,
        next_attempt TEXT NOT NULL,
        lease_until  TEXT,
        last_error   TEXT,
        created_at   TEXT NOT NULL,
        finished_at  TEXT,            -- when it was delivered or declared dead
        UNIQUE (alert_id, sink)
    );
    CREATE INDEX outbox_due ON outbox (next_attempt) WHERE status = 'pending';
    CREATE INDEX outbox_status ON outbox (status, id);
    """),
)

SCHEMA_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL
)
"""
