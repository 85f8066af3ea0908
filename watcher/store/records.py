"""What the store hands back besides the stage values of models.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from watcher.models import Alert

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
