"""WebSub subscriptions over time: subscribe feeds that advertise a hub, renew leases before
they end, unsubscribe feeds that left the configuration (feeds/websub.py speaks the protocol).

    poll ─▶ fetched(): a hub found in the document or its Link header ─▶ wake
    every tick, and when woken:
        feeds gone from the config (or disabled) ─▶ unsubscribe (or forget, if never active)
        a hub found, no subscription yet        ─▶ add it (random token and secret), subscribe
        active, lease ending within renew_before ─▶ subscribe again (same token, same secret)
        failed, denied or unanswered             ─▶ ask again after `websub.retry`

The subscriptions live in the store, so every replica sees the same ones; before asking a
hub, a replica claims the request (`claim_subscription_request`), so of several replicas one
asks. While a feed's subscription is active its polls come every `websub.poll_interval`
instead: pushes bring entries, polls are the safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from watcher.config.settings import FeedConfig, WebSubSettings
from watcher.errors import StoreError
from watcher.feeds.websub import HubLink, discover_hub, request_subscription
from watcher.models import FetchResult
from watcher.pipeline import Pipeline
from watcher.store import Subscription

log = logging.getLogger("watcher.websub")

TICK = 30.0  # seconds between looks at the subscriptions when nothing wakes the loop
MIN_WAIT = 0.05  # a short lease may make a request due at once: never spin


class WebSubSubscriber:
    def __init__(self, pipe: Pipeline, feeds: Sequence[FeedConfig], settings: WebSubSettings,
                 *, tick: float = TICK) -> None:
        assert settings.callback_url is not None
        self.pipe = pipe
        self.settings = settings
        self.feeds = {f.id: f for f in feeds}
        self.tick = tick
        self._callback_base = settings.callback_url.rstrip("/") + "/"
        self._discovered: dict[str, HubLink] = {}
        self._active: dict[str, datetime] = {}  # feed id -> lease end, as last read
        self._wake = asyncio.Event()

    def callback_url(self, sub: Subscription) -> str:
        return self._callback_base + sub.token

    # what the pipeline calls (pipeline.FeedPush)

    async def fetched(self, feed: FeedConfig, result: FetchResult) -> None:
        """Note the hub a freshly fetched feed advertises; subscribing happens in `run`."""
        url = result.final_url or feed.url
        if not url.startswith(("http://", "https://")):
            return
        try:
            link = discover_hub(result.body, result.link_header, url)
        except Exception:  # a bug here must not fail the poll: it goes on without push
            log.exception("websub: feed %s: hub discovery failed", feed.id,
                          extra={"feed": feed.id})
            return
        if link is not None and self._discovered.get(feed.id) != link:
            self._discovered[feed.id] = link
            self._wake.set()

    def interval(self, feed: FeedConfig) -> float | None:
        """The safety-net interval while the feed's subscription is active, else None."""
        ends = self._active.get(feed.id)
        if ends is None or ends <= self.pipe.clock():
            return None
        return max(self.settings.poll_interval, self.pipe.config.feed_interval(feed))

    # what the callback calls (service/websub_callback.py)

    def note_verified(self, sub: Subscription) -> None:
        """A hub granted (or denied) a subscription: the lease's end sets the next renewal."""
        if sub.state == "active" and sub.expires_at is not None:
            self._active[sub.feed_id] = sub.expires_at
        else:
            self._active.pop(sub.feed_id, None)
        self._wake.set()

    # the loop

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile every tick, and at once when a poll finds a new hub, until `stop`."""
        failing = False
        while not stop.is_set():
            self._wake.clear()
            wait = self.tick
            try:
                wait = min(wait, await self.reconcile())
            except StoreError as exc:
                if not failing:
                    log.error("websub: cannot read subscriptions: %s; retrying", exc)
                failing = True
            except Exception:
                log.exception("websub: reconciling subscriptions failed")
            else:
                failing = False
            waiters = [asyncio.create_task(e.wait()) for e in (stop, self._wake)]
            await asyncio.wait(waiters, timeout=max(wait, MIN_WAIT),
                               return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*waiters, return_exceptions=True)

    async def reconcile(self) -> float:
        """One pass: forget or unsubscribe what left the config, subscribe what needs it.
        Returns the seconds until a subscription next needs a request (a renewal, a retry)."""
        store, now = self.pipe.store, self.pipe.clock()
        subs = {s.feed_id: s for s in await store.list_subscriptions()}
        self._active = {f: s.expires_at for f, s in subs.items()
                        if s.state == "active" and s.expires_at is not None}
        for feed_id, sub in list(subs.items()):
            if feed_id not in self.feeds:
                await self._unsubscribe(sub, now)
                del subs[feed_id]
        for feed_id, link in self._discovered.items():
            if (known := subs.get(feed_id)) is None:
                subs[feed_id] = await store.add_subscription(Subscription(
                    feed_id, link.hub, link.topic, token=secrets.token_urlsafe(24),
                    secret=secrets.token_urlsafe(32)))
            elif (known.hub, known.topic) != (link.hub, link.topic):
                log.info("websub: feed %s moved to hub %s", feed_id, link.hub,
                         extra={"feed": feed_id})
                known.hub, known.topic, known.state, known.requested_at = (
                    link.hub, link.topic, "subscribing", None)
                await store.save_subscription(known)
        for sub in subs.values():
            if self._due(sub) <= now:
                await self._subscribe(sub, now)
        return min(((self._due(s) - now).total_seconds() for s in subs.values()),
                   default=self.tick)

    def _renew_margin(self, sub: Subscription) -> float:
        lease = sub.lease_seconds or self.settings.lease
        return min(self.settings.renew_before, lease / 2)

    def _retry_wait(self, sub: Subscription) -> float:
        return min(self.settings.retry, self._renew_margin(sub) / 2)

    def _due(self, sub: Subscription) -> datetime:
        """When the hub should next be asked: before the lease ends, or a retry later."""
        retry = (sub.requested_at + timedelta(seconds=self._retry_wait(sub))
                 if sub.requested_at is not None else datetime.min.replace(tzinfo=UTC))
        if sub.state == "active" and sub.expires_at is not None:
            return max(sub.expires_at - timedelta(seconds=self._renew_margin(sub)), retry)
        return retry

    async def _claim(self, sub: Subscription, now: datetime, *, at_once: bool = False) -> bool:
        """This replica asks the hub, unless one asked within the retry wait (`at_once`:
        unless one asked this very moment: a change of mind need not wait)."""
        stale_before = now if at_once else now - timedelta(seconds=self._retry_wait(sub))
        return await self.pipe.store.claim_subscription_request(sub.feed_id, now, stale_before)

    async def _subscribe(self, sub: Subscription, now: datetime) -> None:
        if not await self._claim(sub, now):
            return  # another replica asks the hub now
        sub.requested_at = now
        if sub.state != "active":
            # Saved before asking: a hub may verify before its answer to the request arrives.
            sub.state = "subscribing"
            await self.pipe.store.save_subscription(sub)
        error = await request_subscription(
            self.pipe.client, HubLink(sub.hub, sub.topic), mode="subscribe",
            callback=self.callback_url(sub), secret=sub.secret,
            lease_seconds=int(self.settings.lease))
        if error is None:
            log.info("websub: feed %s: subscription requested at %s", sub.feed_id, sub.hub,
                     extra={"feed": sub.feed_id})
            return
        log.warning("websub: feed %s: %s; polling as usual, asking again in %.0fs",
                    sub.feed_id, error, self._retry_wait(sub), extra={"feed": sub.feed_id})
        fresh = await self.pipe.store.load_subscription(sub.feed_id)
        if fresh is not None:
            fresh.last_error = error
            if fresh.state != "active":
                fresh.state = "failed"
            await self.pipe.store.save_subscription(fresh)

    async def _unsubscribe(self, sub: Subscription, now: datetime) -> None:
        """A feed left the config: ask the hub to stop; a subscription that never became
        active, or whose lease has ended, is only forgotten."""
        lapsed = sub.expires_at is None or sub.expires_at <= now
        if sub.state not in ("active", "unsubscribing") or lapsed:
            await self.pipe.store.delete_subscription(sub.feed_id)
            self._active.pop(sub.feed_id, None)
            log.info("websub: feed %s left the config; subscription forgotten", sub.feed_id)
            return
        if not await self._claim(sub, now, at_once=sub.state != "unsubscribing"):
            return
        sub.state, sub.requested_at = "unsubscribing", now
        await self.pipe.store.save_subscription(sub)
        error = await request_subscription(
            self.pipe.client, HubLink(sub.hub, sub.topic), mode="unsubscribe",
            callback=self.callback_url(sub), secret=sub.secret, lease_seconds=0)
        if error is not None:
            log.warning("websub: feed %s left the config; unsubscribing: %s (asking again "
                        "until the lease ends)", sub.feed_id, error)
        else:
            log.info("websub: feed %s left the config; unsubscription requested", sub.feed_id)


__all__ = ["WebSubSubscriber"]
