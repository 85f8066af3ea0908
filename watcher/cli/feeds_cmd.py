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
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from watcher.cli.common import EXIT_OK, add_config_option, quiet_logging
from watcher.config.settings import Config, config_path, load_config
from watcher.feeds.report import FeedRow, feed_rows
from watcher.store import open_store

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


async def read_feeds(config: Config, now: datetime) -> list[FeedRow]:
    store = await open_store(config.state_location())
    try:
        return await feed_rows(config, store, now)
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

