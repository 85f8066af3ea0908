"""One poll of one feed, stage by stage: the only module that knows their order.

    fetch ─▶ parse ─▶ dedupe ─▶ text ─▶ match ─▶ route ─▶ outbox

Delivery from the outbox is the delivery worker's job (delivery.worker); a poll only writes alerts
to the store, in the same transaction that records their articles as seen, so a crash at any
point means a retry, never a lost or a repeated alert.

What a poll costs is what it finds new:
- a 304, or a body whose digest is the one last read, is not parsed;
- entries are keyed before their HTML is reduced to text, and entries already seen never are;
- the feed's state is read, and its state, articles and alerts are written, with other
  polls' in one query and one transaction (store.batching), the feed's articles and alerts
  atomic within it.

Memory is bounded by the work in flight, not by the number of feeds or articles: a fetched
body waits for one of WORK_SLOTS parse-and-match slots while still holding its fetch slot, so
at most `fetch.concurrency + WORK_SLOTS` bodies, and the articles of WORK_SLOTS feeds, are held.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Protocol

import httpx

from watcher.config.settings import Config, FeedConfig, default_replica_id
from watcher.delivery.quiet import RepeatFilter
from watcher.delivery.route import delivery_per, route_alert
from watcher.feeds.complete import complete_articles
from watcher.feeds.fetch import FetchLimits, fetch_feed
from watcher.feeds.health import (
    DUE_SLACK,
    failure_backoff,
    is_due,
    is_flagged,
    next_poll_after_success,
)
from watcher.feeds.parse import ParsedFeed, parse_feed, read_feed
from watcher.matching.alerts import build_alerts
from watcher.matching.matcher import Matcher, match_article
from watcher.metrics import Metrics
from watcher.models import Alert, Article, ArticleMatch, Delivery, FeedState, FetchResult
from watcher.store import PollRecord, Store
from watcher.store.batching import PollWriter, StateReader
from watcher.stories import assign_stories, delivery_gates, gate_decision, story_entry

log = logging.getLogger("watcher.pipeline")

__all__ = ["FeedPush", "Pipeline", "PollReport", "QueueReport", "accept_push", "failure_backoff",
           "poll_feed", "queue_articles"]

WORK_SLOTS = 4  # feeds parsed and matched at once (CPU-bound: a few per core is plenty)

def utcnow() -> datetime:
    return datetime.now(UTC)


class FeedPush(Protocol):
    """What push delivery (WebSub, service/websub_subscriber.py) adds to polling: it sees each
    fetched document (to find a hub) and stretches the interval of a feed that pushes."""

    async def fetched(self, feed: FeedConfig, result: FetchResult) -> None: ...
    def interval(self, feed: FeedConfig) -> float | None: ...


@dataclass
class Pipeline:
    """What every poll needs, built once per process. `matcher` may be swapped on reload."""

    config: Config
    store: Store
    client: httpx.AsyncClient
    matcher: Matcher
    clock: Callable[[], datetime] = utcnow
    outbox_changed: asyncio.Event = field(default_factory=asyncio.Event)
    metrics: Metrics = field(default_factory=Metrics)
    rng: random.Random = field(default_factory=random.Random)
    fetch_limits: FetchLimits | None = None  # built from config.fetch when not given
    replica_id: str = field(default_factory=default_replica_id)  # who holds feed leases
    work_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(WORK_SLOTS))
    writer: PollWriter = field(init=False)
    states: StateReader = field(init=False)
    push: FeedPush | None = None  # WebSub, when `websub.callback_url` is set

    def __post_init__(self) -> None:
        if self.fetch_limits is None:
            self.fetch_limits = FetchLimits.from_settings(self.config.fetch)
        self.writer = PollWriter(self.store, self.replica_id)
        self.states = StateReader(self.store)

    async def load_state(self, feed_id: str) -> FeedState | None:
        """A feed's stored state, read with other polls' (store.batching)."""
        if self.states.store is not self.store:  # the store was replaced (reopened)
            self.states = StateReader(self.store)
        return await self.states.load(feed_id)

    async def write(self, poll: PollRecord) -> int:
        """Write a poll's outcome with other polls' (store.batching); its new articles."""
        if self.writer.store is not self.store:  # the store was replaced (reopened)
            self.writer = PollWriter(self.store, self.replica_id)
        return await self.writer.write(poll)


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
    own problems: they are recorded in its health and reported.

    A scheduled poll first leases the feed in the store, so that of several replicas only
    one polls it per interval; a forced one polls regardless: `watcher once`, or a feed that
    a batch claim (scheduler.FeedClaimer) has already leased to this replica and releases."""
    if force:
        return await _poll_leased(pipe, feed, force=True)
    interval = pipe.config.feed_interval(feed)
    if not await pipe.store.claim_feed(feed.id, pipe.replica_id, pipe.clock(),
                                       feed_lease_seconds(pipe.config),
                                       due_within=interval * DUE_SLACK):  # as is_due
        return PollReport(feed.id, skipped=True)
    try:
        report = await _poll_leased(pipe, feed, force=False)
    except BaseException:
        await pipe.store.release_feed(feed.id, pipe.replica_id)
        raise
    if report.skipped:  # else the lease ended with the write of the feed's state
        await pipe.store.release_feed(feed.id, pipe.replica_id)
    return report


