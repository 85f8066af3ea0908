"""fetch_feed against a real HTTP server on loopback, and local files. No mocks of httpx."""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import ipaddress
import os
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from aiohttp import web
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from watcher.config.settings import FetchSettings
from watcher.feeds import fetch
from watcher.feeds.addressguard import IPAddress, address_problem
from watcher.feeds.fetch import (
    FetchLimits,
    fetch_feed,
    local_path,
    make_client,
    parse_retry_after,
)
from watcher.feeds.transport import GuardedTransport
from watcher.models import FetchResult

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


def fetch_settings(**values: object) -> FetchSettings:
    return FetchSettings.model_validate(values)


@pytest.fixture
def server(feed_server: HTTPServer) -> HTTPServer:
    return feed_server


@pytest.fixture
def settings() -> FetchSettings:
    return fetch_settings(allow_addresses=["127.0.0.1/32", "::1/128"], timeout=5,
                          max_bytes=4096, max_redirects=2)


@pytest.fixture
async def client(settings: FetchSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(settings) as c:
        yield c


async def get(client: httpx.AsyncClient, url: str, settings: FetchSettings, *,
              etag: str | None = None, last_modified: str | None = None,
              base_dir: Path = Path("."), limits: FetchLimits | None = None) -> FetchResult:
    return await fetch_feed(client, "feed", url, etag=etag, last_modified=last_modified,
                            settings=settings, base_dir=base_dir, limits=limits)


async def test_conditional_get_gives_304(server: HTTPServer, client: httpx.AsyncClient,
                                         settings: FetchSettings) -> None:
    stamp = "Tue, 03 Mar 2026 08:00:00 GMT"

    def handler(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response(FEED, content_type="application/rss+xml; charset=utf-8",
                        headers={"ETag": '"v1"', "Last-Modified": stamp})

    server.expect_request("/feed.xml").respond_with_handler(handler)
    url = server.url_for("/feed.xml")
    first = await get(client, url, settings)
    assert (first.status, first.body, first.error) == (200, FEED, None)
    assert (first.etag, first.last_modified) == ('"v1"', stamp)
    assert first.content_type == "application/rss+xml; charset=utf-8"
    assert first.final_url == url and first.ok

    second = await get(client, url, settings, etag=first.etag,
                       last_modified=first.last_modified)
    assert second.not_modified and second.body is None and second.error is None
    assert (second.etag, second.last_modified) == ('"v1"', stamp)
    sent = server.log[-1][0]
    assert sent.headers["If-None-Match"] == '"v1"'
    assert sent.headers["If-Modified-Since"] == stamp
    assert sent.headers["User-Agent"] == settings.user_agent


@pytest.mark.parametrize("status", [400, 404, 410, 500, 502])
async def test_http_error_status(server: HTTPServer, client: httpx.AsyncClient,
                                 settings: FetchSettings, status: int) -> None:
    server.expect_request("/x").respond_with_data("nope", status=status)
    result = await get(client, server.url_for("/x"), settings)
    assert result.status == status and result.body is None and not result.ok
    assert result.error is not None and result.error.startswith(f"HTTP {status}")
    assert result.retry_after is None


def http_date(delta: float) -> str:
    return email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=delta),
                                       usegmt=True)


@pytest.mark.parametrize(("status", "header", "low", "high"), [
    (429, "120", 120, 120), (503, "7", 7, 7), (429, None, None, None),
    (503, "soon", None, None),
])
async def test_retry_after(server: HTTPServer, client: httpx.AsyncClient,
                           settings: FetchSettings, status: int, header: str | None,
                           low: float | None, high: float | None) -> None:
    headers = {"Retry-After": header} if header else {}
    server.expect_request("/busy").respond_with_data("", status=status, headers=headers)
    result = await get(client, server.url_for("/busy"), settings)
    assert result.status == status and result.error == f"HTTP {status} " + (
        "Too Many Requests" if status == 429 else "Service Unavailable")
    assert result.retry_after == low == high


async def test_retry_after_http_date(server: HTTPServer, client: httpx.AsyncClient,
                                     settings: FetchSettings) -> None:
    server.expect_request("/busy").respond_with_data(
        "", status=503, headers={"Retry-After": http_date(90)})
    result = await get(client, server.url_for("/busy"), settings)
    assert result.retry_after is not None and 80 <= result.retry_after <= 91


NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("value", "seconds"), [
    ("0", 0.0), ("30", 30.0), (" 45 ", 45.0), ("999999999", fetch.MAX_RETRY_AFTER),
    ("Tue, 03 Mar 2026 12:01:00 GMT", 60.0), ("Tue, 03 Mar 2026 11:00:00 GMT", 0.0),
    ("Tuesday, 03-Mar-26 12:00:30 GMT", 30.0), ("-5", None), ("1.5", None), ("", None),
    (None, None), ("garbage", None),
])
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


def redirect(to: str, status: int = 302) -> Response:
    return Response("", status=status, headers={"Location": to})


async def test_redirects_within_the_limit(server: HTTPServer, client: httpx.AsyncClient,
                                          settings: FetchSettings) -> None:
    server.expect_request("/a").respond_with_response(redirect("/b", 301))
    server.expect_request("/b").respond_with_response(redirect(server.url_for("/c"), 308))
    server.expect_request("/c").respond_with_data(FEED)
    result = await get(client, server.url_for("/a"), settings)
    assert result.ok and result.body == FEED
    assert result.final_url == server.url_for("/c") and result.url == server.url_for("/a")


@pytest.mark.parametrize(("chain", "moved_to"), [
    ([301], "/hop1"), ([308, 301], "/hop2"), ([301, 302], "/hop1"), ([302, 301], None),
    ([307], None), ([], None),
])
async def test_permanent_redirects_report_the_new_url(
        server: HTTPServer, client: httpx.AsyncClient, settings: FetchSettings,
        chain: list[int], moved_to: str | None) -> None:
    for hop, status in enumerate(chain):
        server.expect_request(f"/hop{hop}").respond_with_response(
            redirect(f"/hop{hop + 1}", status))
    server.expect_request(f"/hop{len(chain)}").respond_with_data(FEED)
    result = await get(client, server.url_for("/hop0"), settings)
    assert result.ok and result.final_url == server.url_for(f"/hop{len(chain)}")
    assert result.moved_to == (server.url_for(moved_to) if moved_to else None)


async def test_too_many_redirects(server: HTTPServer, client: httpx.AsyncClient,
                                  settings: FetchSettings) -> None:
    for hop in range(4):
        server.expect_request(f"/r{hop}").respond_with_response(redirect(f"/r{hop + 1}"))
    result = await get(client, server.url_for("/r0"), settings)
    assert result.error is not None and "more than 2 redirects" in result.error
    assert result.status == 302 and result.body is None
    assert len(server.log) == 3


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://example.org/feed",
                                    "gopher://example.org/"])
async def test_redirect_to_another_scheme_is_refused(
        server: HTTPServer, client: httpx.AsyncClient, settings: FetchSettings,
        target: str) -> None:
    server.expect_request("/jump").respond_with_response(redirect(target))
    result = await get(client, server.url_for("/jump"), settings)
    assert result.error is not None and "redirected to unsupported URL" in result.error


async def test_redirect_without_location_is_an_error(
        server: HTTPServer, client: httpx.AsyncClient, settings: FetchSettings) -> None:
    server.expect_request("/odd").respond_with_data("", status=302)
    result = await get(client, server.url_for("/odd"), settings)
    assert result.status == 302 and result.error == "HTTP 302 Found"


async def test_body_over_cap_with_content_length(
        server: HTTPServer, client: httpx.AsyncClient, settings: FetchSettings) -> None:
    server.expect_request("/big").respond_with_data(b"x" * 5000)
    result = await get(client, server.url_for("/big"), settings)
    assert result.error is not None and "over the limit of 4096" in result.error
    assert result.body is None and result.status == 200


async def test_body_over_cap_without_content_length(
        server: HTTPServer, client: httpx.AsyncClient, settings: FetchSettings) -> None:
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        for _ in range(1000):
            sent.append(1)
            yield b"y" * 1000

    server.expect_request("/stream").respond_with_response(Response(chunks()))
    result = await get(client, server.url_for("/stream"), settings)
    assert result.error is not None and "over the limit of 4096 bytes" in result.error
    assert len(sent) < 1000  # reading stopped early


async def test_body_at_cap_is_accepted(server: HTTPServer, client: httpx.AsyncClient,
                                       settings: FetchSettings) -> None:
    server.expect_request("/exact").respond_with_data(b"z" * 4096)
    result = await get(client, server.url_for("/exact"), settings)
    assert result.ok and result.body == b"z" * 4096


async def test_gzip_bomb_is_capped_after_decompression(
        server: HTTPServer, client: httpx.AsyncClient, settings: FetchSettings) -> None:
    bomb = gzip.compress(b"\0" * 4_000_000)
    assert len(bomb) < 4096
    server.expect_request("/gz").respond_with_data(bomb, headers={"Content-Encoding": "gzip"})
    result = await get(client, server.url_for("/gz"), settings)
    assert result.error is not None and "over the limit" in result.error


