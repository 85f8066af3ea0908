"""The `watcher` command line (contract in DESIGN.md: keep names, arguments, exit codes).

Each command lives in its own module with `register(sub)`, which adds its parser and sets
`handler` (a function of the parsed arguments returning the exit code). To add a command,
write a module and list it in `COMMANDS`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from watcher import __version__
from watcher.cli import (
    alerts_cmd,
    config_cmd,
    feeds_cmd,
    match_cmd,
    rules_cmd,
    schema_cmd,
    service_cmd,
    silences_cmd,
    status_cmd,
)
from watcher.cli.common import EXIT_FAIL
from watcher.errors import SourceError, WatcherError

COMMANDS = (service_cmd, rules_cmd, match_cmd, schema_cmd, config_cmd, status_cmd, alerts_cmd,
            feeds_cmd, silences_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="watcher",
        description="Poll news feeds, match articles against YAML rules, deliver alerts.")
    parser.add_argument("--version", action="version", version=f"watcher {__version__}")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                        help="override the configured log level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except SourceError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_FAIL
    except WatcherError as exc:  # e.g. the store cannot be opened: one line, no traceback
        print(f"watcher: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `watcher match ... | head`: the reader has all it wanted
        # Point stdout at nothing, so that the interpreter's final flush does not fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # as a shell reports a pipe closed under a command: 128 + SIGPIPE
