"""`watcher feeds`: the health of every configured feed, as the service recorded it.

One row per feed in the config: health (ok, warning, failing, flagged — failing for longer
than `fetch.failing_after` —, never polled, disabled), last HTTP status, consecutive
failures, last attempt and success, next poll, entries seen, its WebSub subscription (push:
active until when, subscribing, failed, denied, unsubscribing; `-` when it has none), where
it moved to, and the last error or warning. `--json` prints every stored field. It reads; it
never polls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from watcher.cli.common import EXIT_OK, add_config_option, quiet_logging
from watcher.config.masked import mask_secrets, mask_url_password, secret_values
from watcher.config.settings import Config, config_path, load_config
from watcher.feeds.health import feed_health
from watcher.models import FeedState
from watcher.store import Subscription, open_store

COLUMNS = ("feed", "health", "http", "fails", "last success", "next poll", "entries", "push",
           "note")
NOTE_CHARS = 80


def register(sub: Any) -> None:
    feeds = sub.add_parser("feeds", help="health of every feed: failures, last success, errors",
                           description="One row per configured feed, from what the service "
                                       "recorded of its polls.")
    add_config_option(feeds)
    feeds.add_argument("--json", action="store_true", help="a JSON list, every field")
    feeds.set_defaults(handler=cmd_feeds)


@dataclass
class FeedRow:
    id: str
    url: str
    health: str
    enabled: bool
    last_status: int | None = None
    consecutive_failures: int = 0
    failing_since: str | None = None
    last_attempt: str | None = None
    last_success: str | None = None
    next_poll: str | None = None
    entries_seen: int = 0
    moved_to: str | None = None
    last_error: str | None = None
    last_warning: str | None = None
    websub: str | None = None  # the subscription's state (`push` column)
    websub_hub: str | None = None
    websub_expires: str | None = None
    websub_error: str | None = None


def with_subscription(row: FeedRow, sub: Subscription | None) -> FeedRow:
    """The row with its WebSub subscription, if it has one."""
    if sub is not None:
        row.websub, row.websub_hub = sub.state, sub.hub
        row.websub_expires, row.websub_error = _iso(sub.expires_at), sub.last_error
    return row


def feed_row(feed_id: str, url: str, enabled: bool, state: FeedState | None, now: datetime,
             failing_after: float, secrets: Sequence[str] = ()) -> FeedRow:
    """One feed's health; URLs and errors with passwords and `secrets` masked."""
    health = feed_health(state, now, failing_after) if enabled else "disabled"

    def shown(text: str) -> str:
        return mask_secrets(mask_url_password(text), secrets)

    if state is None or state.url != url:  # nothing recorded for this URL yet
        return FeedRow(feed_id, shown(url), "never polled" if enabled else health, enabled)
    return FeedRow(
        feed_id, shown(url), health, enabled, state.last_status, state.consecutive_failures,
        _iso(state.failing_since), _iso(state.last_attempt), _iso(state.last_success),
        _iso(state.next_poll), state.entries_seen,
        shown(state.moved_to) if state.moved_to else None,
        shown(state.last_error) if state.last_error else None,
        shown(state.last_warning) if state.last_warning else None)


async def read_feeds(config: Config, now: datetime) -> list[FeedRow]:
    store = await open_store(config.state_location())
    try:
        secrets = secret_values(config)
        return [with_subscription(
                    feed_row(f.id, f.url, f.enabled, await store.load_feed_state(f.id), now,
                             config.fetch.failing_after, secrets),
                    await store.load_subscription(f.id)) for f in config.feeds]
    finally:
        await store.close()


def render_feeds(rows: list[FeedRow]) -> str:
    table = [COLUMNS] + [_cells(r) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=False))
             + "  " + line[-1] for line in table]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.health] = counts.get(row.health, 0) + 1
    summary = ", ".join(f"{n} {h}" for h, n in sorted(counts.items()))
    lines.append(f"{len(rows)} feeds: {summary}" if rows else "no feeds configured")
    return "\n".join(line.rstrip() for line in lines)


def _cells(row: FeedRow) -> tuple[str, ...]:
    note = row.last_error or (f"warning: {row.last_warning}" if row.last_warning else "")
    if row.moved_to:
        note = f"moved to {row.moved_to}" + (f"; {note}" if note else "")
    if row.failing_since:
        note = f"failing since {row.failing_since}: {note}"
    if row.websub_error and row.websub != "active":
        note = f"websub: {row.websub_error}" + (f"; {note}" if note else "")
    if len(note) > NOTE_CHARS:
        note = note[:NOTE_CHARS - 1] + "…"
    push = row.websub or "-"
    if row.websub == "active" and row.websub_expires:
        push = f"active until {row.websub_expires}"
    return (row.id, row.health.upper() if row.health == "flagged" else row.health,
            str(row.last_status or "-"), str(row.consecutive_failures),
            row.last_success or "never", row.next_poll or "-", str(row.entries_seen), push,
            note)


def cmd_feeds(args: argparse.Namespace) -> int:
    quiet_logging(args)
    config = load_config(config_path(args.config))
    rows = asyncio.run(read_feeds(config, datetime.now(UTC)))
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2, ensure_ascii=False))
    else:
        print(render_feeds(rows))
    return EXIT_OK


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None
