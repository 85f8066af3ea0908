"""The long-running service (`watcher run`) and one burst pass (`watcher once`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from watcher.config.settings import Config
from watcher.delivery.grouping import batch_policies
from watcher.delivery.sending import DeliveryReport
from watcher.delivery.sinks import Sink, build_sinks
from watcher.delivery.worker import deliver_due, drain_outbox
from watcher.feeds.fetch import make_client
from watcher.matching.matcher import Matcher
from watcher.pipeline import Pipeline, PollReport, poll_feed
from watcher.service.heartbeat import Heartbeat
from watcher.service.reload import RuleReloader, RulesStatus, rule_reloader
from watcher.service.scheduler import enabled_feeds, start_polling
from watcher.service.websub_subscriber import WebSubSubscriber
from watcher.store import open_store

if TYPE_CHECKING:
    from aiohttp import web

    from watcher.service.httpapi import Mount

log = logging.getLogger("watcher.service")

ONCE_DELIVERY_DEADLINE = 120.0
STOP_RECORD_TIMEOUT = 5.0  # for marking the replica stopped in the store


@dataclass
class Runtime:
    pipe: Pipeline
    sinks: Mapping[str, Sink]
    rules: RuleReloader  # `rules.status`: when loaded, how many, current problems


def _install_rules(pipe: Pipeline, matcher: Matcher, status: RulesStatus) -> None:
    pipe.matcher = matcher  # polls in flight finish with the matcher they started with
    pipe.metrics.record_rules(status.rules, status.errors)


@contextlib.asynccontextmanager
async def open_runtime(config: Config) -> AsyncIterator[Runtime]:
    rules = rule_reloader(config)
    status = rules.reload()  # logs every problem; broken files load what still loads
    assert rules.matcher is not None
    store = await open_store(config.state_location())
    try:
        async with make_client(config.fetch) as feed_client, httpx.AsyncClient() as sink_client:
            pipe = Pipeline(config=config, store=store, client=feed_client, matcher=rules.matcher,
                            replica_id=config.replica_name())
            pipe.metrics.record_rules(status.rules, status.errors)
            pipe.metrics.record_replica(pipe.replica_id)
            rules.on_load = lambda matcher, status: _install_rules(pipe, matcher, status)
            yield Runtime(pipe, build_sinks(config, sink_client), rules)
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
                                      deadline=ONCE_DELIVERY_DEADLINE, metrics=rt.pipe.metrics,
                                      policies=batch_policies(config))
    return OnceReport(list(polls), delivery)


async def run_service(config: Config, stop: asyncio.Event | None = None) -> None:
    """Poll on schedule and deliver until `stop` is set or SIGTERM/SIGINT arrives. Then stop
    polling, give deliveries in flight `delivery.stop_grace` seconds, hand back the rest
    (retried on start) and return. A second signal exits the process at once."""
    # The ops server, the desk and the WebSub callback (aiohttp's server side) are imported
    # here: `watcher once` serves nothing and should not carry them (~10 MB).
    from watcher.desk import desk_mount
    from watcher.service.httpapi import Readiness, serve_ops

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, _on_stop_signal, stop, sig)
    async with open_runtime(config) as rt:
        ready = Readiness(rt.pipe.store, rules_loaded=lambda: len(rt.pipe.matcher.rules),
                          clock=rt.pipe.clock)
        desk = desk_mount(config, rt.pipe.store,
                          lambda: [c.rule for c in rt.pipe.matcher.rules], rt.pipe.clock)
        websub = _websub(rt.pipe, config)
        mounts = [m for m in (desk, _websub_mount(websub, config)) if m is not None]
        async with serve_ops(config.http.listen, rt.pipe.metrics, ready, mounts):
            # Feeds that advertise a hub push their entries (docs/websub.md).
            subscribing = asyncio.create_task(websub.run(stop), name="websub") if websub else None
            # Timers on SQLite; on PostgreSQL, batches of due feeds claimed (scheduler.py).
            polling = await start_polling(rt.pipe, enabled_feeds(config))
            ready.scheduler_running = lambda: polling.running
            # Rule changes apply without a restart: on file changes, and on SIGHUP.
            reloading = asyncio.create_task(rt.rules.watch(stop), name="rule-reload")
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signal.SIGHUP, rt.rules.request_reload)
            worker = asyncio.create_task(delivery_loop(rt, stop), name="delivery")
            # What this replica runs, in the store for `watcher status`; marked stopped last.
            beat = asyncio.create_task(Heartbeat(rt.pipe.store, rt.pipe.replica_id, rt.rules,
                                                 rt.pipe.clock).run(stop), name="heartbeat")
            log.info("watcher running as replica %s: %d feeds, sinks %s", rt.pipe.replica_id,
                     len(enabled_feeds(config)), ", ".join(rt.sinks) or "none")
            await stop.wait()
            log.info("stopping: no new polls; finishing deliveries in flight")
            grace = config.delivery.stop_grace
            # Polls in flight get the same grace as deliveries; cut off, they release their
            # leases, so other replicas take their feeds at once.
            polls_stopped = asyncio.create_task(polling.stop(grace), name="stop-polling")
            reloading.cancel()
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGHUP)
            try:
                await asyncio.wait_for(worker, grace)
            except TimeoutError:
                log.warning("deliveries still running after %.0fs were stopped; they are "
                            "retried on start", grace)
            await polls_stopped
            if subscribing is not None:
                await subscribing
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(beat, STOP_RECORD_TIMEOUT)
    log.info("watcher stopped")


def _websub_mount(websub: WebSubSubscriber | None, config: Config) -> Mount | None:
    """The WebSub callback under /websub/ on the ops server, when push is configured."""
    if websub is None:
        return None
    from watcher.service.websub_callback import MOUNT as WEBSUB_MOUNT
    from watcher.service.websub_callback import websub_app

    callback = websub_app(websub, config.fetch.max_bytes)

    def mount(app: web.Application) -> None:
        app.add_subapp(WEBSUB_MOUNT, callback)

    return mount


def _websub(pipe: Pipeline, config: Config) -> WebSubSubscriber | None:
    """The WebSub subscriber, installed in the pipeline, when `websub.callback_url` is set."""
    if config.websub.callback_url is None:
        return None
    subscriber = WebSubSubscriber(pipe, enabled_feeds(config), config.websub)
    pipe.push = subscriber
    return subscriber


def _on_stop_signal(stop: asyncio.Event, sig: signal.Signals) -> None:
    if stop.is_set():
        log.warning("second %s: exiting now; undelivered alerts are retried on start", sig.name)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + sig)
    log.info("%s: stopping", sig.name)
    stop.set()


async def delivery_loop(rt: Runtime, stop: asyncio.Event) -> None:
    """Deliver due alerts whenever a poll queues some, and at least every poll_interval."""
    settings = rt.pipe.config.delivery
    policies = batch_policies(rt.pipe.config)
    while not stop.is_set():
        rt.pipe.outbox_changed.clear()
        try:
            await deliver_due(rt.pipe.store, rt.sinks, settings, rt.pipe.clock,
                              metrics=rt.pipe.metrics, policies=policies)
        except Exception:
            log.exception("delivery pass failed; retrying")
        waiters = [asyncio.create_task(e.wait()) for e in (stop, rt.pipe.outbox_changed)]
        await asyncio.wait(waiters, timeout=settings.poll_interval,
                           return_when=asyncio.FIRST_COMPLETED)
        for w in waiters:
            w.cancel()
