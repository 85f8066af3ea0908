"""`watcher status`: one screen for ops, read from the store and the rule files.

Feeds healthy or failing (from what the service recorded of each poll), rules loaded and the
problems of the rule files, the outbox (waiting, dead, delivered) and the last alert
delivered. It reads; it never polls, delivers or changes anything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..config import Config, FeedConfig, config_path, load_config
from ..configview import mask_url_password
from ..models import FeedState
from ..rules import load_rules
from ..store import Store, open_store
from .common import EXIT_OK, add_config_option, quiet_logging

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
class Status:
    config: str
    state: str
    feeds: list[FeedStatus] = field(default_factory=list)
    rules_loaded: int = 0
    rule_problems: list[str] = field(default_factory=list)
    outbox: dict[str, int] = field(default_factory=dict)
    oldest_pending: str | None = None
    last_alert: dict[str, Any] | None = None

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
    ruleset = load_rules(config.rule_paths())
    status = Status(config=label, state=mask_url_password(config.state),
                    rules_loaded=len(ruleset.rules),
                    rule_problems=[str(p) for p in ruleset.problems])
    store = await open_store(config.state_location())
    try:
        await _read_store(store, config, status, now)
    finally:
        await store.close()
    return status


async def _read_store(store: Store, config: Config, status: Status, now: datetime) -> None:
    for feed in config.feeds:
        if feed.enabled:
            state = await store.load_feed_state(feed.id)
            status.feeds.append(feed_health(feed, state, config.feed_interval(feed), now))
    status.outbox = await store.outbox_counts()
    status.oldest_pending = _iso(await store.oldest_pending())
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
    lines = [f"config     {status.config}", f"state      {status.state}",
             f"feeds      {len(status.feeds)} enabled: {summary}"]
    for feed in status.feeds:
        if feed.health in ("failing", "stale"):
            lines.append(f"  {feed.health.upper():8} {feed.id}: {feed.failures} failures, "
                         f"last success {_ago(feed.last_success, now)}"
                         + (f": {feed.error}" if feed.error else ""))
    errors = [p for p in status.rule_problems if ": warning: " not in p]
    lines.append(f"rules      {status.rules_loaded} loaded, {len(errors)} errors, "
                 f"{len(status.rule_problems) - len(errors)} warnings")
    lines += [f"  {p}" for p in status.rule_problems[:SHOWN_PROBLEMS]]
    if len(status.rule_problems) > SHOWN_PROBLEMS:
        lines.append(f"  … {len(status.rule_problems) - SHOWN_PROBLEMS} more "
                     "(watcher rules check)")
    out = status.outbox
    oldest = f" (oldest queued {_ago(status.oldest_pending, now)})" if status.oldest_pending else ""
    lines.append(f"outbox     {out.get('pending', 0)} waiting{oldest}, {out.get('dead', 0)} dead, "
                 f"{out.get('delivered', 0)} delivered")
    last = status.last_alert
    if last:
        lines.append(f"last alert {_ago(last['delivered_at'], now)} to {last['sink']}: "
                     f"{last['rule']}: {last['title']}")
    else:
        lines.append("last alert none delivered")
    return "\n".join(lines)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def _ago(iso: str | None, now: datetime) -> str:
    if iso is None:
        return "never"
    seconds = max((now - datetime.fromisoformat(iso)).total_seconds(), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago ({iso})"
    return f"{seconds:.0f}s ago ({iso})"
