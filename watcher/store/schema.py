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
    (2, """
    -- Feed health: where a feed moved to (permanent redirect; polled there from then on),
    -- a recovered problem kept apart from errors, and since when the feed has been failing.
    ALTER TABLE feed_state ADD COLUMN moved_to TEXT;
    ALTER TABLE feed_state ADD COLUMN last_warning TEXT;
    ALTER TABLE feed_state ADD COLUMN failing_since TEXT;
    """),
    (3, """
    -- When `watcher alerts retry` last put the row back in the queue: its max_age counts
    -- from then, not from when it was first queued.
    ALTER TABLE outbox ADD COLUMN requeued_at TEXT;
    """),
    (4, """
    -- Stories already alerted (quiet.py): a canonical URL, or a title from one source.
    CREATE TABLE story_marks (
        story_key  TEXT PRIMARY KEY,
        alerted_at TEXT NOT NULL
    );
    """),
    (5, """
    -- Feed leases (sqlite_leases.py): the replica polling a feed now (until lease_until),
    -- or that polled it last, and when it started.
    ALTER TABLE feed_state ADD COLUMN lease_owner TEXT;
    ALTER TABLE feed_state ADD COLUMN lease_until TEXT;
    ALTER TABLE feed_state ADD COLUMN leased_at TEXT;
    """),
    (6, """
    -- Batches (grouping.py): rows held over their sink's max_per_hour ('cap'), and the
    -- message a row went out in (the smallest row id of that message; NULL when alone).
    ALTER TABLE outbox ADD COLUMN held TEXT;
    ALTER TABLE outbox ADD COLUMN batch_id INTEGER;
    CREATE INDEX outbox_sink_pending ON outbox (sink, created_at) WHERE status = 'pending';
    CREATE INDEX outbox_sink_sent ON outbox (sink, finished_at) WHERE status = 'delivered';
    """),
    (7, """
    -- The route that chose the row's sink ('' for rule notify or default_sinks): a route
    -- with its own group_wait or max_per_hour groups and caps its rows apart (grouping.py).
    ALTER TABLE outbox ADD COLUMN route TEXT NOT NULL DEFAULT '';
    """),
    (8, """
    -- Other names of seen articles (parse.py: canonical link, guid): an article is seen when
    -- its key or any alias was recorded, so a story re-published under a new key is not new.
    CREATE TABLE article_aliases (
        alias       TEXT PRIMARY KEY,
        article_key TEXT NOT NULL
    );
    """),
    (9, """
    -- Running services (heartbeat.py): each replica's version, its rules as it has loaded
    -- them (RulesStatus as JSON), written on start, after each rule load, every few seconds
    -- as a heartbeat, and marked stopped on a graceful stop. Read by `watcher status`.
    CREATE TABLE replicas (
        replica_id   TEXT PRIMARY KEY,
        version      TEXT NOT NULL,
        started_at   TEXT NOT NULL,
        heartbeat_at TEXT NOT NULL,
        stopped_at   TEXT,
        rules_loaded INTEGER NOT NULL DEFAULT 0,
        rules_json   TEXT NOT NULL DEFAULT '{}'
    );
    """),
    (10, """
    -- A digest of the last body read (pipeline.py): a server that ignores conditional requests
    -- and sends the same document again costs a hash, not a parse.
    ALTER TABLE feed_state ADD COLUMN body_hash TEXT;
    """),
    (11, """
    -- Stories (watcher/stories/): articles of one event across outlets. An article is in
    -- one story (its key is the primary key), so replicas cannot place it twice.
    CREATE TABLE stories (
        story_id   TEXT PRIMARY KEY,
        first_seen TEXT NOT NULL,
        last_seen  TEXT NOT NULL,
        articles   INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE story_articles (
        article_key TEXT PRIMARY KEY,
        story_id    TEXT NOT NULL,
        source      TEXT NOT NULL,
        url         TEXT,
        title       TEXT NOT NULL,
        at          TEXT NOT NULL,
        signature   TEXT NOT NULL
    );
    CREATE INDEX story_articles_story ON story_articles (story_id, at);
    -- Where later articles look for stories to join: places, groups, MinHash bands.
    CREATE TABLE story_keys (
        key         TEXT NOT NULL,
        article_key TEXT NOT NULL,
        at          TEXT NOT NULL,
        PRIMARY KEY (key, article_key)
    );
    -- Delivery per story (stories/gates.py): each gate is held by the first article to take it.
    CREATE TABLE story_gates (
        gate        TEXT PRIMARY KEY,
        article_key TEXT NOT NULL,
        taken_at    TEXT NOT NULL
    );
    """),
    (12, """
    -- The desk (watcher/desk/, store/desk_records.py): every alert queued in the outbox is
    -- indexed by the trigger below, in the same transaction, whoever queued it: one row per
    -- alert (seq = arrival order; its JSON stays in the outbox row outbox_id) and one row
    -- per facet it carries, which filters and silences match on.
    CREATE TABLE desk_alerts (
        seq        INTEGER PRIMARY KEY,
        alert_id   TEXT NOT NULL UNIQUE,
        outbox_id  INTEGER NOT NULL,
        arrived_at TEXT NOT NULL,
        title      TEXT NOT NULL
    );
    CREATE INDEX desk_alerts_arrived ON desk_alerts (arrived_at);
    CREATE TABLE desk_facets (
        kind  TEXT NOT NULL,
        value TEXT NOT NULL,
        seq   INTEGER NOT NULL,
        PRIMARY KEY (kind, value, seq)
    ) WITHOUT ROWID;
    CREATE INDEX desk_facets_seq ON desk_facets (seq);

    CREATE TRIGGER desk_index_alert AFTER INSERT ON outbox
    WHEN NOT EXISTS (SELECT 1 FROM desk_alerts WHERE alert_id = NEW.alert_id)
    BEGIN
        INSERT INTO desk_alerts (alert_id, outbox_id, arrived_at, title)
        VALUES (NEW.alert_id, NEW.id, NEW.created_at,
                coalesce(json_extract(NEW.alert_json, '$.article.title'), ''));
        INSERT OR IGNORE INTO desk_facets (kind, value, seq)
        SELECT f.kind, f.value, (SELECT seq FROM desk_alerts WHERE alert_id = NEW.alert_id)
        FROM (
            SELECT 'rule' AS kind, NEW.rule_id AS value
            UNION ALL SELECT 'severity', NEW.severity
            UNION ALL SELECT 'tag', value FROM json_each(NEW.alert_json, '$.rule.tags')
            UNION ALL SELECT 'place', json_extract(value, '$.name')
                      FROM json_each(NEW.alert_json, '$.places')
            UNION ALL SELECT 'group', json_extract(value, '$.name')
                      FROM json_each(NEW.alert_json, '$.groups')
            UNION ALL SELECT 'source', json_extract(NEW.alert_json, '$.article.source')
            UNION ALL SELECT 'story', json_extract(NEW.alert_json, '$.story.id')
            UNION ALL SELECT 'feed', json_extract(article_json, '$.feed')
                      FROM articles WHERE key = NEW.article_key
        ) AS f
        WHERE f.value IS NOT NULL AND f.value <> '';
    END;

    -- Acknowledgements: who handled an alert, when, with a note (the latest one shows).
    CREATE TABLE acks (
        id       INTEGER PRIMARY KEY,
        alert_id TEXT NOT NULL,
        author   TEXT NOT NULL,
        note     TEXT NOT NULL DEFAULT '',
        acked_at TEXT NOT NULL
    );
    CREATE INDEX acks_alert ON acks (alert_id, id);

    -- Silences: alerts carrying every matcher of a silence active when they arrive are kept
    -- and shown silenced, and their outbox rows are not sent (silenced_by says which).
    CREATE TABLE silences (
        id         INTEGER PRIMARY KEY,
        starts_at  TEXT NOT NULL,
        ends_at    TEXT NOT NULL,
        author     TEXT NOT NULL,
        reason     TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX silences_ends ON silences (ends_at);
    CREATE TABLE silence_matchers (
        silence_id INTEGER NOT NULL,
        kind       TEXT NOT NULL,
        value      TEXT NOT NULL,
        PRIMARY KEY (silence_id, kind, value)
    );
    ALTER TABLE outbox ADD COLUMN silenced_by INTEGER;

    -- Alerts queued before this migration, indexed like new ones.
    INSERT INTO desk_alerts (alert_id, outbox_id, arrived_at, title)
    SELECT o.alert_id, o.id, o.created_at,
           coalesce(json_extract(o.alert_json, '$.article.title'), '')
    FROM outbox o JOIN (SELECT min(id) AS id FROM outbox GROUP BY alert_id) AS first
         ON first.id = o.id
    WHERE json_valid(o.alert_json)
    ORDER BY o.id;
    INSERT OR IGNORE INTO desk_facets (kind, value, seq)
    SELECT f.kind, f.value, f.seq FROM (
        SELECT 'rule' AS kind, o.rule_id AS value, d.seq AS seq
        FROM desk_alerts d JOIN outbox o ON o.id = d.outbox_id
        UNION ALL SELECT 'severity', o.severity, d.seq
        FROM desk_alerts d JOIN outbox o ON o.id = d.outbox_id
        UNION ALL SELECT 'tag', j.value, d.seq
        FROM desk_alerts d JOIN outbox o ON o.id = d.outbox_id,
             json_each(o.alert_json, '$.rule.tags') AS j
        UNION ALL SELECT 'place', json_extract(j.value, '$.name'), d.seq
        FROM desk_alerts d JOIN outbox o ON o.id = d.outbox_id,
             json_each(o.alert_json, '$.places') AS j
        UNION ALL SELECT 'group', json_extract(j.value, '$.name'), d.seq
        FROM desk_alerts d JOIN outbox o ON o.id = d.outbox_id,
             json_each(o.alert_json, '$.groups') AS j
        UNION ALL SELECT 'source', json_extract(o.alert_json, '$.article.source'), d.seq
        FROM desk_alerts d JOIN outbox o ON o.id = d.outbox_id
        UNION ALL SELECT 'story', json_extract(o.alert_json, '$.story.id'), d.seq
        FROM desk_alerts d JOIN outbox o ON o.id = d.outbox_id
        UNION ALL SELECT 'feed', json_extract(a.article_json, '$.feed'), d.seq
        FROM desk_alerts d JOIN outbox o ON o.id = d.outbox_id
             JOIN articles a ON a.key = o.article_key
    ) AS f
    WHERE f.value IS NOT NULL AND f.value <> '';
    """),
    (13, """
    -- WebSub subscriptions (store/subscriptions.py): one per feed with a hub, shared by
    -- replicas; `token` names it in the callback URL, `secret` checks pushes' signatures.
    CREATE TABLE websub_subscriptions (
        feed_id       TEXT PRIMARY KEY,
        hub           TEXT NOT NULL,
        topic         TEXT NOT NULL,
        token         TEXT NOT NULL UNIQUE,
        secret        TEXT NOT NULL,
        state         TEXT NOT NULL,
        lease_seconds INTEGER,
        expires_at    TEXT,
        requested_at  TEXT,
        verified_at   TEXT,
        last_push_at  TEXT,
        last_error    TEXT
    );
    """),
    (14, """
    -- Story retention (sqlite_stories.py, postgres_stories.py): keys and gates older than the
    -- stories a new article can still join are deleted by time, with each placement.
    CREATE INDEX story_keys_at ON story_keys (at);
    CREATE INDEX story_gates_taken ON story_gates (taken_at);
    """),
)

SCHEMA_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL
)
"""
