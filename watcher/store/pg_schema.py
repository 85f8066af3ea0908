"""The PostgreSQL schema, as numbered migrations applied in order and recorded in
`schema_version`, under an advisory lock so that replicas starting together apply each once.

Append a new migration to change the schema; never edit one that has shipped. The tables
mirror SQLite's (schema.py) with native types: timestamptz for times, identity ids. The
tables live in the first schema of the connection's `search_path` (created if missing), so
one database can hold several independent watchers: `?options=-csearch_path%3Dname` in the URL.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

# Two-key advisory lock: this namespace, then a hash of the schema name, so watchers in
# different schemas of one database never wait for each other's migrations.
LOCK_NAMESPACE = 0x57A7C4

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (1, """
    CREATE TABLE feed_state (
        feed_id              text PRIMARY KEY,
        url                  text NOT NULL,
        etag                 text,
        last_modified        text,
        last_attempt         timestamptz,
        last_success         timestamptz,
        last_status          integer,
        last_error           text,
        consecutive_failures integer NOT NULL DEFAULT 0,
        entries_seen         integer NOT NULL DEFAULT 0,
        next_poll            timestamptz,
        moved_to             text,          -- new URL after a permanent redirect
        last_warning         text,          -- a recovered problem, kept apart from errors
        failing_since        timestamptz,   -- first failure of the current run
        -- The replica polling it now (until lease_until), or that polled it last.
        lease_owner          text,
        lease_until          timestamptz,
        leased_at            timestamptz
    );

    -- Every article key ever seen (dedupe), with the article itself for backtesting rules.
    CREATE TABLE articles (
        key          text PRIMARY KEY,
        published    timestamptz,
        seen_at      timestamptz NOT NULL,
        article_json text NOT NULL
    );
    CREATE INDEX articles_seen_at ON articles (seen_at);

    -- One row per (alert, sink). alert_id hashes (rule id, article key), so the unique
    -- constraint makes one (rule, article) one alert, whichever replica saw it first.
    CREATE TABLE outbox (
        id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        alert_id     text NOT NULL,
        sink         text NOT NULL,
        article_key  text NOT NULL,
        rule_id      text NOT NULL,
        severity     text NOT NULL,
        alert_json   text NOT NULL,
        status       text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'dead')),
        attempts     integer NOT NULL DEFAULT 0,
        next_attempt timestamptz NOT NULL,
        lease_until  timestamptz,
        last_error   text,
        created_at   timestamptz NOT NULL,
        finished_at  timestamptz,
        requeued_at  timestamptz,
        UNIQUE (alert_id, sink)
    );
    CREATE INDEX outbox_due ON outbox (next_attempt) WHERE status = 'pending';
    CREATE INDEX outbox_status ON outbox (status, id);

    -- Stories already alerted (quiet.py): a canonical URL, or a title from one source.
    CREATE TABLE story_marks (
        story_key  text PRIMARY KEY,
        alerted_at timestamptz NOT NULL
    );
    """),
    (7, """
    -- Batches (grouping.py): rows held over their sink's max_per_hour ('cap'), and the
    -- message a row went out in (the smallest row id of that message; NULL when alone).
    ALTER TABLE outbox ADD COLUMN held text;
    ALTER TABLE outbox ADD COLUMN batch_id bigint;
    CREATE INDEX outbox_sink_pending ON outbox (sink, created_at) WHERE status = 'pending';
    CREATE INDEX outbox_sink_sent ON outbox (sink, finished_at) WHERE status = 'delivered';
    """),
    (8, """
    -- The route that chose the row's sink ('' for rule notify or default_sinks): a route
    -- with its own group_wait or max_per_hour groups and caps its rows apart (grouping.py).
    ALTER TABLE outbox ADD COLUMN route text NOT NULL DEFAULT '';
    """),
    (9, """
    -- Other names of seen articles (parse.py: canonical link, guid): an article is seen when
    -- its key or any alias was recorded, so a story re-published under a new key is not new.
    CREATE TABLE article_aliases (
        alias       text PRIMARY KEY,
        article_key text NOT NULL
    );
    """),
    (10, """
    -- Running services (heartbeat.py): each replica's version, its rules as it has loaded
    -- them (RulesStatus as JSON), written on start, after each rule load, every few seconds
    -- as a heartbeat, and marked stopped on a graceful stop. Read by `watcher status`.
    CREATE TABLE replicas (
        replica_id   text PRIMARY KEY,
        version      text NOT NULL,
        started_at   timestamptz NOT NULL,
        heartbeat_at timestamptz NOT NULL,
        stopped_at   timestamptz,
        rules_loaded integer NOT NULL DEFAULT 0,
        rules_json   text NOT NULL DEFAULT '{}'
    );
    """),
    (11, """
    -- A digest of the last body read (pipeline.py): a server that ignores conditional requests
    -- and sends the same document again costs a hash, not a parse.
    ALTER TABLE feed_state ADD COLUMN body_hash text;
    """),
    (12, """
    -- Stories (watcher/stories/): articles of one event across outlets. An article is in
    -- one story (its key is the primary key), and replicas place articles under a lock
    -- (postgres_stories.py), so they agree on every story.
    CREATE TABLE stories (
        story_id   text PRIMARY KEY,
        first_seen timestamptz NOT NULL,
        last_seen  timestamptz NOT NULL,
        articles   integer NOT NULL DEFAULT 0
    );
    CREATE TABLE story_articles (
        article_key text PRIMARY KEY,
        story_id    text NOT NULL,
        source      text NOT NULL,
        url         text,
        title       text NOT NULL,
        at          timestamptz NOT NULL,
        signature   text NOT NULL
    );
    CREATE INDEX story_articles_story ON story_articles (story_id, at);
    -- Where later articles look for stories to join: places, groups, MinHash bands.
    CREATE TABLE story_keys (
        key         text NOT NULL,
        article_key text NOT NULL,
        at          timestamptz NOT NULL,
        PRIMARY KEY (key, article_key)
    );
    -- Delivery per story (stories/gates.py): each gate is held by the first article to take it.
    CREATE TABLE story_gates (
        gate        text PRIMARY KEY,
        article_key text NOT NULL,
        taken_at    timestamptz NOT NULL
    );
    """),
    (13, """
    -- The desk (watcher/desk/, store/desk_records.py): every alert queued in the outbox is
    -- indexed by the trigger below, in the same transaction, whichever replica queued it:
    -- one row per alert (seq = arrival order; its JSON stays in the outbox row outbox_id)
    -- and one row per facet it carries, which filters and silences match on.
    CREATE TABLE desk_alerts (
        seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        alert_id   text NOT NULL UNIQUE,
        outbox_id  bigint NOT NULL,
        arrived_at timestamptz NOT NULL,
        title      text NOT NULL  -- lower case: LIKE is several times faster than ILIKE
    );
    CREATE INDEX desk_alerts_arrived ON desk_alerts (arrived_at);
    CREATE TABLE desk_facets (
        kind  text NOT NULL,
        value text NOT NULL,
        seq   bigint NOT NULL,
        PRIMARY KEY (kind, value, seq)
    );
    CREATE INDEX desk_facets_seq ON desk_facets (seq);

    CREATE FUNCTION desk_facets_of(alert jsonb, rule_id text, severity text, feed text)
    RETURNS TABLE (kind text, value text) LANGUAGE sql IMMUTABLE AS $$
        SELECT f.kind, f.value FROM (
            SELECT 'rule' AS kind, rule_id AS value
            UNION ALL SELECT 'severity', severity
            UNION ALL SELECT 'tag', t FROM jsonb_array_elements_text(
                coalesce(alert #> '{rule,tags}', '[]'::jsonb)) AS t
            UNION ALL SELECT 'place', p ->> 'name' FROM jsonb_array_elements(
                coalesce(alert -> 'places', '[]'::jsonb)) AS p
            UNION ALL SELECT 'group', g ->> 'name' FROM jsonb_array_elements(
                coalesce(alert -> 'groups', '[]'::jsonb)) AS g
            UNION ALL SELECT 'source', alert #>> '{article,source}'
            UNION ALL SELECT 'story', alert #>> '{story,id}'
            UNION ALL SELECT 'feed', feed
        ) AS f
        WHERE f.value IS NOT NULL AND f.value <> ''
    $$;

    CREATE FUNCTION desk_index_alert() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        alert jsonb := NEW.alert_json::jsonb;
        new_seq bigint;
    BEGIN
        INSERT INTO desk_alerts (alert_id, outbox_id, arrived_at, title)
        VALUES (NEW.alert_id, NEW.id, NEW.created_at,
                lower(coalesce(alert #>> '{article,title}', '')))
        ON CONFLICT (alert_id) DO NOTHING
        RETURNING seq INTO new_seq;
        IF new_seq IS NOT NULL THEN
            INSERT INTO desk_facets (kind, value, seq)
            SELECT DISTINCT f.kind, f.value, new_seq
            FROM desk_facets_of(alert, NEW.rule_id, NEW.severity,
                                (SELECT a.article_json::jsonb ->> 'feed' FROM articles a
                                 WHERE a.key = NEW.article_key)) AS f;
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER desk_index_alert AFTER INSERT ON outbox
        FOR EACH ROW EXECUTE FUNCTION desk_index_alert();

    -- Acknowledgements: who handled an alert, when, with a note (the latest one shows).
    CREATE TABLE acks (
        id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        alert_id text NOT NULL,
        author   text NOT NULL,
        note     text NOT NULL DEFAULT '',
        acked_at timestamptz NOT NULL
    );
    CREATE INDEX acks_alert ON acks (alert_id, id);

    -- Silences: alerts carrying every matcher of a silence active when they arrive are kept
    -- and shown silenced, and their outbox rows are not sent (silenced_by says which).
    CREATE TABLE silences (
        id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        starts_at  timestamptz NOT NULL,
        ends_at    timestamptz NOT NULL,
        author     text NOT NULL,
        reason     text NOT NULL,
        created_at timestamptz NOT NULL
    );
    CREATE INDEX silences_ends ON silences (ends_at);
    CREATE TABLE silence_matchers (
        silence_id bigint NOT NULL,
        kind       text NOT NULL,
        value      text NOT NULL,
        PRIMARY KEY (silence_id, kind, value)
    );
    ALTER TABLE outbox ADD COLUMN silenced_by bigint;

    -- Alerts queued before this migration, indexed like new ones.
    INSERT INTO desk_alerts (alert_id, outbox_id, arrived_at, title)
    SELECT alert_id, id, created_at, title FROM (
        SELECT DISTINCT ON (alert_id) alert_id, id, created_at,
               lower(coalesce(alert_json::jsonb #>> '{article,title}', '')) AS title
        FROM outbox ORDER BY alert_id, id) AS first
    ORDER BY id;
    INSERT INTO desk_facets (kind, value, seq)
    SELECT DISTINCT f.kind, f.value, d.seq
    FROM desk_alerts d JOIN outbox o ON o.id = d.outbox_id
         LEFT JOIN articles a ON a.key = o.article_key,
         desk_facets_of(o.alert_json::jsonb, o.rule_id, o.severity,
                        a.article_json::jsonb ->> 'feed') AS f;
    """),
    (14, """
    -- WebSub subscriptions (store/subscriptions.py): one per feed with a hub, shared by
    -- replicas; `token` names it in the callback URL, `secret` checks pushes' signatures.
    CREATE TABLE websub_subscriptions (
        feed_id       text PRIMARY KEY,
        hub           text NOT NULL,
        topic         text NOT NULL,
        token         text NOT NULL UNIQUE,
        secret        text NOT NULL,
        state         text NOT NULL,
        lease_seconds integer,
        expires_at    timestamptz,
        requested_at  timestamptz,
        verified_at   timestamptz,
        last_push_at  timestamptz,
        last_error    text
    );
    """),
    (15, """
    -- Story retention (sqlite_stories.py, postgres_stories.py): keys and gates older than the
    -- stories a new article can still join are deleted by time, with each placement.
    CREATE INDEX story_keys_at ON story_keys (at);
    CREATE INDEX story_gates_taken ON story_gates (taken_at);
    """),
)

SCHEMA_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


async def target_schema(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> str:
    """The schema the tables belong in: the first of the search_path."""
    cur = await conn.execute("SELECT current_setting('search_path'), current_schema()")
    row = await cur.fetchone()
    assert row is not None
    first = str(row[0]).split(",")[0].strip()
    if not first or first == '"$user"':  # the default path: where PostgreSQL puts tables
        return str(row[1] or "public")
    return first.strip('"')


async def migrate(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> int:
    """Create the schema if needed and apply every migration not yet recorded; returns the
    highest version. `conn` is in autocommit mode; each migration is its own transaction."""
    schema = await target_schema(conn)
    await conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (LOCK_NAMESPACE, schema))
    try:
        await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
            sql.Identifier(schema)))
        await conn.execute(SCHEMA_VERSION_TABLE)
        cur = await conn.execute("SELECT version FROM schema_version")
        applied = {int(r[0]) for r in await cur.fetchall()}  # type: ignore[call-overload]
        for version, script in sorted(MIGRATIONS):
            if version in applied:
                continue
            async with conn.transaction():
                await conn.execute(script.encode())  # no parameters: several statements
                await conn.execute("INSERT INTO schema_version (version) VALUES (%s)",
                                   (version,))
            applied.add(version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))",
                           (LOCK_NAMESPACE, schema))
    return max(applied, default=0)
