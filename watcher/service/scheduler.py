"""When feeds are polled: timers in one process, claims from a store that replicas share.

    SQLite (one process)     APScheduler, one interval job per feed, with jitter
    PostgreSQL (replicas)    `FeedClaimer`: each replica claims batches of due feeds

With replicas, per-feed timers in every replica would each ask the store for the feed when
it falls due, and all but one would be refused: a wasted round trip per extra replica per
poll, which made more replicas slower. Instead a replica asks once for as many due feeds as
it has free fetch slots, and the store hands each due feed to exactly one replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from watcher.config.settings import Config, FeedConfig
from watcher.errors import StoreError
from watcher.pipeline import Pipeline, feed_lease_seconds, poll_feed

log = logging.getLogger("watcher.scheduler")

FIRST_POLL_SPREAD = 5.0  # at most this many seconds: `jitter` spreads the first polls
CLAIM_TICK = 1.0  # seconds between claims when no poll finishes sooner


class Polling(Protocol):
    """What the service starts and stops, however feeds are scheduled."""

    @property
    def running(self) -> bool: ...
    async def stop(self, grace: float) -> None: ...


@runtime_checkable
class SharedFeeds(Protocol):
    """A store several replicas share, which hands out due feeds in batches (postgres.py)."""

    async def add_feeds(self, feeds: Sequence[tuple[str, str, datetime]]) -> int: ...
    async def claim_due_feeds(self, feed_ids: Sequence[str], replica_id: str, now: datetime,
                              limit: int, lease_seconds: float) -> list[str]: ...
    async def release_feed(self, feed_id: str, replica_id: str) -> None: ...


async def start_polling(pipe: Pipeline, feeds: Sequence[FeedConfig]) -> Polling:
    """Claims when the store is shared by replicas, timers otherwise; started."""
    if isinstance(pipe.store, SharedFeeds):
        claimer = FeedClaimer(pipe, feeds, pipe.store)
        await claimer.start()
        return claimer
    return FeedTimers(schedule_feeds(pipe, feeds))


def first_poll_spread(config: Config) -> float:
    return min(config.jitter, FIRST_POLL_SPREAD)


# One process: timers

class FeedTimers:
    """The APScheduler that polls each feed on its own timer."""

    def __init__(self, scheduler: AsyncIOScheduler) -> None:
        self.scheduler = scheduler

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    async def stop(self, grace: float) -> None:
        """No new polls; polls in flight end with the process."""
        self.scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # AsyncIOScheduler shuts down on the loop's next turn


def schedule_feeds(pipe: Pipeline, feeds: Sequence[FeedConfig]) -> AsyncIOScheduler:
    """A started scheduler polling each feed at its own interval. The first polls are spread
    over the first few seconds so a restart does not fire hundreds of requests at once."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    now = pipe.clock()
    spread = first_poll_spread(pipe.config)
    for feed in feeds:
        interval = pipe.config.feed_interval(feed)
        scheduler.add_job(
            _guarded(pipe, feed), "interval", seconds=interval, jitter=pipe.config.jitter or None,
            id=feed.id, name=f"poll {feed.id}", max_instances=1, coalesce=True,
            misfire_grace_time=max(int(interval), 1),
            next_run_time=now + timedelta(seconds=pipe.rng.uniform(0, spread)),
        )
    scheduler.start()
    log.info("scheduled %d feeds", len(feeds))
    return scheduler


def _guarded(pipe: Pipeline, feed: FeedConfig) -> Callable[[], Awaitable[None]]:
    """A job that logs its own failures with the feed's id: one feed's bug never stops others."""
    async def job() -> None:
        try:
            await poll_feed(pipe, feed)
        except Exception:
            log.exception("feed %s: poll failed", feed.id, extra={"feed": feed.id})
    job.__name__ = f"poll_{feed.id}"
    return job


# Replicas: claims

