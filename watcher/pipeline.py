"""One poll of one feed, stage by stage: the only module that knows their order.

    fetch ─▶ parse ─▶ dedupe ─▶ match ─▶ route ─▶ outbox

Delivery from the outbox is the delivery worker's job (deliver.py); a poll only writes alerts
to the store, in the same transaction that records their articles as seen, so a crash at any
point means a retry, never a lost or a repeated alert.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from .alerts import build_alerts
from .config import Config, FeedConfig
from .fetch import fetch_feed
from .match import Matcher, match_article
from .models import Article, Delivery, FeedState, FetchResult
from .parse import parse_feed
from .route import route_alert
from .store import SqliteStore

log = logging.getLogger("watcher.pipeline")

MAX_FAILURE_BACKOFF = 6 * 3600.0


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Pipeline:
    """What every poll needs, built once per process. `matcher` may be swapped on reload."""

    config: Config
    store: SqliteStore
    client: httpx.AsyncClient
    matcher: Matcher
    clock: Callable[[], datetime] = utcnow
    outbox_changed: asyncio.Event = field(default_factory=asyncio.Event)
    rng: random.Random = field(default_factory=random.Random)


@dataclass(frozen=True)
class PollReport:
    feed_id: str
    status: int | None = None
    articles: int = 0
    new_articles: int = 0
    alerts: int = 0
    deliveries: int = 0
    skipped: bool = False
    error: str | None = None


async def poll_feed(pipe: Pipeline, feed: FeedConfig, *, force: bool = False) -> PollReport:
    """Fetch, parse, dedupe, match and queue alerts for one feed. Never raises for a feed's
    own problems: they are recorded in its health and reported."""
    now = pipe.clock()
    state = await pipe.store.load_feed_state(feed.id)
    if state is None or state.url != feed.url:
        state = FeedState(feed_id=feed.id, url=feed.url)
    if not force and state.next_poll is not None and state.next_poll > now:
        return PollReport(feed.id, skipped=True)
    state.last_attempt = now
    result = await fetch_feed(
        pipe.client, feed.id, feed.url, etag=state.etag, last_modified=state.last_modified,
        settings=pipe.config.fetch, base_dir=pipe.config.base_dir,
    )
    state.last_status = result.status
    if result.not_modified:
        _record_success(pipe, feed, state, result, now)
        await pipe.store.save_feed_state(state)
        log.debug("feed %s: not modified", feed.id, extra={"feed": feed.id})
        return PollReport(feed.id, status=304)
    if not result.ok or result.body is None:
        return await _record_failure(pipe, feed, state, result.error or "empty response",
                                     result.retry_after, now, result.status)
    # Parsing a large feed takes CPU seconds: keep the event loop (other polls, deliveries)
    # responsive by running it in a worker thread.
    outcome = await asyncio.to_thread(
        parse_feed, result.body, feed_id=feed.id, source=feed.title or feed.id,
        url=result.final_url or feed.url, content_type=result.content_type,
        language=feed.language,
    )
    if outcome.error:
        return await _record_failure(pipe, feed, state, outcome.error, None, now, result.status)
    report = await queue_articles(pipe, outcome.articles, now)
    _record_success(pipe, feed, state, result, now)
    state.last_error = outcome.warning
    state.entries_seen += report.new_articles
    await pipe.store.save_feed_state(state)
    if report.alerts:
        log.info("feed %s: %d new articles, %d alerts", feed.id, report.new_articles,
                 report.alerts, extra={"feed": feed.id})
    return PollReport(feed.id, status=result.status, articles=len(outcome.articles),
                      new_articles=report.new_articles, alerts=report.alerts,
                      deliveries=report.deliveries)


@dataclass(frozen=True)
class QueueReport:
    new_articles: int
    alerts: int
    deliveries: int


async def queue_articles(pipe: Pipeline, articles: Iterable[Article], now: datetime) -> QueueReport:
    """Dedupe, match and route articles; write the new ones and their alerts in one go."""
    unique = list({a.key: a for a in articles}.values())
    unseen = await pipe.store.unseen_keys([a.key for a in unique])
    fresh = [a for a in unique if a.key in unseen]
    if not fresh:
        return QueueReport(0, 0, 0)
    deliveries: list[Delivery] = []
    alerts = 0
    oldest = _oldest_alertable(pipe.config, now)
    for article in fresh:
        if oldest is not None and article.published is not None and article.published < oldest:
            continue
        found = match_article(pipe.matcher, article)
        built = build_alerts(article, found, now)
        alerts += len(built)
        for hit, alert in zip(found.hits, built, strict=True):
            sinks = route_alert(hit.notify, pipe.config)
            deliveries.extend(Delivery(alert, sink) for sink in sinks)
    new = await pipe.store.record_articles(fresh, deliveries, now)
    if deliveries:
        pipe.outbox_changed.set()
    return QueueReport(new, alerts, len(deliveries))


def _oldest_alertable(config: Config, now: datetime) -> datetime | None:
    if config.max_article_age is None:
        return None
    return now - timedelta(seconds=config.max_article_age)


def _record_success(pipe: Pipeline, feed: FeedConfig, state: FeedState, result: FetchResult,
                    now: datetime) -> None:
    state.last_success = now
    state.consecutive_failures = 0
    state.last_error = None
    if result.etag is not None or result.status != 304:
        state.etag = result.etag
    if result.last_modified is not None or result.status != 304:
        state.last_modified = result.last_modified
    state.next_poll = now + timedelta(seconds=pipe.config.feed_interval(feed))


async def _record_failure(pipe: Pipeline, feed: FeedConfig, state: FeedState, error: str,
                          retry_after: float | None, now: datetime,
                          status: int | None) -> PollReport:
    state.consecutive_failures += 1
    state.last_error = error
    delay = failure_backoff(pipe.config.feed_interval(feed), state.consecutive_failures,
                            retry_after, pipe.rng)
    state.next_poll = now + timedelta(seconds=delay)
    await pipe.store.save_feed_state(state)
    log.warning("feed %s: %s (failure %d, next try in %.0fs)", feed.id, error,
                state.consecutive_failures, delay, extra={"feed": feed.id})
    return PollReport(feed.id, status=status, error=error)


def failure_backoff(interval: float, failures: int, retry_after: float | None,
                    rng: random.Random) -> float:
    """Seconds until a failing feed is tried again: its interval doubled per consecutive
    failure, with jitter, capped at six hours, and never sooner than the server asked."""
    base = min(interval * 2 ** max(failures - 1, 0), MAX_FAILURE_BACKOFF)
    delay = base * rng.uniform(0.8, 1.2)
    return max(delay, retry_after or 0.0)
