"""`watcher match`: match articles offline, print one alert JSON line per match."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..alerts import build_alerts
from ..inputs import read_articles
from ..match import compile_rules, match_article
from ..rules import load_rules
from .common import EXIT_OK, EXIT_USAGE, print_problems, quiet_logging


def register(sub: Any) -> None:
    match = sub.add_parser(
        "match", help="match articles offline",
        description="Match articles offline. Input: JSON Lines of articles, or an RSS/Atom "
                    "document. Output: one alert JSON line per (article, rule) match.")
    match.add_argument("--rules", required=True, action="append", metavar="PATH",
                       help="rule file or folder (repeatable)")
    match.add_argument("--input", metavar="FILE", help="input file (default: stdin)")
    match.set_defaults(handler=cmd_match)


def cmd_match(args: argparse.Namespace) -> int:
    quiet_logging(args)
    ruleset = load_rules([Path(p) for p in args.rules])
    print_problems(ruleset)
    if not ruleset.rules:
        print("watcher match: no valid rules to match with", file=sys.stderr)
        return EXIT_USAGE
    matcher = compile_rules(ruleset)
    input_path: str | None = args.input
    if input_path:
        try:
            data = Path(input_path).read_bytes()
        except OSError as exc:
            print(f"{input_path}: cannot read: {exc.strerror}", file=sys.stderr)
            return EXIT_USAGE
    else:
        data = sys.stdin.buffer.read()
    read = read_articles(data, input_path or "<stdin>")
    for problem in read.problems:
        print(problem, file=sys.stderr)
    now = datetime.now(UTC)
    out = sys.stdout
    for article in read.articles:
        for alert in build_alerts(article, match_article(matcher, article), now):
            out.write(alert.to_json() + "\n")
    out.flush()
    return EXIT_OK
