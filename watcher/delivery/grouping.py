"""No one flooded: which alerts go out together, when, and what a summary says. Pure: no I/O,
no clock (`now` is passed in).

    group_wait    alerts of one lane within the wait of the first go out as one digest
    digest sink   alerts of one period go out as one digest at the period's end
    max_per_hour  over the cap, alerts are held and then sent as one summary

A lane is a sink's alerts, or those of them that one route chose when that route sets its own
group_wait or max_per_hour (`lane_for`): each lane is grouped and capped on its own.

Held alerts stay in the outbox, pending, due when their batch is (`due_at`), so a restart
loses nothing: the delivery worker (worker.py, batch_send.py) finds them there.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Literal, TypeVar
from zoneinfo import ZoneInfo

from watcher.config.settings import (
    AppriseSink,
    Config,
    DigestSink,
    EmailSink,
    SinkConfig,
    SlackSink,
    TeamsSink,
    WebhookSink,
)
from watcher.delivery.story_digest import StoryNow
from watcher.models import SEVERITIES, Alert, Lane, Severity

T = TypeVar("T")

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
    """How one lane's alerts are batched and capped. The default sends each alert alone."""

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


LaneKey = tuple[str, str]  # (sink, route): route '' for the sink's own settings


def batch_policies(config: Config) -> dict[LaneKey, BatchPolicy]:
    """The policy of every lane that batches or caps, by (sink, route).

    (sink, '') holds the sink's own settings. A route that sets `group_wait` or
    `max_per_hour` adds (sink, route) for each of its sinks that can send a digest, with the
    setting it leaves unset taken from the sink (a digest sink's schedule wins over any
    group_wait: its period already groups)."""
    policies: dict[LaneKey, BatchPolicy] = {}
    for sink in config.sinks:
        policy = _sink_policy(sink)
        if policy.batches or policy.max_per_hour is not None:
            policies[(sink.name, "")] = policy
    sinks = {sink.name: sink for sink in config.sinks}
    for route in config.routes:
        if route.group_wait is None and route.max_per_hour is None:
            continue
        for name in route.sinks:
            target = sinks.get(name)
            if not isinstance(target, DigestSink | WebhookSink | SlackSink | TeamsSink
                              | EmailSink | AppriseSink):
                continue  # console and jsonl write every alert on its own
            base = _sink_policy(target)
            policies.setdefault((name, route.name), replace(
                base, group_wait=_first(route.group_wait, base.group_wait),
                max_per_hour=_first(route.max_per_hour, base.max_per_hour)))
    return policies


def _sink_policy(sink: SinkConfig) -> BatchPolicy:
    if isinstance(sink, DigestSink):
        at = time.fromisoformat(sink.daily_at) if sink.daily_at else None
        return BatchPolicy(schedule=DigestSchedule(sink.every, at, sink.timezone))
    if isinstance(sink, WebhookSink | SlackSink | TeamsSink | EmailSink | AppriseSink):
        return BatchPolicy(sink.group_wait, sink.max_per_hour)
    return BatchPolicy()


def _first(value: T | None, fallback: T) -> T:
    return fallback if value is None else value


def lane_for(policies: Mapping[LaneKey, BatchPolicy], sink: str, route: str) -> Lane:
    """The lane of a row for `sink` chosen by `route`: the route's own when it has a policy
    for that sink, else the sink's, which leaves out the rows of routes that have one."""
    if route and (sink, route) in policies:
        return Lane(sink, route)
    return Lane(sink, "", tuple(sorted(r for s, r in policies if s == sink and r)))


@dataclass(frozen=True)
class Batch:
    """Alerts sent to one sink in one message: a digest (each alert in full) or a summary of
    alerts held over the cap (counts and titles). `route` names the route whose lane it is
    ('' for the sink's own); the key does not depend on it. `stories`: the alerts' stories
    as read at send time (story_digest.py), for "also reported by"."""

    sink: str
    kind: Literal["digest", "summary"]
    alerts: tuple[Alert, ...]
    route: str = ""
    stories: Mapping[str, StoryNow] = field(default_factory=dict, compare=False)

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