def feed_lease_seconds(config: Config) -> float:
    """How long a replica holds a feed it polls: well past the longest a fetch may take, so
    a live poll is never taken over; a dead replica's feeds wait at most this long."""
    return 2 * (config.fetch.timeout + config.fetch.connect_timeout)


async def _poll_leased(pipe: Pipeline, feed: FeedConfig, *, force: bool) -> PollReport:
    now = pipe.clock()
    state = await pipe.load_state(feed.id)
    if state is None or state.url != feed.url:  # new, or its URL was changed in the config
        state = FeedState(feed_id=feed.id, url=feed.url)
    if not force and not is_due(state, now, pipe.config.feed_interval(feed)):
        return PollReport(feed.id, skipped=True)
    previous_attempt, state.last_attempt = state.last_attempt, now
    assert pipe.fetch_limits is not None
    url = state.moved_to or feed.url
    started = time.perf_counter()
    async with pipe.fetch_limits.slot_for(url):
        result = await fetch_feed(
            pipe.client, feed.id, url, etag=state.etag, last_modified=state.last_modified,
            settings=pipe.config.fetch, base_dir=pipe.config.base_dir)
        if result.ok:  # the body waits for a work slot in its fetch slot: memory is bounded
            await pipe.work_slots.acquire()
    pipe.metrics.record_fetch(feed.id, result, time.perf_counter() - started)
    state.last_status = result.status
    if result.not_modified:
        _record_success(pipe, feed, state, result, now)
        await pipe.write(PollRecord(state))
        log.debug("feed %s: not modified", feed.id, extra={"feed": feed.id})
        return PollReport(feed.id, status=304)
    if not result.ok or result.body is None:
        return await _record_failure(pipe, feed, state, result.error or "empty response",
                                     result.retry_after, now, result.status,
                                     previous_attempt)
    try:
        return await _read_body(pipe, feed, state, result, now, previous_attempt)
    finally:
        pipe.work_slots.release()


async def _read_body(pipe: Pipeline, feed: FeedConfig, state: FeedState, result: FetchResult,
                     now: datetime, previous_attempt: datetime | None) -> PollReport:
    assert result.body is not None
    if pipe.push is not None:
        await pipe.push.fetched(feed, result)
    digest = hashlib.blake2b(result.body, digest_size=16).hexdigest()
    if digest == state.body_hash:  # the same document again: a 304 the server did not say
        _record_success(pipe, feed, state, result, now)
        await pipe.write(PollRecord(state))
        log.debug("feed %s: unchanged body", feed.id, extra={"feed": feed.id})
        return PollReport(feed.id, status=result.status)
    # Parsing a large feed takes CPU seconds: keep the event loop (other polls, deliveries)
    # responsive by running it in a worker thread.
    parsed = await asyncio.to_thread(
        read_feed, result.body, feed_id=feed.id, source=feed.title or feed.id,
        url=result.final_url or feed.url, content_type=result.content_type,
        language=feed.language,
    )
    if parsed.error:
        return await _record_failure(pipe, feed, state, parsed.error, None, now, result.status,
                                     previous_attempt)
    prepared = await _prepare(pipe, await _unseen_articles(pipe, parsed, feed), now, feed)
    _record_success(pipe, feed, state, result, now)
    # A 304 keeps the warning: same document. Pages not read for full text add theirs.
    state.last_warning = "; ".join(filter(None, (parsed.warning,
                                                 prepared.warnings.get(feed.id)))) or None
    state.body_hash = digest
    new = await pipe.write(PollRecord(state, prepared.fresh, prepared.deliveries, now))
    state.entries_seen += new  # as the store counted it in the row it wrote
    if prepared.deliveries:
        pipe.outbox_changed.set()
    pipe.metrics.record_articles(feed.id, new=new, seen=len(parsed.entries) - new)
    if prepared.alerts:
        log.info("feed %s: %d new articles, %d alerts", feed.id, new, prepared.alerts,
                 extra={"feed": feed.id})
    return PollReport(feed.id, status=result.status, articles=len(parsed.entries),
                      new_articles=new, alerts=prepared.alerts,
                      deliveries=len(prepared.deliveries))


