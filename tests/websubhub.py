"""A small WebSub hub and the publisher's site on loopback, for the end-to-end tests and
bench/latency.py: it serves a feed that names the hub, takes (un)subscription requests,
verifies intent at the subscriber's callback like a real hub (a random challenge that must
come back), and pushes content signed with the subscriber's secret."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from watcher.feeds.websub import sign


@dataclass
class Verification:
    mode: str
    topic: str
    callback: str
    ok: bool  # the callback answered 2xx with the challenge


@dataclass
class LoopbackHub:
    """The hub at /hub and the feed at /feed.xml, on one loopback server."""

    lease_seconds: int = 600
    feed_body: bytes = b""
    requests: list[dict[str, str]] = field(default_factory=list)
    verifications: list[Verification] = field(default_factory=list)
    subscribers: dict[str, tuple[str, str]] = field(default_factory=dict)  # topic, secret
    push_statuses: list[int] = field(default_factory=list)
    base_url: str = ""
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def hub_url(self) -> str:
        return f"{self.base_url}/hub"

    @property
    def topic(self) -> str:
        return f"{self.base_url}/feed.xml"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hub", self._subscription_request)
        app.router.add_get("/feed.xml", self._feed)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def set_entries(self, entries: list[tuple[str, str]]) -> bytes:
        """The feed now holds these (guid, title) entries; returns the document."""
        items = "".join(f"<entry><id>urn:{guid}</id><title>{title}</title>"
                        f"<link href='https://news.example.org/{guid}'/>"
                        f"<updated>2026-12-04T12:00:00Z</updated></entry>"
                        for guid, title in entries)
        self.feed_body = (
            "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
            f"<title>Loopback desk</title><id>urn:desk</id>"
            f"<link rel='hub' href='{self.hub_url}'/><link rel='self' href='{self.topic}'/>"
            f"<updated>2026-12-04T12:00:00Z</updated>{items}</feed>").encode()
        return self.feed_body

    async def _feed(self, request: web.Request) -> web.Response:
        return web.Response(body=self.feed_body, content_type="application/atom+xml")

    async def _subscription_request(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.requests.append(form)
        if form.get("hub.mode") not in ("subscribe", "unsubscribe") or not form.get(
                "hub.callback") or form.get("hub.topic") != self.topic:
            return web.Response(status=400, text="bad request")
        task = asyncio.create_task(self._verify(form))  # verified after the 202, as hubs do
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.Response(status=202)

    async def _verify(self, form: dict[str, str]) -> None:
        assert self._session is not None
        challenge = secrets.token_urlsafe(16)
        mode, callback = form["hub.mode"], form["hub.callback"]
        query = {"hub.mode": mode, "hub.topic": form["hub.topic"], "hub.challenge": challenge}
        if mode == "subscribe":
            query["hub.lease_seconds"] = str(self.lease_seconds)
        async with self._session.get(callback, params=query) as response:
            ok = response.status < 300 and await response.text() == challenge
        self.verifications.append(Verification(mode, form["hub.topic"], callback, ok))
        if ok and mode == "subscribe":
            self.subscribers[callback] = (form["hub.topic"], form.get("hub.secret", ""))
        elif ok:
            self.subscribers.pop(callback, None)

    async def publish(self, body: bytes, *, secret: str | None = None,
                      method: str = "sha256") -> list[int]:
        """Push `body` to every subscriber, signed with its secret (or with `secret`, to
        forge); the HTTP statuses the callbacks answered."""
        assert self._session is not None
        statuses = []
        for callback, (_, own_secret) in list(self.subscribers.items()):
            headers = {"Content-Type": "application/atom+xml",
                       "X-Hub-Signature": sign(body, secret or own_secret, method)}
            async with self._session.post(callback, data=body, headers=headers) as response:
                statuses.append(response.status)
        self.push_statuses += statuses
        return statuses
