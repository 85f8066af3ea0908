"""`watcher match`: match articles offline, print one alert JSON line per match.

Backtesting: `--since 7d` matches the articles the service stored in the last 7 days (the
state store of the config) instead of an input; `--summary` prints how often each rule would
have fired instead of the alerts. With `--config` (or `--since`), rules scoped by feed tag
see the feeds' tags from that config. An article read from an input names its feed by its
`source`.

Alerts name their story (watcher/stories/) as the service does, the whole input being the
window's articles: a backtest shows which outlets reported one event.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from watcher.cli.common import CONFIG_HELP, EXIT_OK, EXIT_USAGE, print_problems, quiet_logging
from watcher.config.settings import (
    Config,
    StoriesSettings,
    config_path,
    load_config,
    parse_duration,
)
from watcher.feeds.complete import with_languages
from watcher.feeds.inputs import read_articles
from watcher.matching.alerts import build_alerts
from watcher.matching.matcher import Matcher, compile_rules, match_article
from watcher.models import Alert, Article
from watcher.rules.load import load_rules
from watcher.store import open_store
from watcher.stories import assign_stories, story_entry, story_views


def register(sub: Any) -> None:
    match = sub.add_parser(
        "match", help="match articles offline (or backtest rules on stored articles)",
        description="Match articles offline. Input: JSON Lines of articles, or an RSS/Atom "
                    "document; or, with --since, the articles the service stored. Output: "
                    "one alert JSON line per (article, rule) match, or with --summary a "
                    "count per rule.")
    match.add_argument("--rules", required=True, action="append", metavar="PATH",
                       help="rule file or folder (repeatable)")
    source = match.add_mutually_exclusive_group()
    source.add_argument("--input", metavar="FILE", help="input file (default: stdin)")
    source.add_argument("--since", metavar="DURATION", type=_duration,
                        help="backtest: articles stored in the last DURATION (30m, 12h, 7d) "
                             "in the state store of --config")
    match.add_argument("--summary", action="store_true",
                       help="print per-rule counts instead of alert lines")
    match.add_argument("--config", help=CONFIG_HELP + "; read for --since, and for the tags "
                                                      "of feeds that rules are scoped to")
    match.set_defaults(handler=cmd_match)


def _duration(value: str) -> timedelta:
    try:
        return timedelta(seconds=parse_duration(value))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_match(args: argparse.Namespace) -> int:
    quiet_logging(args)
    config = (load_config(config_path(args.config))
              if args.config or args.since is not None else None)
    ruleset = load_rules([Path(p) for p in args.rules])
    print_problems(ruleset)
    if not ruleset.rules:
        print("watcher match: no valid rules to match with", file=sys.stderr)
        return EXIT_USAGE
    feed_tags = {f.id: list(f.tags) for f in config.feeds} if config else None
    matcher = compile_rules(ruleset, feed_tags=feed_tags)
    now = datetime.now(UTC)
    if config is not None and args.since is not None:
        articles = asyncio.run(_stored_articles(config, now - args.since))
    else:
        read = _read_input(args.input)
        if read is None:
            return EXIT_USAGE
        # Each article's language as the service settles it (feeds/complete.py): an input
        # article without one has it detected.
        modes = {f.id: f.detect_language for f in config.feeds} if config else None
        articles = with_languages(read, modes)
    if args.summary:
        _print_summary(matcher, articles)
    else:
        window = config.stories.window if config else StoriesSettings().window
        out = sys.stdout
        for alert in alerts_in_stories(matcher, articles, window, now):
            out.write(alert.to_json() + "\n")
        out.flush()
    return EXIT_OK


def alerts_in_stories(matcher: Matcher, articles: Iterable[Article], window: float,
                      now: datetime) -> list[Alert]:
    """The alerts of every article, each naming its story as the service would have placed
    it, the input being all there is (watcher/stories/)."""
    matched = [(article, found) for article in articles
               if (found := match_article(matcher, article)).hits]
    entries = [story_entry(article, found, now) for article, found in matched]
    ids = assign_stories(entries, [], window, now)
    views = story_views(entries, ids)
    return [alert.model_copy(update={"story": views[sid]})
            for (article, found), sid in zip(matched, ids, strict=True)
            for alert in build_alerts(article, found, now)]


def _read_input(input_path: str | None) -> list[Article] | None:
    if input_path:
        try:
            data = Path(input_path).read_bytes()
        except OSError as exc:
            print(f"{input_path}: cannot read: {exc.strerror}", file=sys.stderr)
            return None
    else:
        data = sys.stdin.buffer.read()
    read = read_articles(data, input_path or "<stdin>")
    for problem in read.problems:
        print(problem, file=sys.stderr)
    return [a if a.feed else a.model_copy(update={"feed": a.source}) for a in read.articles]


async def _stored_articles(config: Config, since: datetime) -> list[Article]:
    location = config.state_location()
    if isinstance(location, Path) and not location.exists():
        print(f"watcher match: no state store at {location}; nothing to backtest",
              file=sys.stderr)
        return []
    store = await open_store(location)
    try:
        articles = await store.articles_since(since)
    finally:
        await store.close()
    return [a if a.feed else a.model_copy(update={"feed": a.source}) for a in articles]


def _print_summary(matcher: Matcher, articles: Iterable[Article]) -> None:
    """One line per rule: how many articles it fires on, and the share of all articles."""
    counts: Counter[str] = Counter()
    total = 0
    for article in articles:
        total += 1
        counts.update(hit.rule.id for hit in match_article(matcher, article).hits)
    rules = sorted((c.rule for c in matcher.rules), key=lambda r: (-counts[r.id], r.id))
    width = max((len(r.id) for r in rules), default=4)
    print(f"{'alerts':>7} {'share':>6}  {'rule':<{width}}  severity  title")
    for rule in rules:
        share = counts[rule.id] / total if total else 0.0
        print(f"{counts[rule.id]:>7} {share:>6.1%}  {rule.id:<{width}}  {rule.severity:<8}  "
              f"{rule.title}")
    print(f"{total} articles, {sum(counts.values())} alerts, "
          f"{sum(1 for r in rules if counts[r.id])} of {len(rules)} rules fired")
