"""What the store hands back besides the stage values of models.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from watcher.models import Alert, Article, Delivery, FeedState

OutboxStatus = Literal["pending", "delivered", "dead"]
OUTBOX_STATUSES: tuple[OutboxStatus, ...] = ("pending", "delivered", "dead")


@dataclass(frozen=True)
class OutboxRecord:
    """One outbox row as `watcher alerts` shows it. `alert` is None if the row is unreadable."""

    id: int
    alert: Alert | None
    sink: str
    status: OutboxStatus
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt: datetime
    finished_at: datetime | None
    route: str = ""  # the route that chose the sink; '' for notify or default_sinks


@dataclass(frozen=True)
class PollRecord:
    """What one poll of one feed writes: its new state and, when the feed had news, its
    unseen articles and the deliveries of their alerts (recorded as `record_articles` does).
    `Store.record_polls` writes many of them in one transaction (store/batching.py), adding
    the articles it records as new to the state's `entries_seen`."""

    state: FeedState
    articles: Sequence[Article] = ()
    deliveries: Sequence[Delivery] = ()
    now: datetime | None = None  # when the articles were seen; needed only with articles
