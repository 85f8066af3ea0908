"""What the command modules share: exit codes, the --config option, loading the config."""

from __future__ import annotations

import argparse
import sys

from watcher.config.masked import secret_values
from watcher.config.settings import Config, config_path, load_config
from watcher.rules.load import RuleSet
from watcher.service.logs import setup_logging

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

CONFIG_HELP = "config file (default: $WATCHER_CONFIG, else config/watcher.yaml)"



def add_config_option(parser: argparse.ArgumentParser, extra: str = "") -> None:
    parser.add_argument("--config", help=CONFIG_HELP + extra)


def load(args: argparse.Namespace) -> Config:
    """The config named by --config (or its defaults), with logging set up from it."""
    config = load_config(config_path(args.config))
    setup_logging(args.log_level or config.log_level, secrets=secret_values(config))
    return config


def quiet_logging(args: argparse.Namespace) -> None:
    """Offline commands log only warnings unless asked otherwise."""
    setup_logging(args.log_level or "warning")


def print_problems(ruleset: RuleSet) -> None:
    for problem in ruleset.problems:
        print(problem, file=sys.stderr)
