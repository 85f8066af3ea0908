"""The `watcher` command line (contract in DESIGN.md: keep names, arguments, exit codes)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from . import __version__
from .alerts import build_alerts
from .config import Config, config_path, load_config
from .errors import SourceError
from .inputs import read_articles
from .logs import setup_logging
from .match import compile_rules, match_article
from .models import Alert
from .rules import RuleFile, RuleSet, load_rules
from .ruletest import run_examples

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="watcher",
        description="Poll news feeds, match articles against YAML rules, deliver alerts.")
    parser.add_argument("--version", action="version", version=f"watcher {__version__}")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                        help="override the configured log level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    config_help = "config file (default: $WATCHER_CONFIG, else config/watcher.yaml)"
    run = sub.add_parser("run", help="run the service until SIGTERM/SIGINT",
                         description="Poll every feed on its schedule, match, deliver; "
                                     "stop cleanly on SIGTERM or SIGINT.")
    run.add_argument("--config", help=config_help)
    once = sub.add_parser("once", help="poll every feed once, deliver, exit",
                          description="Poll every enabled feed once, match, deliver the "
                                      "alerts, and exit. Exit 1 if a feed failed or an "
                                      "alert is still undelivered (it stays queued).")
    once.add_argument("--config", help=config_help)

    rules = sub.add_parser("rules", help="check or test rule files",
                           description="Validate rule files or run their examples.")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    check = rules_sub.add_parser(
        "check", help="validate rule files/folders",
        description="Validate rule files and folders (default: the configured rules). "
                    "Exit 1 with one FILE:LINE:COL: message line per problem on stderr.")
    test = rules_sub.add_parser(
        "test", help="run the examples embedded in rule files",
        description="Run every rule's `examples`; exit 1 on any failure, naming the rule "
                    "and the example.")
    for p in (check, test):
        p.add_argument("paths", nargs="*", metavar="PATH", help="rule file or folder")
        p.add_argument("--config", help=config_help + "; used when no PATH is given")

    match = sub.add_parser(
        "match", help="match articles offline",
        description="Match articles offline. Input: JSON Lines of articles, or an RSS/Atom "
                    "document. Output: one alert JSON line per (article, rule) match.")
    match.add_argument("--rules", required=True, action="append", metavar="PATH",
                       help="rule file or folder (repeatable)")
    match.add_argument("--input", metavar="FILE", help="input file (default: stdin)")

    schema = sub.add_parser("schema", help="print a JSON Schema",
                            description="Print the JSON Schema of rules, config or alert.")
    schema.add_argument("document", choices=["rules", "config", "alert"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except SourceError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "schema":
        return cmd_schema(args.document, sys.stdout)
    if args.command == "match":
        setup_logging(args.log_level or "warning")
        return cmd_match([Path(p) for p in args.rules], args.input)
    if args.command == "rules":
        setup_logging(args.log_level or "warning")
        paths = [Path(p) for p in args.paths] or _load(args).rule_paths()
        if args.rules_command == "check":
            return cmd_rules_check(paths)
        return cmd_rules_test(paths)
    config = _load(args)
    setup_logging(args.log_level or config.log_level)
    if args.command == "once":
        return cmd_once(config)
    asyncio.run(_run(config))
    return EXIT_OK


def _load(args: argparse.Namespace) -> Config:
    return load_config(config_path(args.config))


async def _run(config: Config) -> None:
    from .service import run_service
    await run_service(config)


def cmd_once(config: Config) -> int:
    from .service import run_once
    report = asyncio.run(run_once(config))
    failed = report.failed_feeds
    for poll in failed:
        print(f"feed {poll.feed_id}: {poll.error}", file=sys.stderr)
    d = report.delivery
    print(f"polled {len(report.polls)} feeds ({len(failed)} failed), "
          f"{sum(p.new_articles for p in report.polls)} new articles, "
          f"{sum(p.alerts for p in report.polls)} alerts; deliveries: {d.delivered} sent, "
          f"{d.retrying} to retry, {d.dead} dead", file=sys.stderr)
    return EXIT_FAIL if failed or d.retrying or d.dead else EXIT_OK


def cmd_rules_check(paths: list[Path]) -> int:
    ruleset = load_rules(paths)
    _print_problems(ruleset)
    if not ruleset.ok:
        return EXIT_FAIL
    print(f"{len(ruleset.rules)} rules OK")
    return EXIT_OK


def cmd_rules_test(paths: list[Path]) -> int:
    ruleset = load_rules(paths)
    _print_problems(ruleset)
    results = run_examples(ruleset, compile_rules(ruleset))
    failures = [r for r in results if not r.ok]
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"{len(results)} examples, {len(results) - len(failures)} passed, "
          f"{len(failures)} failed")
    return EXIT_FAIL if failures or not ruleset.ok else EXIT_OK


def cmd_match(rule_paths: list[Path], input_path: str | None) -> int:
    ruleset = load_rules(rule_paths)
    _print_problems(ruleset)
    if not ruleset.rules:
        print("watcher match: no valid rules to match with", file=sys.stderr)
        return EXIT_USAGE
    matcher = compile_rules(ruleset)
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


def cmd_schema(document: str, out: TextIO) -> int:
    if document == "rules":
        schema = RuleFile.model_json_schema()
    elif document == "config":
        schema = Config.model_json_schema(by_alias=True)
        schema.get("properties", {}).pop("base_dir", None)
    else:
        schema = Alert.model_json_schema(by_alias=True)
    out.write(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
    return EXIT_OK


def _print_problems(ruleset: RuleSet) -> None:
    for problem in ruleset.problems:
        print(problem, file=sys.stderr)


