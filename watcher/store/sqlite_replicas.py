"""The `replicas` table on SQLite: what each running service wrote of itself (service/heartbeat.py).

The statements `SqliteStore` runs for it; times are the store's ISO text (sqlite_conn).
"""

from __future__ import annotations

import json
import sqlite3

from watcher.store.cluster import ReplicaRecord
from watcher.store.sqlite_conn import as_time, from_text, to_text

_SAVE = """
INSERT INTO replicas (replica_id, version, started_at, heartbeat_at, stopped_at, rules_loaded,
                      rules_json)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (replica_id) DO UPDATE SET
    version = excluded.version, started_at = excluded.started_at,
    heartbeat_at = excluded.heartbeat_at, stopped_at = excluded.stopped_at,
    rules_loaded = excluded.rules_loaded, rules_json = excluded.rules_json
"""


def save_replica(conn: sqlite3.Connection, record: ReplicaRecord) -> None:
    stopped = to_text(record.stopped_at) if record.stopped_at else None
    conn.execute(_SAVE, (record.replica_id, record.version, to_text(record.started_at),
                         to_text(record.heartbeat_at), stopped, record.rules_loaded,
                         json.dumps(record.rules)))


def stop_replica(conn: sqlite3.Connection, replica_id: str, now: str) -> None:
    conn.execute("UPDATE replicas SET stopped_at = ?, heartbeat_at = ? WHERE replica_id = ?",
                 (now, now, replica_id))


def list_replicas(conn: sqlite3.Connection, since: str) -> list[ReplicaRecord]:
    rows = conn.execute("SELECT replica_id, version, started_at, heartbeat_at, stopped_at, "
                        "rules_loaded, rules_json FROM replicas WHERE heartbeat_at >= ? "
                        "ORDER BY replica_id", (since,))
    return [ReplicaRecord(r[0], r[1], as_time(r[2]), as_time(r[3]), r[5], json.loads(r[6]),
                          from_text(r[4])) for r in rows]


def forget_replicas(conn: sqlite3.Connection, before: str) -> int:
    return conn.execute("DELETE FROM replicas WHERE heartbeat_at < ?", (before,)).rowcount