async def test_slow_drip_hits_the_total_timeout(server: HTTPServer) -> None:
    def drip() -> Iterator[bytes]:
        for _ in range(30):
            time.sleep(0.2)
            yield b" "

    server.expect_request("/slow").respond_with_response(Response(drip()))
    # Each chunk arrives well within the read timeout; only the total deadline stops it.
    settings = fetch_settings(allow_addresses=["127.0.0.1/32", "::1/128"], timeout=1)
    async with make_client(settings) as client:
        started = time.monotonic()
        result = await get(client, server.url_for("/slow"), settings)
    assert time.monotonic() - started < 3
    assert result.error == "timed out after 1s" and result.body is None


async def test_connection_refused_is_reported(client: httpx.AsyncClient,
                                              settings: FetchSettings) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await get(client, f"http://127.0.0.1:{port}/feed", settings)
    assert result.error is not None and "Connect" in result.error and result.status is None


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_guard_refuses_loopback_unless_allowed(server: HTTPServer, host: str) -> None:
    server.expect_request("/feed").respond_with_data(FEED)
    url = f"http://{host}:{server.port}/feed"
    refused = fetch_settings()
    async with make_client(refused) as client:
        result = await get(client, url, refused)
    assert result.error is not None and result.error.startswith("address not allowed")
    assert "loopback" in result.error and server.log == []
    allowed = fetch_settings(allow_addresses=["127.0.0.1/32", "::1/128"])
    async with make_client(allowed) as client:
        assert (await get(client, url, allowed)).ok


def loopback_plays_public(ip: IPAddress) -> str | None:
    """127.0.0.1 plays a public site; every other address is judged for real."""
    return None if str(ip) == "127.0.0.1" else address_problem(ip)


def guarded_client(settings: FetchSettings, ssl_context: ssl.SSLContext | None = None,
                   **guard: Any) -> httpx.AsyncClient:
    transport = GuardedTransport(limits=httpx.Limits(max_connections=4),
                                 ssl_context=ssl_context, **guard)
    return httpx.AsyncClient(transport=transport, follow_redirects=False,
                             timeout=settings.timeout)


async def test_guard_checks_every_redirect_hop(server: HTTPServer) -> None:
    server.expect_request("/jump").respond_with_response(
        redirect(f"http://127.0.0.2:{server.port}/internal"))
    server.expect_request("/internal").respond_with_data(FEED)
    settings = fetch_settings()
    async with guarded_client(settings, policy=loopback_plays_public) as client:
        result = await get(client, server.url_for("/jump"), settings)
    assert result.error is not None
    assert result.error.startswith("address not allowed: 127.0.0.2 resolves to 127.0.0.2")
    assert [entry[0].path for entry in server.log] == ["/jump"]


class RebindingDns:
    """A DNS server that answers a public address once, then the metadata service."""

    def __init__(self) -> None:
        self.lookups: list[str] = []

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append(host)
        first = len(self.lookups) == 1
        return [ipaddress.ip_address("127.0.0.1" if first else "169.254.169.254")]


async def test_guard_connects_to_the_address_it_checked(server: HTTPServer) -> None:
    dns = RebindingDns()
    server.expect_request("/feed").respond_with_data(FEED)
    settings = fetch_settings()
    async with guarded_client(settings, resolve=dns.resolve,
                              policy=loopback_plays_public) as client:
        result = await get(client, f"http://feeds.test:{server.port}/feed", settings)
        assert result.ok and dns.lookups == ["feeds.test"]  # checked once, connected there
        assert server.log[0][0].headers["Host"] == f"feeds.test:{server.port}"
        # A new connection resolves again, and this time the answer is refused.
        await client.aclose()
    async with guarded_client(settings, resolve=dns.resolve,
                              policy=loopback_plays_public) as client:
        again = await get(client, f"http://feeds.test:{server.port}/feed", settings)
    assert again.error is not None and "169.254.169.254 (link-local)" in again.error
    assert len(server.log) == 1


async def test_guard_keeps_sni_and_certificate_checks_on_https(
        tmp_path: Path) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("feeds.test").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    httpd = HTTPServer(host="127.0.0.1", ssl_context=server_ctx)
    httpd.expect_request("/feed").respond_with_data(FEED)
    httpd.start()
    try:
        settings = fetch_settings()
        dns = RebindingDns()
        async with guarded_client(settings, client_ctx, resolve=dns.resolve,
                                  policy=loopback_plays_public) as client:
            result = await get(client, f"https://feeds.test:{httpd.port}/feed", settings)
            # The certificate names feeds.test, not the address connected to: only a
            # client that sent the host name (SNI) and checked it against the certificate
            # gets through.
            assert result.ok and result.body == FEED, result.error
            wrong = await get(client, f"https://127.0.0.1:{httpd.port}/feed", settings)
            assert wrong.error is not None and "certificate" in wrong.error.lower()
    finally:
        httpd.clear()
        httpd.stop()


