"""`watcher silences`: the desk's silences from the command line (the same store rows as
the page and /api/v1/silences, so every replica sees them at once).

    watcher silences [--all] [--json]                      silences not yet over (or all)
    watcher silences add --match KIND=VALUE [--match …] --duration 2h --reason TEXT
                         [--author NAME] [--starts ISO-8601]
    watcher silences expire ID                             end one now

A silence mutes the alerts that carry every one of its matchers (rule, severity, tag,
place, group, feed, story): they are kept and shown silenced, and not sent to sinks.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from watcher.cli.common import CONFIG_HELP, EXIT_FAIL, EXIT_OK, add_config_option, load
from watcher.config.settings import Config, parse_duration
from watcher.store import FacetKind, Silence, Store, open_store
from watcher.store.desk_records import SILENCE_KINDS

T = TypeVar("T")


def register(sub: Any) -> None:
    silences = sub.add_parser("silences", help="list, add or expire the desk's silences",
                              description="Silences mute alerts matching all their matchers "
                                          "for a while: kept and shown silenced, not sent.")
    add_config_option(silences)
    silences.add_argument("--all", action="store_true", help="expired ones too")
    silences.add_argument("--json", action="store_true", help="one JSON object per line")
    silences.set_defaults(handler=cmd_list)
    actions = silences.add_subparsers(dest="action", metavar="ACTION")
    add = actions.add_parser("add", help="silence alerts for a while",
                             description="Mute alerts carrying every --match, from now (or "
                                         "--starts) for --duration.")
    add.add_argument("--config", default=argparse.SUPPRESS, help=CONFIG_HELP)
    add.add_argument("--match", action="append", required=True, type=_matcher,
                     metavar="KIND=VALUE",
                     help=f"KIND one of {', '.join(SILENCE_KINDS)}; repeat: all must hold")
    add.add_argument("--duration", required=True, type=_duration, help="30m, 2h, 1d …")
    add.add_argument("--reason", required=True, help="why (shown with the silence)")
    add.add_argument("--author", default=None, help="who (default: your login name)")
    add.add_argument("--starts", type=_time, default=None, help="ISO-8601 (default: now)")
    add.set_defaults(handler=cmd_add)
    expire = actions.add_parser("expire", help="end a silence now")
    expire.add_argument("--config", default=argparse.SUPPRESS, help=CONFIG_HELP)
    expire.add_argument("silence_id", type=int, metavar="ID")
    expire.set_defaults(handler=cmd_expire)


def _matcher(text: str) -> tuple[FacetKind, str]:
    kind, sep, value = text.partition("=")
    if not sep or not value or kind not in SILENCE_KINDS:
        raise argparse.ArgumentTypeError(
            f"not KIND=VALUE with KIND one of {', '.join(SILENCE_KINDS)}: {text!r}")
    return cast(FacetKind, kind), value


def _duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("a silence lasts longer than 0s")
    return seconds


def _time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _with_store(config: Config, work: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        store = await open_store(config.state_location())
        try:
            return await work(store)
        finally:
            await store.close()
    return asyncio.run(run())


def render(silence: Silence, now: datetime) -> str:
    matchers = " ".join(f"{k}={v}" for k, v in silence.matchers)
    return (f"#{silence.id}  {silence.state(now):7}  {matchers}  "
            f"{silence.starts_at.isoformat(timespec='minutes')} → "
            f"{silence.ends_at.isoformat(timespec='minutes')}  {silence.author}: "
            f"{silence.reason}")


def cmd_list(args: argparse.Namespace) -> int:
    config = load(args)
    now = datetime.now(UTC)
    silences = _with_store(config, lambda s: s.list_silences(None if args.all else now))
    for silence in silences:
        print(json.dumps(silence.to_dict(now), ensure_ascii=False) if args.json
              else render(silence, now))
    if not silences and not args.json:
        print("no silences" if args.all else "no current silences")
    return EXIT_OK


def cmd_add(args: argparse.Namespace) -> int:
    config = load(args)
    now = datetime.now(UTC)
    starts = args.starts or now
    ends = starts + timedelta(seconds=args.duration)
    if ends <= now:
        print("watcher: that silence would already be over", file=sys.stderr)
        return EXIT_FAIL
    author = args.author or getpass.getuser()
    silence = _with_store(config, lambda s: s.add_silence(args.match, starts, ends, author,
                                                          args.reason, now))
    print(render(silence, now))
    return EXIT_OK


def cmd_expire(args: argparse.Namespace) -> int:
    config = load(args)
    now = datetime.now(UTC)
    silence = _with_store(config, lambda s: s.expire_silence(args.silence_id, now))
    if silence is None:
        print(f"watcher: no silence #{args.silence_id}", file=sys.stderr)
        return EXIT_FAIL
    print(render(silence, now))
    return EXIT_OK
