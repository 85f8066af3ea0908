"""The long-running service (`watcher run`) and one burst pass (`watcher once`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import httpx

from .config import Config
from .deliver import DeliveryReport, deliver_due, drain_outbox
from .fetch import make_client
from .match import Matcher, compile_rules
from .pipeline import Pipeline, PollReport, poll_feed
from .rules import RuleSet, load_rules
from .scheduler import enabled_feeds, schedule_feeds
from .sinks import Sink, build_sinks
from .store import open_store

log = logging.getLogger("watcher.service")

ONCE_DELIVERY_DEADLINE = 120.0
STOP_DELIVERY_GRACE = 10.0


def load_matcher(config: Config) -> tuple[RuleSet, Matcher]:
    """Load and compile the configured rules; log every problem. Broken files are skipped,
    the rules of every other file stay active."""
    ruleset = load_rules(config.rule_paths())
    for problem in ruleset.problems:
        level = logging.ERROR if problem.severity == "error" else logging.WARNING
        log.log(level, "rules: %s", problem)
    log.info("loaded %d rules", len(ruleset.rules))
    return ruleset, compile_rules(ruleset)


@dataclass
class Runtime:
    pipe: Pipeline
    sinks: Mapping[str, Sink]


@contextlib.asynccontextmanager
async def open_runtime(config: Config) -> AsyncIterator[Runtime]:
    _, matcher = load_matcher(config)
    store = await open_store(config.state_path())
    try:
        async with make_client(config.fetch) as feed_client, httpx.AsyncClient() as sink_client:
            pipe = Pipeline(config=config, store=store, client=feed_client, matcher=matcher)
            yield Runtime(pipe, build_sinks(config, sink_client))
    finally:
        await store.close()


@dataclass(frozen=True)
class OnceReport:
    polls: list[PollReport]
    delivery: DeliveryReport

    @property
    def failed_feeds(self) -> list[PollReport]:
        return [p for p in self.polls if p.error]


async def run_once(config: Config) -> OnceReport:
    """Poll every enabled feed once, queue alerts, deliver what can be delivered, return."""
    async with open_runtime(config) as rt:
        polls = await asyncio.gather(*(poll_feed(rt.pipe, f, force=True)
                                       for f in enabled_feeds(config)))
        delivery = await drain_outbox(rt.pipe.store, rt.sinks, config.delivery, rt.pipe.clock,
                                      deadline=ONCE_DELIVERY_DEADLINE)
    return OnceReport(list(polls), delivery)


async def run_service(config: Config, stop: asyncio.Event | None = None) -> None:
    """Poll on schedule and deliver until `stop` is set or SIGTERM/SIGINT arrives."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with open_runtime(config) as rt:
        scheduler = schedule_feeds(rt.pipe, enabled_feeds(config))
        worker = asyncio.create_task(delivery_loop(rt, stop), name="delivery")
        log.info("watcher running: %d feeds, sinks %s", len(enabled_feeds(config)),
                 ", ".join(rt.sinks) or "none")
        await stop.wait()
        log.info("stopping: no new polls; finishing deliveries in flight")
        scheduler.shutdown(wait=False)
        try:
            await asyncio.wait_for(worker, STOP_DELIVERY_GRACE)
        except TimeoutError:
            log.warning("deliveries still running after %.0fs; they will be retried on start",
                        STOP_DELIVERY_GRACE)
    log.info("watcher stopped")


async def delivery_loop(rt: Runtime, stop: asyncio.Event) -> None:
    """Deliver due alerts whenever a poll queues some, and at least every poll_interval."""
    settings = rt.pipe.config.delivery
    while not stop.is_set():
        rt.pipe.outbox_changed.clear()
        try:
            await deliver_due(rt.pipe.store, rt.sinks, settings, rt.pipe.clock)
        except Exception:
            log.exception("delivery pass failed; retrying")
        waiters = [asyncio.create_task(e.wait()) for e in (stop, rt.pipe.outbox_changed)]
        await asyncio.wait(waiters, timeout=settings.poll_interval,
                           return_when=asyncio.FIRST_COMPLETED)
        for w in waiters:
            w.cancel()