@pytest.mark.parametrize(("address", "problem"), [
    ("127.0.0.1", "loopback"), ("10.1.2.3", "private"), ("192.168.0.1", "private"),
    ("172.16.5.4", "private"), ("169.254.169.254", "link-local"),
    ("100.100.100.200", "not globally routable"), ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"), ("240.0.0.1", "private"), ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"), ("fd00:ec2::254", "private"),
    ("fe80::1", "link-local"), ("64:ff9b::a00:1", "private"), ("2002:7f00:1::", "loopback"),
    ("ff02::1", "multicast"), ("8.8.8.8", None), ("93.184.216.34", None),
    ("2606:4700:4700::1111", None), ("::ffff:8.8.8.8", None),
])
def test_address_problem(address: str, problem: str | None) -> None:
    assert address_problem(ipaddress.ip_address(address)) == problem


@pytest.mark.parametrize("url", ["ftp://example.org/feed.xml", "gopher://example.org/",
                                 "javascript:alert(1)", "data:text/xml,<rss/>",
                                 "file://remote-host/share/feed.xml"])
async def test_unsupported_schemes_are_refused(client: httpx.AsyncClient,
                                               settings: FetchSettings, url: str) -> None:
    result = await get(client, url, settings)
    assert result.error is not None and "unsupported URL scheme" in result.error


async def test_local_file_by_url_and_relative_path(tmp_path: Path,
                                                   client: httpx.AsyncClient,
                                                   settings: FetchSettings) -> None:
    feed = tmp_path / "feeds" / "desk.xml"
    feed.parent.mkdir()
    feed.write_bytes(FEED)
    for url, base in [(feed.as_uri(), Path("/nonexistent")), ("feeds/desk.xml", tmp_path),
                      (str(feed), Path("/nonexistent"))]:
        result = await get(client, url, settings, base_dir=base)
        assert (result.status, result.body, result.etag, result.error) == (200, FEED, None, None)
        assert result.final_url == feed.as_uri()
        assert result.last_modified == email.utils.formatdate(feed.stat().st_mtime,
                                                               usegmt=True)


async def test_unchanged_file_gives_304(tmp_path: Path, client: httpx.AsyncClient,
                                        settings: FetchSettings) -> None:
    feed = tmp_path / "desk.xml"
    feed.write_bytes(FEED)
    first = await get(client, "desk.xml", settings, base_dir=tmp_path)
    second = await get(client, "desk.xml", settings, base_dir=tmp_path,
                       last_modified=first.last_modified)
    assert second.not_modified and second.body is None and second.error is None
    later = feed.stat().st_mtime + 5
    os.utime(feed, (later, later))
    third = await get(client, "desk.xml", settings, base_dir=tmp_path,
                      last_modified=first.last_modified)
    assert third.status == 200 and third.body == FEED
    assert third.last_modified != first.last_modified


@pytest.mark.parametrize(("setup", "message"), [
    ("missing", "no such file"), ("directory", "not a regular file"),
    ("big", "over the limit of 4096"),
])
async def test_local_file_problems(tmp_path: Path, client: httpx.AsyncClient,
                                   settings: FetchSettings, setup: str, message: str) -> None:
    target = tmp_path / "feed.xml"
    if setup == "directory":
        target.mkdir()
    elif setup == "big":
        target.write_bytes(b"x" * 5000)
    result = await get(client, "feed.xml", settings, base_dir=tmp_path)
    assert result.error is not None and message in result.error and result.body is None


@pytest.mark.parametrize(("url", "expected"), [
    ("file:///srv/feeds/a.xml", Path("/srv/feeds/a.xml")),
    ("file://localhost/srv/a%20b.xml", Path("/srv/a b.xml")),
    ("demo/a.xml", Path("/base/demo/a.xml")),
    ("/abs/a.xml", Path("/abs/a.xml")),
    ("file://other-host/a.xml", None), ("https://example.org/a.xml", None),
])
def test_local_path(url: str, expected: Path | None) -> None:
    assert local_path(url, Path("/base")) == expected


