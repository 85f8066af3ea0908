"""What the store keeps for the desk (watcher/desk/): alerts indexed for filtering,
acknowledgements and silences.

Every alert queued in the outbox is indexed, by a trigger in the same transaction, into
`desk_alerts` (one row per alert, `seq` its place in arrival order) and `desk_facets` (one
row per (kind, value) the alert carries: its rule, severity, tags, places, groups, feed,
source and story). Filters and silences are both "this alert has this facet".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

FacetKind = Literal["rule", "severity", "tag", "place", "group", "feed", "source", "story"]
FACET_KINDS: tuple[FacetKind, ...] = ("rule", "severity", "tag", "place", "group", "feed",
                                      "source", "story")
# What a silence may match on (Alertmanager-like matchers, all of which must hold).
SILENCE_KINDS: tuple[FacetKind, ...] = ("rule", "severity", "tag", "place", "group", "feed",
                                        "story")

MAX_PAGE = 500


@dataclass(frozen=True)
class AlertQuery:
    """Which alerts, newest first. `facets` must all hold; `text` is a substring of the title
    (case-insensitive; on SQLite for ASCII letters only). `before`/`after` are `seq` cursors:
    older than, newer than."""

    facets: tuple[tuple[FacetKind, str], ...] = ()
    text: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None
    after: int | None = None
    limit: int = 50


@dataclass(frozen=True)
class Ack:
    id: int
    alert_id: str
    author: str
    note: str
    acked_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "alert_id": self.alert_id, "author": self.author,
                "note": self.note, "acked_at": self.acked_at.isoformat()}


@dataclass(frozen=True)
class Silence:
    """Mutes the alerts that carry every one of `matchers` while starts_at <= t < ends_at.
    Expiring one moves its end to the moment it was expired."""

    id: int
    matchers: tuple[tuple[FacetKind, str], ...]
    starts_at: datetime
    ends_at: datetime
    author: str
    reason: str
    created_at: datetime

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def state(self, now: datetime) -> str:
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def to_dict(self, now: datetime) -> dict[str, Any]:
        return {"id": self.id,
                "matchers": [{"kind": k, "value": v} for k, v in self.matchers],
                "starts_at": self.starts_at.isoformat(), "ends_at": self.ends_at.isoformat(),
                "author": self.author, "reason": self.reason,
                "created_at": self.created_at.isoformat(), "state": self.state(now)}


@dataclass(frozen=True)
class DeskAlert:
    """One alert as the desk shows it: the stored alert JSON as it was queued (fields newer
    code added pass through), when it arrived, its latest ack and the silences muting it."""

    seq: int
    alert: dict[str, Any]
    arrived_at: datetime
    ack: Ack | None = None
    silenced_by: tuple[int, ...] = field(default=())


@dataclass(frozen=True)
class StoryRecord:
    id: str
    alerts: int
    first_arrived: datetime
    last_arrived: datetime
