"""Feed GETs straight to the guarded transport (FeedClient.open_feed, transport.py), against
a real server on loopback: the same results as through httpx, the same guards, no cookies."""

from __future__ import annotations

import gzip
import ipaddress
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response
from werkzeug.datastructures import Headers

from watcher.config.settings import FetchSettings
from watcher.feeds.addressguard import IPAddress, address_problem, allowing
from watcher.feeds.fetch import FEED_ACCEPT, fetch_feed, make_client
from watcher.feeds.transport import FeedClient, GuardedTransport
from watcher.models import FetchResult

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
SETTINGS = FetchSettings.model_validate({
    "allow_addresses": ["127.0.0.1/32"], "timeout": 5, "max_bytes": 4096, "max_redirects": 3,
    "user_agent": "watcher-test/1"})


@pytest.fixture
def server(feed_server: HTTPServer) -> HTTPServer:
    return feed_server


def httpx_client(settings: FetchSettings, **guard: Any) -> httpx.AsyncClient:
    """A plain httpx client on the same transport: fetch_feed sends through `client.send`."""
    transport = GuardedTransport(limits=httpx.Limits(max_connections=4),
                                 policy=allowing(settings.allow_addresses), **guard)
    return httpx.AsyncClient(transport=transport, follow_redirects=False,
                             timeout=httpx.Timeout(settings.timeout),
                             headers={"User-Agent": settings.user_agent, "Accept": FEED_ACCEPT,
                                      "Accept-Encoding": "gzip, deflate"})


def feed_client(settings: FetchSettings, **guard: Any) -> FeedClient:
    transport = GuardedTransport(limits=httpx.Limits(max_connections=4),
                                 policy=allowing(settings.allow_addresses), **guard)
    return FeedClient(transport=transport, timeout=httpx.Timeout(settings.timeout),
                      headers={"User-Agent": settings.user_agent})


async def get(client: httpx.AsyncClient, url: str, *, etag: str | None = None,
              last_modified: str | None = None) -> FetchResult:
    async with client:
        return await fetch_feed(client, "feed", url, etag=etag, last_modified=last_modified,
                                settings=SETTINGS, base_dir=Path("."))


def test_make_client_gives_a_feed_client() -> None:
    assert isinstance(make_client(SETTINGS), FeedClient)


