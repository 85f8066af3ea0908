"""`watcher alerts`: what the outbox holds (recent, pending, dead), and re-queueing.

    watcher alerts [--status pending|delivered|dead] [--limit N] [--json]
    watcher alerts retry ID          one row (its id in the listing) or every row of an alert_id
    watcher alerts retry --dead      every dead row

Re-queued rows are due at once with a fresh attempt count; a running service picks them up
on its next pass (`watcher once` delivers them too).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any

from watcher.cli.common import CONFIG_HELP, EXIT_FAIL, EXIT_OK, EXIT_USAGE, add_config_option, load
from watcher.config.settings import Config
from watcher.models import StoryEntry
from watcher.store import OUTBOX_STATUSES, OutboxRecord, Store, open_store

ERROR_WIDTH = 60
TITLE_WIDTH = 50


def register(sub: Any) -> None:
    alerts = sub.add_parser("alerts", help="list recent, pending or dead alerts; re-queue",
                            description="List the deliveries in the outbox, newest first, or "
                                        "re-queue dead ones with `alerts retry`.")
    add_config_option(alerts)
    alerts.add_argument("--status", choices=OUTBOX_STATUSES, help="only rows of this status")
    alerts.add_argument("--limit", type=_positive, default=50, help="rows shown (default 50)")
    alerts.add_argument("--json", action="store_true", help="one JSON object per line")
    alerts.add_argument("--story", metavar="STORY_ID",
                        help="every article of this story (an alert's story.id), alerted or "
                             "not, oldest first")
    alerts.set_defaults(handler=cmd_alerts)
    actions = alerts.add_subparsers(dest="action", metavar="ACTION")
    retry = actions.add_parser("retry", help="re-queue a delivery, an alert, or every dead one",
                               description="Put deliveries back in the queue, due now, "
                                           "with a fresh attempt count.")
    # SUPPRESS: `alerts --config X retry` keeps X instead of the sub-parser's default.
    retry.add_argument("--config", default=argparse.SUPPRESS, help=CONFIG_HELP)
    retry.add_argument("ref", nargs="?", metavar="ID",
                       help="row id from the listing, or an alert_id (all its sinks)")
    retry.add_argument("--dead", action="store_true", help="every dead delivery")
    retry.set_defaults(handler=cmd_retry)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
    return int(text)


async def _open(config: Config) -> Store:
    return await open_store(config.state_location())


def cmd_alerts(args: argparse.Namespace) -> int:
    config = load(args)
    if args.story:
        return _show_story(config, args.story, as_json=args.json)

    async def fetch() -> list[OutboxRecord]:
        store = await _open(config)
        try:
            return await store.list_alerts(args.status, args.limit)
        finally:
            await store.close()

    records = asyncio.run(fetch())
    if args.json:
        for record in records:
            sys.stdout.write(json.dumps(record_json(record), ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render_table(records))
    return EXIT_OK


def _show_story(config: Config, story_id: str, *, as_json: bool) -> int:
    async def fetch() -> list[StoryEntry]:
        store = await _open(config)
        try:
            return await store.story_articles(story_id)
        finally:
            await store.close()

    members = asyncio.run(fetch())
    if not members:
        print(f"no story {story_id!r}", file=sys.stderr)
        return EXIT_FAIL
    for m in members:
        if as_json:
            sys.stdout.write(json.dumps({"key": m.article_key, "source": m.source,
                                         "url": m.url, "title": m.title, "at": _iso(m.at)},
                                        ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(f"{m.at.astimezone(UTC):%Y-%m-%d %H:%M}  {m.source}  "
                             f"{_cut(m.title, TITLE_WIDTH)}  {m.url or ''}".rstrip() + "\n")
    return EXIT_OK


def cmd_retry(args: argparse.Namespace) -> int:
    if bool(args.ref) == bool(args.dead):
        print("watcher alerts retry: give an ID or --dead (not both)", file=sys.stderr)
        return EXIT_USAGE
    config = load(args)

    async def requeue() -> int:
        store = await _open(config)
        try:
            now = datetime.now(UTC)
            return await (store.requeue_dead(now) if args.dead else store.requeue(args.ref, now))
        finally:
            await store.close()

    count = asyncio.run(requeue())
    if count == 0 and not args.dead:
        print(f"no delivered or dead row with id or alert_id {args.ref!r}", file=sys.stderr)
        return EXIT_FAIL
    print(f"re-queued {count} deliver{'y' if count == 1 else 'ies'}", file=sys.stderr)
    return EXIT_OK


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def record_json(record: OutboxRecord) -> dict[str, Any]:
    return {"id": record.id, "status": record.status, "sink": record.sink,
            "route": record.route, "attempts": record.attempts, "last_error": record.last_error,
            "created_at": _iso(record.created_at), "next_attempt": _iso(record.next_attempt),
            "finished_at": _iso(record.finished_at),
            "alert": record.alert.to_dict() if record.alert else None}


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render_table(records: list[OutboxRecord]) -> str:
    if not records:
        return "no alerts\n"
    rows = [("ID", "STATUS", "SINK", "TRIES", "CREATED", "SEVERITY", "RULE", "TITLE", "ERROR")]
    for r in records:
        alert = r.alert
        rows.append((
            str(r.id), r.status, r.sink, str(r.attempts),
            r.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
            alert.rule.severity if alert else "?", alert.rule.id if alert else "?",
            _cut(alert.article.title, TITLE_WIDTH) if alert else "(unreadable)",
            _cut(r.last_error or "", ERROR_WIDTH)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]])
             for row in rows)
    return "".join(line.rstrip() + "\n" for line in lines)
