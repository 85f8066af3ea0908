"""`watcher run` and `watcher once`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from watcher.cli.common import EXIT_FAIL, EXIT_OK, add_config_option, load


def register(sub: Any) -> None:
    run = sub.add_parser("run", help="run the service until SIGTERM/SIGINT",
                         description="Poll every feed on its schedule, match, deliver; "
                                     "stop cleanly on SIGTERM or SIGINT.")
    add_config_option(run)
    run.set_defaults(handler=cmd_run)
    once = sub.add_parser("once", help="poll every feed once, deliver, exit",
                          description="Poll every enabled feed once, match, deliver the "
                                      "alerts, and exit. Exit 1 if a feed failed or an "
                                      "alert is still undelivered (it stays queued).")
    add_config_option(once)
    once.set_defaults(handler=cmd_once)


def cmd_run(args: argparse.Namespace) -> int:
    from watcher.service.runner import run_service
    asyncio.run(run_service(load(args)))
    return EXIT_OK


def cmd_once(args: argparse.Namespace) -> int:
    from watcher.service.runner import run_once
    report = asyncio.run(run_once(load(args)))
    failed = report.failed_feeds
    for poll in failed:
        print(f"feed {poll.feed_id}: {poll.error}", file=sys.stderr)
    d = report.delivery
    print(f"polled {len(report.polls)} feeds ({len(failed)} failed), "
          f"{sum(p.new_articles for p in report.polls)} new articles, "
          f"{sum(p.alerts for p in report.polls)} alerts; deliveries: {d.delivered} sent, "
          f"{d.retrying} to retry, {d.dead} dead"
          + (f", {d.silenced} silenced" if d.silenced else ""), file=sys.stderr)
    return EXIT_FAIL if failed or d.retrying or d.dead else EXIT_OK
