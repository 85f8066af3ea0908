"""Feed leases and the cluster view on SQLite: the statements `SqliteStore` runs for them.

One process is the usual SQLite deployment, so a lease mostly records who polled what; the
claim is still an atomic upsert in a write transaction, correct for processes sharing a file.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from watcher.store.cluster import ClusterView, ReplicaView
from watcher.store.records import OUTBOX_STATUSES

# The conflict branch is taken only when the WHERE holds: due, and not leased by another
# replica whose lease is still running.
_CLAIM_FEED = """
INSERT INTO feed_state (feed_id, url, lease_owner, lease_until, leased_at)
VALUES (:feed, '', :owner, :until, :now)
ON CONFLICT (feed_id) DO UPDATE
    SET lease_owner = excluded.lease_owner, lease_until = excluded.lease_until,
        leased_at = excluded.leased_at
    WHERE (feed_state.next_poll IS NULL OR feed_state.next_poll <= :due_by)
      AND (feed_state.lease_until IS NULL OR feed_state.lease_until <= :now
           OR feed_state.lease_owner = :owner)
RETURNING 1
"""


def claim_feed(conn: sqlite3.Connection, feed_id: str, replica_id: str, now: str,
               until: str, due_by: str) -> bool:
    """Times are the store's ISO text (sqlite_conn.to_text)."""
    params = {"feed": feed_id, "owner": replica_id, "now": now, "until": until,
              "due_by": due_by}
    conn.execute("BEGIN IMMEDIATE")
    try:
        claimed = conn.execute(_CLAIM_FEED, params).fetchone() is not None
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return claimed


def release_feed(conn: sqlite3.Connection, feed_id: str, replica_id: str) -> None:
    conn.execute("UPDATE feed_state SET lease_until = NULL WHERE feed_id = ? AND lease_owner = ?",
                 (feed_id, replica_id))


def cluster_view(conn: sqlite3.Connection, stamp: str) -> ClusterView:
    replicas = [ReplicaView(owner, leased, polled, datetime.fromisoformat(last) if last else None)
                for owner, leased, polled, last in conn.execute(
                    "SELECT lease_owner, coalesce(sum(lease_until > ?), 0), count(*), "
                    "max(leased_at) "
                    "FROM feed_state WHERE lease_owner IS NOT NULL "
                    "GROUP BY lease_owner ORDER BY lease_owner", (stamp,))]
    counts: dict[str, int] = dict.fromkeys(OUTBOX_STATUSES, 0)
    in_flight = 0
    for status, n, leased in conn.execute(
            "SELECT status, count(*), sum(lease_until > ?) FROM outbox GROUP BY status",
            (stamp,)):
        counts[status] = n
        in_flight += (leased or 0) if status == "pending" else 0
    return ClusterView(replicas, counts, in_flight)
