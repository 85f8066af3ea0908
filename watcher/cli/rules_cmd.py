"""`watcher rules check` and `watcher rules test`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from watcher.cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    add_config_option,
    load,
    print_problems,
    quiet_logging,
)
from watcher.matching.examples import run_examples
from watcher.matching.matcher import compile_rules
from watcher.rules.load import load_rules


def register(sub: Any) -> None:
    rules = sub.add_parser("rules", help="check or test rule files",
                           description="Validate rule files or run their examples.")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    check = rules_sub.add_parser(
        "check", help="validate rule files/folders",
        description="Validate rule files and folders (default: the configured rules). "
                    "Exit 1 with one FILE:LINE:COL: message line per problem on stderr.")
    check.set_defaults(handler=cmd_rules_check)
    test = rules_sub.add_parser(
        "test", help="run the examples embedded in rule files",
        description="Run every rule's `examples`; exit 1 on any failure, naming the rule "
                    "and the example.")
    test.set_defaults(handler=cmd_rules_test)
    for p in (check, test):
        p.add_argument("paths", nargs="*", metavar="PATH", help="rule file or folder")
        add_config_option(p, "; used when no PATH is given")


def rule_paths(args: argparse.Namespace) -> list[Path]:
    """The PATH arguments, else the configured rule paths."""
    quiet_logging(args)
    if args.paths:
        return [Path(p) for p in args.paths]
    return load(args).rule_paths()


def cmd_rules_check(args: argparse.Namespace) -> int:
    ruleset = load_rules(rule_paths(args))
    print_problems(ruleset)
    if not ruleset.ok:
        return EXIT_FAIL
    print(f"{len(ruleset.rules)} rules OK")
    return EXIT_OK


def cmd_rules_test(args: argparse.Namespace) -> int:
    ruleset = load_rules(rule_paths(args))
    print_problems(ruleset)
    results = run_examples(ruleset, compile_rules(ruleset))
    failures = [r for r in results if not r.ok]
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"{len(results)} examples, {len(results) - len(failures)} passed, "
          f"{len(failures)} failed")
    return EXIT_FAIL if failures or not ruleset.ok else EXIT_OK