def test_make_client_settings() -> None:
    settings = fetch_settings(timeout=7, connect_timeout=3, user_agent="watcher-test/1")
    client = make_client(settings)
    try:
        assert client.timeout.connect == 3 and client.timeout.read == 7
        assert client.headers["User-Agent"] == "watcher-test/1"
        assert client.follow_redirects is False
    finally:
        asyncio.run(client.aclose())


class SlowCounter:
    """A slow handler that records the most requests in flight at once, per Host and overall."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.now: dict[str, int] = {}
        self.peak: dict[str, int] = {}

    def _enter(self, key: str) -> None:
        self.now[key] = self.now.get(key, 0) + 1
        self.peak[key] = max(self.peak.get(key, 0), self.now[key])

    def __call__(self, request: Request) -> Response:
        host = request.headers["Host"].partition(":")[0]
        with self.lock:
            self._enter(host)
            self._enter("*")
        time.sleep(self.delay)
        with self.lock:
            self.now[host] -= 1
            self.now["*"] -= 1
        return Response(FEED)


async def test_concurrency_is_limited_per_host_and_overall(server: HTTPServer) -> None:
    counter = SlowCounter(0.25)
    server.expect_request("/slow-feed").respond_with_handler(counter)
    settings = fetch_settings(allow_addresses=["127.0.0.1/32", "::1/128"], concurrency=3,
                              per_host=2)
    limits = FetchLimits.from_settings(settings)
    urls = [f"http://{host}:{server.port}/slow-feed?n={n}"
            for n in range(5) for host in ("127.0.0.1", "localhost")]
    async with make_client(settings) as client:
        results = await asyncio.gather(*(get(client, u, settings, limits=limits)
                                         for u in urls))
    assert all(r.ok for r in results), [r.error for r in results]
    assert counter.peak["127.0.0.1"] == counter.peak["localhost"] == 2
    assert counter.peak["*"] == 3
    assert limits._hosts == {}  # idle hosts are forgotten


async def test_a_host_of_its_own_limit_gets_it_and_others_keep_per_host(
        server: HTTPServer) -> None:
    counter = SlowCounter(0.25)
    server.expect_request("/slow-feed").respond_with_handler(counter)
    settings = fetch_settings(allow_addresses=["127.0.0.1/32", "::1/128"], concurrency=10,
                              per_host=1, hosts={"LOCALHOST.": 4})
    limits = FetchLimits.from_settings(settings)
    urls = [f"http://{host}:{server.port}/slow-feed?n={n}"
            for n in range(4) for host in ("127.0.0.1", "localhost")]
    async with make_client(settings) as client:
        results = await asyncio.gather(*(get(client, u, settings, limits=limits)
                                         for u in urls))
    assert all(r.ok for r in results), [r.error for r in results]
    assert (counter.peak["localhost"], counter.peak["127.0.0.1"]) == (4, 1)


async def test_waiting_for_a_slot_does_not_count_against_the_deadline(
        server: HTTPServer) -> None:
    counter = SlowCounter(0.3)
    server.expect_request("/slow-feed").respond_with_handler(counter)
    settings = fetch_settings(allow_addresses=["127.0.0.1/32", "::1/128"], timeout=1, per_host=1)
    limits = FetchLimits.from_settings(settings)
    url = server.url_for("/slow-feed")
    async with make_client(settings) as client:
        results = await asyncio.gather(*(get(client, url, settings, limits=limits)
                                         for _ in range(5)))  # 1.5 s in a row
    assert all(r.ok for r in results), [r.error for r in results]
    assert counter.peak["*"] == 1


async def test_unread_responses_do_not_cost_a_connection() -> None:
    """304s, redirects and error pages are read to their end, so the connection is reused.
    (aiohttp serves here: werkzeug's server closes every connection itself.)"""
    connections: set[object] = set()  # the client's end of each connection served

    async def cached(request: web.Request) -> web.Response:
        connections.add(request.transport.get_extra_info("peername")
                        if request.transport else None)
        return web.Response(status=304)

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/cached")

    async def missing(request: web.Request) -> web.Response:
        return web.Response(status=404, text="no such feed " * 100)

    app = web.Application()
    app.router.add_get("/cached", cached)
    app.router.add_get("/moved", moved)
    app.router.add_get("/missing", missing)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    settings = fetch_settings()
    try:
        async with guarded_client(settings, policy=lambda ip: None) as client:
            results = [await get(client, f"http://127.0.0.1:{port}{path}", settings, etag='"x"')
                       for path in ["/cached", "/moved", "/missing", "/cached"]]
    finally:
        await runner.cleanup()
    assert [r.status for r in results] == [304, 304, 404, 304]
    assert len(connections) == 1