async def _unseen_articles(pipe: Pipeline, parsed: ParsedFeed, feed: FeedConfig) -> list[Article]:
    """The feed's entries whose key and aliases the store has never seen, as articles: only
    these have their HTML reduced to text."""
    unseen = await pipe.store.unseen_keys(parsed.names())
    if not unseen:
        return []
    # Rules may be scoped to feeds: each article carries the id of its feed.
    return await asyncio.to_thread(parsed.articles, unseen, feed.id)


@dataclass(frozen=True)
class QueueReport:
    new_articles: int
    alerts: int
    deliveries: int


async def queue_articles(pipe: Pipeline, articles: Iterable[Article], now: datetime) -> QueueReport:
    """Dedupe, match and route articles; write the new ones and their alerts in one go."""
    unique = list({a.key: a for a in articles}.values())
    # Seen under its key or any alias (feeds/parse.py): a story re-published under a new guid or
    # through a tracking link has a new key but keeps a name it was seen under.
    unseen = await pipe.store.unseen_keys([k for a in unique for k in (a.key, *a.aliases)])
    prepared = await _prepare(pipe, [a for a in unique if unseen.issuperset((a.key, *a.aliases))],
                              now)
    if not prepared.fresh:
        return QueueReport(0, 0, 0)
    new = await pipe.store.record_articles(prepared.fresh, prepared.deliveries, now)
    if prepared.deliveries:
        pipe.outbox_changed.set()
    return QueueReport(new, prepared.alerts, len(prepared.deliveries))


@dataclass(frozen=True)
class _Prepared:
    fresh: list[Article]
    deliveries: list[Delivery]
    alerts: int
    warnings: dict[str, str] = field(default_factory=dict)  # feed id -> full-text failures


async def _prepare(pipe: Pipeline, fresh: list[Article], now: datetime,
                   feed: FeedConfig | None = None) -> _Prepared:
    """Match and route unseen articles: the deliveries of their alerts."""
    unique = list({a.key: a for a in fresh}.values())
    if not unique:
        return _Prepared([], [], 0)
    # Full text where the feed asks for it, then each article's language (feeds/complete.py).
    completed = await complete_articles(pipe.client, pipe.config, unique, feed=feed,
                                        limits=pipe.fetch_limits, metrics=pipe.metrics)
    unique = completed.articles
    deliveries: list[Delivery] = []
    alerting: list[_Alerting] = []
    oldest = _oldest_alertable(pipe.config, now)
    repeats = await RepeatFilter.load(pipe.store, unique, pipe.config.repeat_window, now)
    for article in unique:
        if oldest is not None and article.published is not None and article.published < oldest:
            continue
        with pipe.metrics.match_seconds.time():
            found = match_article(pipe.matcher, article)
        pipe.metrics.record_matches(found)
        built = build_alerts(article, found, now)
        stories = repeats.claim(article) if built else ()
        if stories is None:
            log.info("quiet repeat of an alerted story: %s", article.key)
            continue
        if built:
            alerting.append(_Alerting(article, found, built, stories))
    alerts = 0
    for item in await _in_stories(pipe, alerting, now):
        alerts += len(item.alerts)
        for hit, alert in zip(item.found.hits, item.alerts, strict=True):
            sinks = route_alert(hit.rule, hit.notify, pipe.config)
            deliveries.extend(Delivery(alert, sink, item.story_keys, route)
                              for sink, route in sinks.items())
    deliveries = await _per_story(pipe, deliveries, now)
    return _Prepared(unique, deliveries, alerts, completed.warnings)


async def accept_push(pipe: Pipeline, feed: FeedConfig, body: bytes,
                      content_type: str | None) -> PollReport:
    """A document a hub pushed for `feed`: parsed, deduped, matched and queued exactly as a
    polled one. The feed's poll state is the poller's and stays untouched."""
    outcome = await asyncio.to_thread(
        parse_feed, body, feed_id=feed.id, source=feed.title or feed.id, url=feed.url,
        content_type=content_type, language=feed.language)
    if outcome.error:
        log.warning("feed %s: pushed document: %s", feed.id, outcome.error,
                    extra={"feed": feed.id})
        return PollReport(feed.id, error=outcome.error)
    articles = [a.model_copy(update={"feed": feed.id}) for a in outcome.articles]
    report = await queue_articles(pipe, articles, pipe.clock())
    pipe.metrics.record_articles(feed.id, new=report.new_articles,
                                 seen=len(articles) - report.new_articles)
    log.info("feed %s: pushed %d articles, %d new, %d alerts", feed.id, len(articles),
             report.new_articles, report.alerts, extra={"feed": feed.id})
    return PollReport(feed.id, articles=len(articles), new_articles=report.new_articles,
                      alerts=report.alerts, deliveries=report.deliveries)


@dataclass(frozen=True)
class _Alerting:
    article: Article
    found: ArticleMatch
    alerts: list[Alert]
    story_keys: tuple[str, ...]  # quiet repeats (delivery.quiet)


