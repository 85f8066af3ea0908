"""The WebSub callback, mounted at `/websub/` on the service's HTTP endpoint (httpapi.py).

    GET  /websub/<token>   a hub verifies intent: answered with hub.challenge only when the
                           mode and topic are what this watcher asked for that subscription
    POST /websub/<token>   a hub pushes content: checked, then parsed, deduped, matched and
                           queued like a polled document (pipeline.accept_push)

Everything here is from outside. A push is refused before any parsing when the overall or
the subscription's rate is exceeded (429), when the body is over `fetch.max_bytes` (413), or
when the token names no live subscription (404, or 410 Gone once it was unsubscribed, so the
hub stops). A push without a valid `X-Hub-Signature` (HMAC of the body with the
subscription's secret) is dropped: answered 202 as WebSub requires, so a forger learns
nothing, and counted in `watcher_websub_pushes{outcome="bad_signature"}`. Tokens and secrets
are in the store, so any replica answers any hub.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from aiohttp import web

from watcher.errors import StoreError
from watcher.feeds.websub import read_intent, signature_is_valid
from watcher.pipeline import accept_push
from watcher.service.websub_subscriber import WebSubSubscriber

log = logging.getLogger("watcher.websub")

MOUNT = "/websub"
MAX_CHALLENGE_CHARS = 1024
OVERALL_FACTOR = 10  # the overall rate is this many times a subscription's


@dataclass
class RateLimit:
    """Token buckets: `per_minute` requests a minute per key, bursts up to that many."""

    per_minute: float
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def allow(self, key: str) -> bool:
        now = self.clock()
        tokens, last = self._buckets.get(key, (self.per_minute, now))
        tokens = min(self.per_minute, tokens + (now - last) * self.per_minute / 60)
        allowed = tokens >= 1
        self._buckets[key] = (tokens - 1 if allowed else tokens, now)
        return allowed


class WebSubCallback:
    """The handlers, with the rate limits they share."""

    def __init__(self, subscriber: WebSubSubscriber, max_bytes: int) -> None:
        self.subscriber = subscriber
        self.pipe = subscriber.pipe
        self.max_bytes = max_bytes
        per_minute = subscriber.settings.max_pushes_per_minute
        self.per_subscription = RateLimit(per_minute)
        self.overall = RateLimit(per_minute * OVERALL_FACTOR)

    def _refuse(self, outcome: str, status: int, text: str) -> web.Response:
        self.pipe.metrics.websub_pushes.labels(outcome).inc()
        headers = {"Retry-After": "60"} if status == 429 else None
        return web.Response(status=status, text=text, headers=headers)

    async def verify(self, request: web.Request) -> web.Response:
        intent = read_intent(request.query)
        if intent is None or len(intent.challenge or "") > MAX_CHALLENGE_CHARS:
            return web.Response(status=400, text="not a WebSub verification")
        store = self.pipe.store
        sub = await store.subscription_by_token(request.match_info["token"])
        if sub is None or sub.topic != intent.topic:
            return web.Response(status=404, text="no such subscription")
        if intent.mode == "denied":
            sub.state, sub.last_error = "denied", f"denied by the hub: {intent.reason or '-'}"
            await store.save_subscription(sub)
            self.subscriber.note_verified(sub)
            log.warning("websub: feed %s: %s", sub.feed_id, sub.last_error[:200])
            return web.Response(text="")
        if intent.mode == "unsubscribe":
            if sub.state != "unsubscribing":
                return web.Response(status=404, text="not unsubscribing")
            await store.delete_subscription(sub.feed_id)
            log.info("websub: feed %s: unsubscribed", sub.feed_id)
            return web.Response(text=intent.challenge or "", content_type="text/plain")
        if (sub.state not in ("subscribing", "active", "failed")
                or sub.feed_id not in self.subscriber.feeds):
            return web.Response(status=404, text="not subscribing")
        now = self.pipe.clock()
        lease = intent.lease_seconds or int(self.subscriber.settings.lease)
        sub.state, sub.lease_seconds, sub.verified_at, sub.last_error = ("active", lease, now,
                                                                         None)
        sub.expires_at = now + timedelta(seconds=lease)
        await store.save_subscription(sub)
        self.subscriber.note_verified(sub)
        log.info("websub: feed %s: subscribed at %s for %ds", sub.feed_id, sub.hub, lease)
        return web.Response(text=intent.challenge or "", content_type="text/plain")

    async def push(self, request: web.Request) -> web.Response:
        if not self.overall.allow(""):
            return self._refuse("rate_limited", 429, "too many pushes")
        token = request.match_info["token"]
        sub = await self.pipe.store.subscription_by_token(token)
        if sub is None:
            return self._refuse("unknown", 404, "no such subscription")
        feed = self.subscriber.feeds.get(sub.feed_id)
        if feed is None or sub.state in ("unsubscribing", "denied"):
            return self._refuse("gone", 410, "unsubscribed")
        if not self.per_subscription.allow(token):
            return self._refuse("rate_limited", 429, "too many pushes")
        body = await _read_capped(request, self.max_bytes)
        if body is None:
            return self._refuse("too_large", 413, f"body over {self.max_bytes} bytes")
        if not signature_is_valid(request.headers.get("X-Hub-Signature"), body, sub.secret):
            log.warning("websub: feed %s: push without a valid signature dropped", feed.id,
                        extra={"feed": feed.id})
            return self._refuse("bad_signature", 202, "")
        try:
            await accept_push(self.pipe, feed, body, request.headers.get("Content-Type"))
            sub.last_push_at = self.pipe.clock()
            await self.pipe.store.save_subscription(sub)
        except StoreError as exc:  # the hub retries; the poll is the safety net
            log.error("websub: feed %s: push not recorded: %s", feed.id, exc)
            return self._refuse("failed", 503, "try again")
        self.pipe.metrics.websub_pushes.labels("accepted").inc()
        return web.Response(status=202, text="")


def websub_app(subscriber: WebSubSubscriber, max_bytes: int) -> web.Application:
    """The callback as an aiohttp application, for `add_subapp(MOUNT, …)`."""
    callback = WebSubCallback(subscriber, max_bytes)
    app = web.Application(client_max_size=max_bytes)
    app.router.add_get("/{token}", callback.verify)
    app.router.add_post("/{token}", callback.push)
    return app


async def _read_capped(request: web.Request, max_bytes: int) -> bytes | None:
    """The body, or None as soon as it is larger than `max_bytes` (declared or sent)."""
    if request.content_length is not None and request.content_length > max_bytes:
        return None
    data = bytearray()
    async for chunk in request.content.iter_chunked(65_536):
        data += chunk
        if len(data) > max_bytes:
            return None
    return bytes(data)


__all__ = ["MOUNT", "RateLimit", "WebSubCallback", "websub_app"]
