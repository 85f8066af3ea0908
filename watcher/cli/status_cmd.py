"""`watcher status`: one screen for ops, read from the store.

The running replicas (what each wrote of itself, service/heartbeat.py: version, heartbeat, the rules
it has loaded and the problems of its rule files, including a broken file whose last good
version it keeps running), the cluster (feeds per replica, deliveries in flight), feeds
healthy or failing (from what the service recorded of each poll), the outbox (waiting, dead,
delivered) and the last alert delivered. When no replica has a recent heartbeat the rules are
checked on disk instead, and the screen says so. It reads; it never polls, delivers or
changes anything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from watcher.cli.common import EXIT_OK, add_config_option, quiet_logging
from watcher.config.masked import mask_url_password
from watcher.config.settings import Config, FeedConfig, config_path, load_config
from watcher.models import FeedState
from watcher.rules.load import load_rules
from watcher.service.heartbeat import FORGET_AFTER, LIVE_WITHIN
from watcher.store import ReplicaRecord, Store, open_store

STALE_INTERVALS = 3  # a healthy feed not tried for this many intervals: is the service up?
SHOWN_PROBLEMS = 10


def register(sub: Any) -> None:
    status = sub.add_parser("status", help="feeds, rules, outbox and last alert at a glance",
                            description="Feeds healthy or failing, rules loaded, outbox depth, "
                                        "dead alerts and the last alert, from the store.")
    add_config_option(status)
    status.add_argument("--json", action="store_true", help="one JSON document")
    status.set_defaults(handler=cmd_status)


@dataclass
class FeedStatus:
    id: str
    health: str  # healthy | failing | stale | never polled
    failures: int = 0
    last_success: str | None = None
    last_attempt: str | None = None
    error: str | None = None


@dataclass
class ReplicaStatus:
    """A replica as it last recorded itself (service/heartbeat.py)."""

    replica_id: str
    state: str  # live | stopped | silent (no heartbeat for LIVE_WITHIN seconds)
    version: str
    started_at: str
    heartbeat_at: str
    heartbeat_age: float  # seconds
    stopped_at: str | None
    rules_loaded: int
    rules: dict[str, Any]  # reload.RulesStatus.to_dict() as the replica wrote it

    def last_good(self) -> list[tuple[str, str | None]]:
        """(file, since) of each file whose last good version this replica keeps running."""
        since = self.rules.get("stale_since") or {}
        return [(name, since.get(name)) for name in self.rules.get("stale_files", [])]


@dataclass
class ReplicaFeeds:
    replica_id: str
    feeds_polled: int  # feeds whose latest poll was this replica's
    feeds_leased: int  # polls of it running now
    last_claim: str | None


@dataclass
class ClusterStatus:
    """What the replicas share: who polled which feeds, and the outbox."""

    feeds: list[ReplicaFeeds] = field(default_factory=list)
    outbox: dict[str, int] = field(default_factory=dict)
    deliveries_in_flight: int = 0
    oldest_pending: str | None = None


def replica_status(record: ReplicaRecord, now: datetime) -> ReplicaStatus:
    age = record.heartbeat_age(now)
    state = ("stopped" if record.stopped_at is not None
             else "live" if record.is_live(now, LIVE_WITHIN) else "silent")
    return ReplicaStatus(record.replica_id, state, record.version,
                         _iso(record.started_at) or "", _iso(record.heartbeat_at) or "",
                         round(age, 1), _iso(record.stopped_at), record.rules_loaded,
                         record.rules)


@dataclass
class Status:
    config: str
    state: str
    feeds: list[FeedStatus] = field(default_factory=list)
    rules_loaded: int = 0
    rule_problems: list[str] = field(default_factory=list)
    # "service": rules_loaded and rule_problems are what the freshest live replica runs;
    # "disk": no replica is live, they come from loading the rule files now.
    rules_source: str = "disk"
    live_within: float = LIVE_WITHIN  # seconds since its heartbeat a replica counts as live
    replicas: list[ReplicaStatus] = field(default_factory=list)  # live first, then the rest
    cluster: ClusterStatus = field(default_factory=ClusterStatus)
    outbox: dict[str, int] = field(default_factory=dict)
    oldest_pending: str | None = None
    last_alert: dict[str, Any] | None = None

    def live(self) -> list[ReplicaStatus]:
        return [r for r in self.replicas if r.state == "live"]

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for feed in self.feeds:
            found[feed.health] = found.get(feed.health, 0) + 1
        return found


def feed_health(feed: FeedConfig, state: FeedState | None, interval: float,
                now: datetime) -> FeedStatus:
    """How one feed is doing, from what the store recorded of its polls."""
    if state is None or state.last_attempt is None:
        return FeedStatus(feed.id, "never polled")
    status = FeedStatus(feed.id, "healthy", state.consecutive_failures,
                        _iso(state.last_success), _iso(state.last_attempt), state.last_error)
    if state.consecutive_failures > 0 or state.last_success is None:
        status.health = "failing"
    elif now - state.last_attempt > timedelta(seconds=interval * STALE_INTERVALS):
        status.health = "stale"
    return status


async def read_status(config: Config, label: str, now: datetime) -> Status:
    status = Status(config=label, state=mask_url_password(config.state))
    store = await open_store(config.state_location())
    try:
        await _read_replicas(store, status, now)
        await _read_store(store, config, status, now)
    finally:
        await store.close()
    live = status.live()
    if live:  # what the service runs, not what the files on disk say now
        freshest = live[0]  # replicas are sorted live first, freshest heartbeat first
        status.rules_source = "service"
        status.rules_loaded = freshest.rules_loaded
        status.rule_problems = list(freshest.rules.get("problems", []))
    else:
        ruleset = load_rules(config.rule_paths())
        status.rules_loaded = len(ruleset.rules)
        status.rule_problems = [str(p) for p in ruleset.problems]
    return status


async def _read_replicas(store: Store, status: Status, now: datetime) -> None:
    records = await store.list_replicas(now - FORGET_AFTER)
    replicas = [replica_status(r, now) for r in records]
    status.replicas = sorted(replicas, key=lambda r: (r.state != "live", r.heartbeat_age))
    view = await store.cluster_view(now)
    status.cluster = ClusterStatus(
        [ReplicaFeeds(r.replica_id, r.feeds_polled, r.feeds_leased, _iso(r.last_claim))
         for r in view.replicas], view.outbox, view.deliveries_in_flight)


async def _read_store(store: Store, config: Config, status: Status, now: datetime) -> None:
    for feed in config.feeds:
        if feed.enabled:
            state = await store.load_feed_state(feed.id)
            status.feeds.append(feed_health(feed, state, config.feed_interval(feed), now))
    status.outbox = dict(status.cluster.outbox)  # read with the cluster view
    status.oldest_pending = status.cluster.oldest_pending = _iso(await store.oldest_pending())
    last = await store.list_alerts("delivered", 1)
    if last:
        row = last[0]
        status.last_alert = {
            "alert_id": row.alert.alert_id if row.alert else None,
            "rule": row.alert.rule.id if row.alert else None,
            "title": row.alert.article.title if row.alert else None,
            "sink": row.sink, "delivered_at": _iso(row.finished_at)}


def cmd_status(args: argparse.Namespace) -> int:
    quiet_logging(args)
    path = config_path(args.config)
    config = load_config(path)
    label = str(path)
    status = asyncio.run(read_status(config, label, datetime.now(UTC)))
    if args.json:
        print(json.dumps(asdict(status), indent=2, ensure_ascii=False))
    else:
        print(render_status(status, datetime.now(UTC)))
    return EXIT_OK


def render_status(status: Status, now: datetime) -> str:
    counts = status.counts()
    summary = ", ".join(f"{n} {h}" for h, n in sorted(counts.items())) or "none configured"
    lines = [f"config     {status.config}", f"state      {status.state}"]
    lines += _render_service(status, now)
    lines.append(f"feeds      {len(status.feeds)} enabled: {summary}")
    lines += _render_feeds_per_replica(status.cluster)
    for feed in status.feeds:
        if feed.health in ("failing", "stale"):
            lines.append(f"  {feed.health.upper():8} {feed.id}: {feed.failures} failures, "
                         f"last success {_ago(feed.last_success, now)}"
                         + (f": {feed.error}" if feed.error else ""))
    if status.rules_source == "disk":
        errors = _errors(status.rule_problems)
        lines.append(f"rules      {status.rules_loaded} loaded from the rule files on disk "
                     f"(no service running), {errors} errors, "
                     f"{len(status.rule_problems) - errors} warnings")
        lines += _render_problems(status.rule_problems, "  ")
    out = status.outbox
    oldest = f" (oldest queued {_ago(status.oldest_pending, now)})" if status.oldest_pending else ""
    in_flight = status.cluster.deliveries_in_flight
    lines.append(f"outbox     {out.get('pending', 0)} waiting{oldest}, {in_flight} in flight, "
                 f"{out.get('dead', 0)} dead, {out.get('delivered', 0)} delivered")
    last = status.last_alert
    if last:
        lines.append(f"last alert {_ago(last['delivered_at'], now)} to {last['sink']}: "
                     f"{last['rule']}: {last['title']}")
    else:
        lines.append("last alert none delivered")
    return "\n".join(lines)


def _render_service(status: Status, now: datetime) -> list[str]:
    """Each live replica: who, which version, how recent, and the rules it runs."""
    live = status.live()
    if not live:
        last = (f" (last: {status.replicas[0].replica_id}, "
                f"{_describe_end(status.replicas[0], now)})" if status.replicas else "")
        return [f"service    none running: no replica with a heartbeat in the last "
                f"{LIVE_WITHIN:.0f}s{last}"]
    gone = len(status.replicas) - len(live)
    lines = [f"service    {len(live)} {'replica' if len(live) == 1 else 'replicas'} live"
             + (f", {gone} stopped or silent" if gone else "")]
    shown: dict[tuple[str, ...], str] = {}
    for replica in live:
        rules = replica.rules
        problems = [str(p) for p in rules.get("problems", [])]
        errors = _errors(problems)
        lines.append(f"  {replica.replica_id}  version {replica.version}, heartbeat "
                     f"{replica.heartbeat_age:.0f}s ago, started {_ago(replica.started_at, now)}")
        lines.append(f"    rules {replica.rules_loaded} loaded "
                     f"{_ago(rules.get('loaded_at'), now)}, {errors} errors, "
                     f"{len(problems) - errors} warnings")
        stale = [f"running last good version of {name} since {_ago(since, now)}"
                 for name, since in replica.last_good()]
        key = tuple(problems + stale)
        if key and key in shown:
            lines.append(f"      same rule problems as {shown[key]}")
            continue
        shown.setdefault(key, replica.replica_id)
        lines += [f"      {line}" for line in stale]
        lines += _render_problems(problems, "      ")
    return lines


def _render_feeds_per_replica(cluster: ClusterStatus) -> list[str]:
    if not cluster.feeds:
        return []
    parts = [f"{r.replica_id} {r.feeds_polled}"
             + (f" ({r.feeds_leased} polling now)" if r.feeds_leased else "")
             for r in cluster.feeds]
    return ["  last polled by: " + ", ".join(parts)]


def _render_problems(problems: list[str], indent: str) -> list[str]:
    lines = [f"{indent}{p}" for p in problems[:SHOWN_PROBLEMS]]
    if len(problems) > SHOWN_PROBLEMS:
        lines.append(f"{indent}… {len(problems) - SHOWN_PROBLEMS} more (watcher rules check)")
    return lines


def _errors(problems: list[str]) -> int:
    return sum(1 for p in problems if ": warning: " not in p)


def _describe_end(replica: ReplicaStatus, now: datetime) -> str:
    if replica.stopped_at is not None:
        return f"stopped {_ago(replica.stopped_at, now)}"
    return f"last heartbeat {_ago(replica.heartbeat_at, now)}"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def _ago(iso: str | None, now: datetime) -> str:
    if iso is None:
        return "never"
    moment = datetime.fromisoformat(iso)
    seconds = max((now - moment).total_seconds(), 0)
    iso = _iso(moment) or iso
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago ({iso})"
    return f"{seconds:.0f}s ago ({iso})"
