"""`watcher config show` and `watcher config check`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import yaml

from watcher.cli.common import EXIT_FAIL, EXIT_OK, add_config_option, quiet_logging
from watcher.config.environment import env_overrides
from watcher.config.masked import shown_config
from watcher.config.settings import Config, config_path, load_config


def register(sub: Any) -> None:
    config = sub.add_parser("config", help="show or check the effective configuration",
                            description="The configuration file with its WATCHER_… "
                                        "environment overrides applied.")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    show = config_sub.add_parser(
        "show", help="print the effective configuration, secrets masked",
        description="Print the configuration as the service would run it: file, ${VAR} "
                    "values and WATCHER_… overrides applied, every secret masked.")
    show.add_argument("--json", action="store_true", help="JSON instead of YAML")
    show.set_defaults(handler=cmd_config_show)
    check = config_sub.add_parser(
        "check", help="validate the configuration",
        description="Validate the configuration. Exit 1 with one FILE:LINE:COL: message line "
                    "per problem on stderr (for an environment variable: $NAME:1:1: …).")
    check.set_defaults(handler=cmd_config_check)
    for p in (show, check):
        add_config_option(p)


def cmd_config_show(args: argparse.Namespace) -> int:
    quiet_logging(args)
    path = config_path(args.config)
    data = shown_config(load_config(path))
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        overrides = _override_names()
        print(f"# {path}" + (f", overridden by {', '.join(overrides)}" if overrides else ""))
        print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")
    return EXIT_OK


def cmd_config_check(args: argparse.Namespace) -> int:
    quiet_logging(args)
    path = config_path(args.config)
    config = load_config(path)  # problems go to stderr as FILE:LINE:COL lines (cli/__init__)
    missing = [p for p in config.rule_paths() if not p.exists()]
    for rule_path in missing:
        print(f"{path}:1:1: rules: {rule_path} does not exist", file=sys.stderr)
    if missing:
        return EXIT_FAIL
    print(_summary(path, config))
    return EXIT_OK


def _override_names() -> list[str]:
    return sorted(s for s in env_overrides(Config, os.environ).sources.values())


def _summary(path: object, config: Config) -> str:
    feeds = sum(1 for f in config.feeds if f.enabled)
    text = (f"{path}: OK ({feeds} feeds enabled, {len(config.sinks)} sinks, "
            f"{len(config.rules)} rule paths, http {config.http.listen or 'off'})")
    overrides = _override_names()
    return text + (f"; from the environment: {', '.join(overrides)}" if overrides else "")
