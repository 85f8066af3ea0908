"""APScheduler 3.x: one interval job per feed, with jitter, never two polls of a feed at once."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from .config import Config, FeedConfig
from .pipeline import Pipeline, poll_feed

log = logging.getLogger("watcher.scheduler")


def schedule_feeds(pipe: Pipeline, feeds: Sequence[FeedConfig]) -> AsyncIOScheduler:
    """A started scheduler polling each feed at its own interval. The first polls are spread
    over the first few seconds so a restart does not fire hundreds of requests at once."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    now = pipe.clock()
    spread = min(pipe.config.jitter, 5.0)
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


def enabled_feeds(config: Config) -> list[FeedConfig]:
    return [f for f in config.feeds if f.enabled]
