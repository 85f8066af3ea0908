"""Where a first poll's CPU goes, per new article, stage by stage.

    .venv/bin/python bench/poll_stages.py [--feeds 200] [--runs 3] [--concurrency 64]

The first poll of bench/poll.py's first-start workload (bench/poll_workload.py: feeds of
~100 KB, 50 new items each, one host, 50 ms latency), run through the real pipeline in one
process, with each stage's functions wrapped to count the CPU time of the thread they run
in (`time.thread_time`, so the GIL waits of other threads are not counted; a stage called
inside another counts for itself only, not for its caller):

    parse          read_feed: the XML read into entries and keys (a worker thread)
    HTML to text   plain_text, called while articles are built from unseen entries
    articles       the rest of building articles (ParsedFeed.articles)
    language       with_languages (feeds/complete.py)
    match          match_article
    alerts built   build_alerts
    story          story_entry, and the store's assign_stories (its query and the
                   clustering it runs in the store's thread)
    dedupe reads   the store's unseen_keys (in the store's thread)
    store writes   the store's record_polls: feed states, articles and outbox rows
    store, other   every other store call (feed states read, quiet-repeat lookups, ...)
    delivery       draining the outbox to the JSONL sink (after the polls, process CPU)
    loop, rest     the process's CPU less all of the above: the event loop, fetches,
                   digests, routing, metrics, logging, task switching

Figures are CPU milliseconds per new article and shares of the whole, medians over
`--runs` fresh processes. The server runs in its own process: its CPU is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import poll_workload  # noqa: E402

STAGES = ("parse", "HTML to text", "articles", "language", "match", "alerts built", "story",
          "dedupe reads", "store writes", "store, other", "delivery", "loop, rest")


class StageClock:
    """CPU seconds per stage. Timed calls nest per thread: a call's time is its own less
    that of the timed calls inside it."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()
        self._local = threading.local()

    @contextmanager
    def timing(self, stage: str) -> Iterator[None]:
        stack: list[float] = self._local.__dict__.setdefault("inner", [])
        stack.append(0.0)  # CPU of timed calls inside this one
        started = time.thread_time()
        try:
            yield
        finally:
            spent = time.thread_time() - started
            inner = stack.pop()
            if stack:
                stack[-1] += spent
            with self._lock:
                self.seconds[stage] += spent - inner

    def wrap(self, fn: Callable[..., Any], stage: str) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.timing(stage):
                return fn(*args, **kwargs)
        return timed


STORE_STAGE: ContextVar[str] = ContextVar("store_stage", default="store, other")
STORE_CALLS = {"record_polls": "store writes", "unseen_keys": "dedupe reads",
               "assign_stories": "story"}


def instrument(clock: StageClock) -> None:
    """Wrap the stages' functions where the pipeline looks them up."""
    from watcher import pipeline
    from watcher.feeds import complete, parse
    from watcher.store.sqlite import SqliteStore

    pipeline.read_feed = clock.wrap(pipeline.read_feed, "parse")  # type: ignore[assignment]
    parse.plain_text = clock.wrap(parse.plain_text, "HTML to text")
    parse.ParsedFeed.articles = clock.wrap(  # type: ignore[method-assign]
        parse.ParsedFeed.articles, "articles")
    complete.with_languages = clock.wrap(complete.with_languages, "language")
    pipeline.match_article = clock.wrap(pipeline.match_article, "match")
    pipeline.build_alerts = clock.wrap(pipeline.build_alerts, "alerts built")
    pipeline.story_entry = clock.wrap(pipeline.story_entry, "story")
    pipeline.assign_stories = clock.wrap(pipeline.assign_stories, "story")

    # The store runs its queries in one thread of its own (store/sqlite.py); the stage is
    # the public method that asked, carried to that thread with the call.
    call = SqliteStore._call

    async def staged_call(self: SqliteStore, fn: Callable[..., Any], *args: Any) -> Any:
        return await call(self, clock.wrap(fn, STORE_STAGE.get()), *args)

    SqliteStore._call = staged_call  # type: ignore[method-assign]
    for name, stage in STORE_CALLS.items():
        method = getattr(SqliteStore, name)

        async def staged(self: SqliteStore, *args: Any, _method: Any = method,
                         _stage: str = stage, **kwargs: Any) -> Any:
            token = STORE_STAGE.set(_stage)
            try:
                return await _method(self, *args, **kwargs)
            finally:
                STORE_STAGE.reset(token)
        setattr(SqliteStore, name, staged)


async def first_poll(port: int, feeds: int, concurrency: int) -> dict[str, Any]:
    """One first poll, instrumented: CPU seconds per stage, and the articles it found."""
    from watcher.delivery.grouping import batch_policies
    from watcher.delivery.worker import drain_outbox
    from watcher.pipeline import poll_feed
    from watcher.service.runner import open_runtime

    clock = StageClock()
    instrument(clock)
    with tempfile.TemporaryDirectory() as tmp:
        config = poll_workload.watcher_config(Path(tmp), port, feeds, concurrency, concurrency,
                                              ROOT)
        async with open_runtime(config) as rt:
            clock.seconds.clear()  # loading rules touched the store
            cpu = poll_workload._cpu()
            reports = await asyncio.gather(*(poll_feed(rt.pipe, f, force=True)
                                             for f in config.feeds))
            polled, during_polls = poll_workload._cpu(), dict(clock.seconds)
            await drain_outbox(rt.pipe.store, rt.sinks, config.delivery, rt.pipe.clock,
                               deadline=300, metrics=rt.pipe.metrics,
                               policies=batch_policies(config))
            drained = poll_workload._cpu()
    seconds = dict(during_polls)  # the store calls of the drain are the drain's
    seconds["delivery"] = drained - polled
    seconds["loop, rest"] = (polled - cpu) - sum(during_polls.values())
    errors = [r.error for r in reports if r.error]
    return {"seconds": seconds, "cpu": drained - cpu,
            "articles": sum(r.new_articles for r in reports),
            "alerts": sum(r.alerts for r in reports), "errors": len(errors),
            "first_error": errors[0] if errors else None}


def child(port: int, feeds: int, concurrency: int) -> None:
    print(json.dumps(asyncio.run(first_poll(port, feeds, concurrency))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--child-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_port:
        child(args.child_port, args.feeds, args.concurrency)
        return
    server = subprocess.Popen([sys.executable, str(ROOT / "bench" / "poll.py"),
                               "--serve-first-start"], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        runs = []
        for _ in range(args.runs):
            out = subprocess.run([sys.executable, __file__, "--child-port", str(port),
                                  "--feeds", str(args.feeds),
                                  "--concurrency", str(args.concurrency)],
                                 capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        server.terminate()
        server.wait()
    report(args, runs)


def report(args: argparse.Namespace, runs: list[dict[str, Any]]) -> None:
    last = runs[-1]
    cpu = statistics.median(r["cpu"] for r in runs)
    articles = last["articles"]
    print(f"first poll of {args.feeds} feeds ({articles} new articles, {last['alerts']} alerts,"
          f" {last['errors']} errors), concurrency {args.concurrency}, medians of {len(runs)}")
    if last["first_error"]:
        print(f"  first error: {last['first_error']}")
    print(f"  CPU {cpu:.2f} s in all, {cpu / articles * 1000:.3f} ms per article")
    print(f"  {'stage':<14} {'ms/article':>10} {'share':>7}")
    for stage in STAGES:
        seconds = statistics.median(r["seconds"].get(stage, 0.0) for r in runs)
        print(f"  {stage:<14} {seconds / articles * 1000:10.3f} {seconds / cpu:7.1%}")


if __name__ == "__main__":
    main()
