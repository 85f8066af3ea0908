"""No one flooded: which alerts go out together, when, and what a summary says. Pure: no I/O,
no clock (`now` is passed in).

    group_wait    alerts of one sink within the wait of the first go out as one digest
    digest sink   alerts of one period go out as one digest at the period's end
    max_per_hour  over the cap, alerts are held and then sent as one summary

Held alerts stay in the outbox, pending, due when their batch is (`due_at`), so a restart
loses nothing: the delivery worker (deliver.py, batch_send.py) finds them there.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from .config import Config, DigestSink, EmailSink, SlackSink, TeamsSink, WebhookSink
from .models import SEVERITIES, Alert, Severity

HOUR = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_ALERTS_PER_MESSAGE = 40  # a bigger batch goes out in several messages (Slack: 50 blocks)
DIGEST_SCHEMA = "watcher.digest/v1"
SUMMARY_SCHEMA = "watcher.summary/v1"


@dataclass(frozen=True)
class DigestSchedule:
    """When a digest sink sends: every `every` seconds since midnight UTC, or daily at
    `daily_at` in `zone`."""

    every: float | None = None
    daily_at: time | None = None
    zone: str = "UTC"

    def next_after(self, moment: datetime) -> datetime:
        """The first send time strictly after `moment`."""
        if self.every is not None:
            step = timedelta(seconds=self.every)
            return EPOCH + step * ((moment - EPOCH) // step + 1)
        assert self.daily_at is not None
        local = moment.astimezone(ZoneInfo(self.zone))
        send = datetime.combine(local.date(), self.daily_at, local.tzinfo)
        while send <= local:
            send = datetime.combine(send.date() + timedelta(days=1), self.daily_at, local.tzinfo)
        return send.astimezone(UTC)

    def last_at_or_before(self, moment: datetime) -> datetime:
        """The latest send time at or before `moment`: the end of the period now due."""
        if self.every is not None:
            step = timedelta(seconds=self.every)
            return EPOCH + step * ((moment - EPOCH) // step)
        assert self.daily_at is not None
        local = moment.astimezone(ZoneInfo(self.zone))
        send = datetime.combine(local.date(), self.daily_at, local.tzinfo)
        if send > local:
            send = datetime.combine(send.date() - timedelta(days=1), self.daily_at, local.tzinfo)
        return send.astimezone(UTC)


@dataclass(frozen=True)
class BatchPolicy:
    """How one sink's alerts are batched and capped. The default sends each alert alone."""

    group_wait: float = 0.0
    max_per_hour: int | None = None
    schedule: DigestSchedule | None = None

    @property
    def batches(self) -> bool:
        """Whether alerts go out together (a digest) rather than one message each."""
        return self.group_wait > 0 or self.schedule is not None

    def due_at(self, created_at: datetime) -> datetime:
        """When an alert queued at `created_at` may be sent with its batch."""
        if self.schedule is not None:
            return self.schedule.next_after(created_at)
        return created_at + timedelta(seconds=self.group_wait)

    def cutoff(self, now: datetime) -> datetime:
        """A batch sent at `now` takes the alerts queued before this: everything queued so
        far for a group, the periods that have ended for a digest."""
        if self.schedule is not None:
            return self.schedule.last_at_or_before(now)
        return now + timedelta(seconds=1)


def cap_free_at(sent: Sequence[datetime], max_per_hour: int | None,
                now: datetime) -> datetime | None:
    """None if one more message fits under the cap now (`sent`: when each message of the last
    hour went out); else when it will."""
    recent = sorted(t for t in sent if t > now - HOUR)
    if max_per_hour is None or len(recent) < max_per_hour:
        return None
    return recent[len(recent) - max_per_hour] + HOUR


def batch_policies(config: Config) -> dict[str, BatchPolicy]:
    """The policy of every sink that batches or caps, by sink name."""
    policies: dict[str, BatchPolicy] = {}
    for sink in config.sinks:
        if isinstance(sink, DigestSink):
            at = time.fromisoformat(sink.daily_at) if sink.daily_at else None
            policies[sink.name] = BatchPolicy(schedule=DigestSchedule(sink.every, at,
                                                                      sink.timezone))
        elif isinstance(sink, WebhookSink | SlackSink | TeamsSink | EmailSink) and (
                sink.group_wait > 0 or sink.max_per_hour is not None):
            policies[sink.name] = BatchPolicy(sink.group_wait, sink.max_per_hour)
    return policies


@dataclass(frozen=True)
class Batch:
    """Alerts sent to one sink in one message: a digest (each alert in full) or a summary of
    alerts held over the cap (counts and titles)."""

    sink: str
    kind: Literal["digest", "summary"]
    alerts: tuple[Alert, ...]

    @property
    def key(self) -> str:
        """The same for the same alerts: the idempotency key of the message."""
        ids = "\n".join(sorted(a.alert_id for a in self.alerts))
        return f"{self.kind}-" + hashlib.sha256(ids.encode()).hexdigest()[:32]

    @property
    def schema(self) -> str:
        return DIGEST_SCHEMA if self.kind == "digest" else SUMMARY_SCHEMA


@dataclass(frozen=True)
class RuleCount:
    rule_id: str
    title: str
    severity: Severity
    count: int


@dataclass(frozen=True)
class Summary:
    """What a batch holds, counted: for the headline of a digest and the body of a summary."""

    total: int
    by_severity: Mapping[Severity, int]  # most severe first, only those present
    by_rule: tuple[RuleCount, ...]  # most alerts first

    def headline(self) -> str:
        """`12 alerts: 2 CRITICAL, 10 HIGH`"""
        counts = ", ".join(f"{n} {s.upper()}" for s, n in self.by_severity.items())
        return f"{self.total} alert{'s' if self.total != 1 else ''}: {counts}"


def summarise(alerts: Sequence[Alert]) -> Summary:
    severities = Counter(a.rule.severity for a in alerts)
    rules = Counter(a.rule.id for a in alerts)
    first = {a.rule.id: a.rule for a in reversed(alerts)}
    by_rule = tuple(RuleCount(rid, first[rid].title, first[rid].severity, n)
                    for rid, n in sorted(rules.items(), key=lambda kv: (-kv[1], kv[0])))
    return Summary(len(alerts), {s: severities[s] for s in reversed(SEVERITIES)
                                 if severities[s]}, by_rule)


def chunks(alerts: Sequence[Alert], size: int = MAX_ALERTS_PER_MESSAGE
           ) -> list[tuple[Alert, ...]]:
    return [tuple(alerts[i:i + size]) for i in range(0, len(alerts), size)]