class FeedClaimer:
    """Polls the feeds this replica claims from a shared store.

    Every `tick` seconds, and as soon as a poll ends, it claims up to its free fetch slots
    (`fetch.concurrency` minus polls in flight) of due feeds in one statement and polls them
    at once. Each poll saves the feed's next due time (interval, or backoff after a failure)
    and then releases the lease. On `stop` it claims no more, lets polls in flight finish
    within a grace period, and cancels the rest, each releasing its lease as it ends."""

    def __init__(self, pipe: Pipeline, feeds: Sequence[FeedConfig], store: SharedFeeds,
                 tick: float = CLAIM_TICK) -> None:
        self.pipe, self.store, self.tick = pipe, store, tick
        self.feeds = {f.id: f for f in feeds}
        self._feed_ids = list(self.feeds)  # what each claim offers
        self.capacity = pipe.config.fetch.concurrency
        self.in_flight: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop: asyncio.Task[None] | None = None
        self._store_failing = False

    @property
    def running(self) -> bool:
        return self._loop is not None and not self._loop.done()

    async def start(self) -> None:
        """Create the rows of feeds no replica has seen, due over the first seconds (spread
        by `jitter`), then claim in the background."""
        now, spread = self.pipe.clock(), first_poll_spread(self.pipe.config)
        added = await self.store.add_feeds([
            (f.id, f.url, now + timedelta(seconds=self.pipe.rng.uniform(0, spread)))
            for f in self.feeds.values()])
        self._loop = asyncio.create_task(self._claim_loop(), name="feed-claims")
        log.info("claiming %d feeds (%d new) with %d fetch slots", len(self.feeds), added,
                 self.capacity)

    async def claim(self) -> list[str]:
        """Claim due feeds for the free fetch slots and start polling them; their ids."""
        free = self.capacity - len(self.in_flight)
        if free <= 0 or self._stopping:
            return []
        claimed = await self.store.claim_due_feeds(
            self._feed_ids, self.pipe.replica_id, self.pipe.clock(), free,
            feed_lease_seconds(self.pipe.config))
        for feed_id in claimed:
            self.in_flight[feed_id] = asyncio.create_task(
                self._poll(self.feeds[feed_id]), name=f"poll {feed_id}")
        return claimed

    async def stop(self, grace: float) -> None:
        """Claim no more; give polls in flight `grace` seconds, then cancel them."""
        self._stopping = True
        self._wake.set()
        if self._loop is not None:
            await self._loop  # a claim under way completes, so its polls are started
        polls = list(self.in_flight.values())
        if polls:
            _, late = await asyncio.wait(polls, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _claim_loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.claim()
            except StoreError as exc:
                self._note_store_failure(exc)
            except Exception:  # a bug: say so, and keep polling
                log.exception("claiming feeds failed")
            else:
                if self._store_failing:
                    log.warning("claiming feeds again")
                    self._store_failing = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tick)

    def _note_store_failure(self, exc: StoreError) -> None:
        """Say once that claims fail (the database is down), not once per tick."""
        if not self._store_failing:
            log.error("cannot claim feeds: %s; retrying every %.0fs", exc, self.tick)
        self._store_failing = True

    async def _poll(self, feed: FeedConfig) -> None:
        written = False  # a poll's state is written with the end of its lease
        try:
            report = await poll_feed(self.pipe, feed, force=True)  # leased by the claim
            written = not report.skipped
        except Exception:
            log.exception("feed %s: poll failed", feed.id, extra={"feed": feed.id})
        finally:
            try:
                if not written:
                    await self.store.release_feed(feed.id, self.pipe.replica_id)
            except StoreError as exc:  # the lease runs out by itself
                log.warning("feed %s: lease not released: %s", feed.id, exc,
                            extra={"feed": feed.id})
            self.in_flight.pop(feed.id, None)
            self._wake.set()


def enabled_feeds(config: Config) -> list[FeedConfig]:
    return [f for f in config.feeds if f.enabled]