async def _in_stories(pipe: Pipeline, alerting: list[_Alerting],
                      now: datetime) -> list[_Alerting]:
    """Place the alerting articles in stories (watcher/stories/); their alerts name them."""
    if not alerting:
        return alerting
    # In a thread: hashing is CPU work, and the first call loads word lists (a second).
    entries = await asyncio.to_thread(
        lambda: [story_entry(item.article, item.found, now) for item in alerting])
    window = pipe.config.stories.window
    since = min(e.at for e in entries) - timedelta(seconds=window)
    views = await pipe.store.assign_stories(entries, since,
                                            partial(assign_stories, window=window, now=now))
    return [replace(item, alerts=[a.model_copy(update={"story": view}) for a in item.alerts])
            for item, view in zip(alerting, views, strict=True)]


async def _per_story(pipe: Pipeline, deliveries: Sequence[Delivery],
                     now: datetime) -> list[Delivery]:
    """Deliveries per story (stories/gates.py): the first of a story to a sink, and those that
    escalate it (marked as updates), go out; the rest only join their story."""
    gated = {i: delivery_gates(d.alert, d.sink) for i, d in enumerate(deliveries)
             if d.alert.story is not None and delivery_per(pipe.config, d.route) == "story"}
    if not gated:
        return list(deliveries)
    held = await pipe.store.claim_story_gates(
        [(gate, deliveries[i].alert.article.key) for i, gates in gated.items() for gate in gates],
        now)
    kept: list[Delivery] = []
    for i, delivery in enumerate(deliveries):
        gates = gated.get(i)
        if gates is None:
            kept.append(delivery)
            continue
        key = delivery.alert.article.key
        decision = gate_decision(gates, {g for g in gates if (g, key) in held})
        story = delivery.alert.story
        assert story is not None
        if decision == "quiet":
            log.info("article %s joins story %s (%d articles); %s already alerted", key,
                     story.id, story.articles, delivery.sink)
            continue
        if decision == "update":
            update = {"story": story.model_copy(update={"update": True})}
            delivery = replace(delivery, alert=delivery.alert.model_copy(update=update))
        kept.append(delivery)
    return kept


def _oldest_alertable(config: Config, now: datetime) -> datetime | None:
    if config.max_article_age is None:
        return None
    return now - timedelta(seconds=config.max_article_age)


def _record_success(pipe: Pipeline, feed: FeedConfig, state: FeedState, result: FetchResult,
                    now: datetime) -> None:
    state.last_success = now
    state.consecutive_failures = 0
    state.failing_since = None
    state.last_error = None
    if result.moved_to and result.moved_to != (state.moved_to or feed.url):
        # Logged once: later polls go to the new URL, so they are not redirected again.
        log.warning("feed %s: moved permanently to %s; polling it there from now on "
                    "(update the config to make this permanent)", feed.id, result.moved_to,
                    extra={"feed": feed.id})
        state.moved_to = result.moved_to
    if result.etag is not None or result.status != 304:
        state.etag = result.etag
    if result.last_modified is not None or result.status != 304:
        state.last_modified = result.last_modified
    interval = pipe.push.interval(feed) if pipe.push is not None else None
    state.next_poll = next_poll_after_success(state.next_poll, now,
                                              interval or pipe.config.feed_interval(feed))


async def _record_failure(pipe: Pipeline, feed: FeedConfig, state: FeedState, error: str,
                          retry_after: float | None, now: datetime,
                          status: int | None, previous_attempt: datetime | None) -> PollReport:
    settings = pipe.config.fetch
    was_flagged = previous_attempt is not None and is_flagged(
        state, previous_attempt, settings.failing_after)
    state.consecutive_failures += 1
    state.failing_since = state.failing_since or now
    state.last_error = error
    if state.moved_to and status in (404, 410):
        # The new address is gone: go back to the configured one on the next try.
        log.warning("feed %s: %s is gone; back to %s", feed.id, state.moved_to, feed.url,
                    extra={"feed": feed.id})
        state.moved_to = state.etag = state.last_modified = None
    pipe.metrics.record_poll_error(feed.id)
    delay = failure_backoff(pipe.config.feed_interval(feed), state.consecutive_failures,
                            retry_after, pipe.rng, settings.max_backoff)
    state.next_poll = now + timedelta(seconds=delay)
    await pipe.write(PollRecord(state))
    log.warning("feed %s: %s (failure %d, next try in %.0fs)", feed.id, error,
                state.consecutive_failures, delay, extra={"feed": feed.id})
    if not was_flagged and is_flagged(state, now, settings.failing_after):
        log.error("feed %s: failing since %s; still retried, at most every %.0fs",
                  feed.id, state.failing_since.isoformat(timespec="seconds"),
                  settings.max_backoff, extra={"feed": feed.id})
    return PollReport(feed.id, status=status, error=error)