def serve_conditional_feed(server: HTTPServer) -> None:
    def feed(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response(FEED, content_type="application/rss+xml",
                        headers={"ETag": '"v1"', "Last-Modified": "Tue, 03 Mar 2026 08:00:00 GMT",
                                 "Link": '<https://hub.example/>; rel="hub"'})

    server.expect_request("/old").respond_with_response(
        Response(status=301, headers={"Location": "/older"}))
    server.expect_request("/older").respond_with_response(
        Response(status=302, headers={"Location": server.url_for("/feed")}))
    server.expect_request("/feed").respond_with_handler(feed)
    server.expect_request("/gone").respond_with_response(
        Response(status=429, headers={"Retry-After": "120"}))
    # Link and Content-Encoding sent twice: read as one comma-joined value, as httpx does.
    twice = Headers([("Link", '<https://x.test/feed>; rel="self"'),
                     ("Link", '<https://hub.example/>; rel="hub"'),
                     ("Content-Encoding", "gzip"), ("Content-Encoding", "gzip")])
    server.expect_request("/twice").respond_with_response(
        Response(gzip.compress(gzip.compress(FEED)), headers=twice))


@pytest.mark.parametrize(("path", "etag"), [("/feed", None), ("/feed", '"v1"'), ("/old", None),
                                            ("/old", '"v1"'), ("/gone", None), ("/twice", None)])
async def test_both_ways_in_give_the_same_result(server: HTTPServer, path: str,
                                                 etag: str | None) -> None:
    serve_conditional_feed(server)
    url = server.url_for(path)
    direct = await get(make_client(SETTINGS), url, etag=etag)
    through_httpx = await get(httpx_client(SETTINGS), url, etag=etag)
    assert asdict(direct) == asdict(through_httpx)
    assert direct.status in (200, 304, 429)
    if path == "/twice":
        assert direct.body == FEED and direct.link_header is not None
        assert direct.link_header.endswith('<https://hub.example/>; rel="hub"')


async def test_a_feed_get_sends_the_client_headers_and_validators(server: HTTPServer) -> None:
    serve_conditional_feed(server)
    result = await get(make_client(SETTINGS), server.url_for("/feed"), etag='"v1"',
                       last_modified="Tue, 03 Mar 2026 08:00:00 GMT")
    assert result.status == 304 and result.etag == '"v1"'
    headers = server.log[0][0].headers
    assert headers["User-Agent"] == "watcher-test/1" and headers["Accept"] == FEED_ACCEPT
    assert headers["Accept-Encoding"] == "gzip, deflate"
    assert headers["If-None-Match"] == '"v1"'
    assert headers["If-Modified-Since"] == "Tue, 03 Mar 2026 08:00:00 GMT"


async def test_feed_gets_neither_send_nor_keep_cookies(server: HTTPServer) -> None:
    server.expect_request("/start").respond_with_response(Response(
        status=302, headers={"Location": "/feed", "Set-Cookie": "session=abc; Path=/"}))
    server.expect_request("/feed").respond_with_data(FEED, headers={"Set-Cookie": "b=2"})
    client = make_client(SETTINGS)
    async with client:
        result = await fetch_feed(client, "feed", server.url_for("/start"), etag=None,
                                  last_modified=None, settings=SETTINGS, base_dir=Path("."))
        assert result.body == FEED
        assert [entry[0].headers.get("Cookie") for entry in server.log] == [None, None]
        assert len(client.cookies) == 0


async def test_open_feed_returns_a_redirect_unfollowed(server: HTTPServer) -> None:
    server.expect_request("/jump").respond_with_response(
        Response(status=307, headers={"Location": "/feed"}))
    async with make_client(SETTINGS) as client:
        response = await client.open_feed(server.url_for("/jump"), {})
        try:
            assert response.status == 307 and response.header("location") == "/feed"
            assert response.url == server.url_for("/jump")
        finally:
            await response.aclose()
    assert [entry[0].path for entry in server.log] == ["/jump"]


@pytest.mark.parametrize("target", ["http://127.0.0.2:{port}/x", "http://[::1]:{port}/x",
                                    "http://169.254.169.254/latest/meta-data/"])
async def test_a_literal_allowed_once_opens_no_other(server: HTTPServer, target: str) -> None:
    """The transport remembers literals the policy let through; a refused one stays refused,
    and one allowed address does not stand for its neighbours."""
    server.expect_request("/feed").respond_with_data(FEED)
    server.expect_request("/jump").respond_with_response(
        Response(status=302, headers={"Location": target.format(port=server.port)}))
    async with make_client(SETTINGS) as client:
        for _ in range(2):
            first = await fetch_feed(client, "f", server.url_for("/feed"), etag=None,
                                     last_modified=None, settings=SETTINGS, base_dir=Path("."))
            assert first.body == FEED
            jumped = await fetch_feed(client, "f", server.url_for("/jump"), etag=None,
                                      last_modified=None, settings=SETTINGS, base_dir=Path("."))
            assert jumped.error is not None and jumped.error.startswith("address not allowed")
    assert [entry[0].path for entry in server.log] == ["/feed", "/jump"] * 2


class Dns:
    def __init__(self, *answers: str) -> None:
        self.answers = [ipaddress.ip_address(a) for a in answers]

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        return list(self.answers)


@pytest.mark.parametrize(("answers", "refused"), [(("127.0.0.1",), False),
                                                  (("127.0.0.1", "10.0.0.5"), True),
                                                  (("169.254.169.254",), True)])
async def test_a_feed_get_resolves_through_the_guard(server: HTTPServer,
                                                     answers: tuple[str, ...],
                                                     refused: bool) -> None:
    server.expect_request("/feed").respond_with_data(FEED)
    client = feed_client(SETTINGS, resolve=Dns(*answers).resolve)
    result = await get(client, f"http://intranet.test:{server.port}/feed")
    if refused:
        assert result.error is not None and result.error.startswith("address not allowed")
        assert server.log == []
    else:
        assert result.body == FEED


async def test_a_redirect_to_a_name_of_an_internal_address_is_refused(
        server: HTTPServer) -> None:
    def policy(ip: IPAddress) -> str | None:
        return None if str(ip) == "127.0.0.1" else address_problem(ip)

    server.expect_request("/jump").respond_with_response(
        Response(status=302, headers={"Location": "http://metadata.test/latest/"}))
    transport = GuardedTransport(limits=httpx.Limits(max_connections=4), policy=policy,
                                 resolve=Dns("169.254.169.254").resolve)
    client = FeedClient(transport=transport, timeout=httpx.Timeout(5), headers={})
    result = await get(client, server.url_for("/jump"))
    assert result.error is not None
    assert result.error.startswith("address not allowed: metadata.test resolves to 169.254")


@pytest.mark.parametrize("declared", [True, False])
async def test_a_feed_get_stops_at_the_size_cap(server: HTTPServer, declared: bool) -> None:
    body = b"x" * (SETTINGS.max_bytes + 1)

    def stream() -> Iterator[bytes]:
        yield from (body[i:i + 512] for i in range(0, len(body), 512))

    response = Response(body if declared else stream(), content_type="application/rss+xml")
    server.expect_request("/big").respond_with_response(response)
    result = await get(make_client(SETTINGS), server.url_for("/big"))
    assert result.body is None and result.error is not None
    assert "over the limit of 4096" in result.error
