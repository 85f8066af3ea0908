"""What replicas sharing one store know of each other: who runs, with which rules, who polls
which feeds, what waits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ReplicaView:
    """One replica, as the feed leases it took show it."""

    replica_id: str
    feeds_leased: int  # polls it is running now (lease not yet expired)
    feeds_polled: int  # feeds whose latest poll was its own
    last_claim: datetime | None  # when it last started a poll: is it alive?


@dataclass(frozen=True)
class ClusterView:
    """Every replica that has polled a feed of this store, and the outbox they share."""

    replicas: list[ReplicaView] = field(default_factory=list)
    outbox: dict[str, int] = field(default_factory=dict)  # rows by status
    deliveries_in_flight: int = 0  # pending rows a worker holds a lease on

    def live(self, now: datetime, within: float) -> list[ReplicaView]:
        """Replicas that started a poll in the last `within` seconds."""
        return [r for r in self.replicas
                if r.last_claim is not None and (now - r.last_claim).total_seconds() <= within]


@dataclass(frozen=True)
class ReplicaRecord:
    """What a running service wrote of itself (`replicas` table): on start, after every rule
    (re)load and as a heartbeat, so `watcher status` shows what the service has loaded rather
    than what the rule files on disk say now."""

    replica_id: str
    version: str
    started_at: datetime
    heartbeat_at: datetime
    rules_loaded: int = 0
    rules: dict[str, Any] = field(default_factory=dict)  # reload.RulesStatus.to_dict()
    stopped_at: datetime | None = None  # set on a graceful stop

    def heartbeat_age(self, now: datetime) -> float:
        return max((now - self.heartbeat_at).total_seconds(), 0.0)

    def is_live(self, now: datetime, within: float) -> bool:
        """Running: not stopped, and its last heartbeat at most `within` seconds old."""
        return self.stopped_at is None and self.heartbeat_age(now) <= within
