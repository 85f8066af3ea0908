"""Hostile fetches against a real server on loopback (issue 17): the address allow-list
holds for redirects, odd address spellings and DNS answers; decompression is bounded."""

from __future__ import annotations

import gzip
import ipaddress
import tracemalloc
import zlib
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from pytest_httpserver import HTTPServer
from werkzeug import Response

from watcher.config.settings import FetchSettings, load_config
from watcher.errors import ConfigError
from watcher.feeds.addressguard import IPAddress, allowing
from watcher.feeds.fetch import fetch_feed, make_client
from watcher.feeds.transport import GuardedTransport
from watcher.models import FetchResult

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
ONLY_THIS_LOOPBACK = ["127.0.0.1/32"]


@pytest.fixture
def server(feed_server: HTTPServer) -> HTTPServer:
    return feed_server


def settings_for(**values: object) -> FetchSettings:
    return FetchSettings.model_validate({"timeout": 5, **values})


async def fetch(url: str, settings: FetchSettings,
                client: httpx.AsyncClient | None = None) -> FetchResult:
    async with client or make_client(settings) as c:
        return await fetch_feed(c, "feed", url, etag=None, last_modified=None,
                                settings=settings, base_dir=Path("."))


async def test_a_listed_network_is_fetched(server: HTTPServer) -> None:
    server.expect_request("/feed").respond_with_data(FEED)
    result = await fetch(server.url_for("/feed"), settings_for(allow_addresses=ONLY_THIS_LOOPBACK))
    assert result.ok and result.body == FEED


async def test_without_the_list_loopback_is_refused(server: HTTPServer) -> None:
    server.expect_request("/feed").respond_with_data(FEED)
    result = await fetch(server.url_for("/feed"), settings_for())
    assert result.error is not None and result.error.startswith("address not allowed")
    assert "fetch.allow_addresses" in result.error and server.log == []


@pytest.mark.parametrize("target", [
    "http://127.0.0.2:{port}/x",          # loopback, but not the listed /32
    "http://2130706434:{port}/x",         # 127.0.0.2 written as one decimal number
    "http://0x7f000002:{port}/x",         # ... as hexadecimal
    "http://127.2:{port}/x",              # ... in the short form inet_aton reads
    "http://[::ffff:127.0.0.2]:{port}/x",  # ... mapped into IPv6
    "http://[::ffff:7f00:2]:{port}/x",    # ... mapped, written in hex
    "http://169.254.169.254/latest/meta-data/",  # the cloud metadata service
    "http://[::1]:{port}/x",              # IPv6 loopback is not 127.0.0.1/32
    "http://0.0.0.0:{port}/x",
    "http://10.0.0.1/x",
])
async def test_redirects_outside_the_list_are_refused(server: HTTPServer, target: str) -> None:
    server.expect_request("/jump").respond_with_response(
        Response(status=302, headers={"Location": target.format(port=server.port)}))
    result = await fetch(server.url_for("/jump"), settings_for(allow_addresses=ONLY_THIS_LOOPBACK))
    assert result.error is not None and result.error.startswith("address not allowed"), result
    assert [entry[0].path for entry in server.log] == ["/jump"]


async def test_a_redirect_inside_the_list_is_followed(server: HTTPServer) -> None:
    server.expect_request("/jump").respond_with_response(
        Response(status=302, headers={"Location": f"http://127.0.0.1:{server.port}/feed"}))
    server.expect_request("/feed").respond_with_data(FEED)
    result = await fetch(server.url_for("/jump"), settings_for(allow_addresses=ONLY_THIS_LOOPBACK))
    assert result.ok and result.body == FEED


class Dns:
    def __init__(self, *answers: str) -> None:
        self.answers = [ipaddress.ip_address(a) for a in answers]

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        return list(self.answers)


@pytest.mark.parametrize(("answers", "ok"), [
    (("127.0.0.1",), True),
    (("127.0.0.1", "10.0.0.5"), False),        # one answer outside the list spoils the host
    (("::ffff:127.0.0.1",), True),             # the listed address, mapped into IPv6
    (("169.254.169.254",), False),
])
async def test_dns_answers_are_checked_against_the_list(server: HTTPServer,
                                                        answers: tuple[str, ...],
                                                        ok: bool) -> None:
    server.expect_request("/feed").respond_with_data(FEED)
    settings = settings_for(allow_addresses=ONLY_THIS_LOOPBACK)
    client = httpx.AsyncClient(transport=GuardedTransport(
        limits=httpx.Limits(max_connections=2), resolve=Dns(*answers).resolve,
        policy=allowing(settings.allow_addresses)), follow_redirects=False)
    # ::ffff:127.0.0.1 is not connectable on every host: only the verdict matters then.
    result = await fetch(f"http://intranet.test:{server.port}/feed", settings, client)
    if ok:
        assert result.error is None or not result.error.startswith("address not allowed")
    else:
        assert result.error is not None and result.error.startswith("address not allowed")
        assert server.log == []


def test_networks_are_validated() -> None:
    with pytest.raises(ValueError, match="allow_addresses"):
        settings_for(allow_addresses=["not-a-network"])
    assert str(settings_for(allow_addresses=["10.20.0.0/16"]).allow_addresses[0]) == "10.20.0.0/16"


def test_the_old_switch_is_refused_naming_the_new_list(tmp_path: Path) -> None:
    path = tmp_path / "watcher.yaml"
    path.write_text("state: x.db\nfetch:\n  timeout: 5s\n  allow_private_addresses: true\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    text = str(caught.value)
    assert "allow_private_addresses is replaced by allow_addresses" in text
    assert f"{path}:3:" in text


def zero_bomb(inflated: int, wbits: int = zlib.MAX_WBITS | 16) -> bytes:
    """`inflated` zero bytes, compressed (gzip by default) without holding them."""
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = bytes(1 << 20)
    parts = [packer.compress(block) for _ in range(inflated >> 20)]
    return b"".join([*parts, packer.flush()])


@pytest.mark.parametrize(("encoding", "wbits"), [("gzip", zlib.MAX_WBITS | 16),
                                                 ("deflate", zlib.MAX_WBITS),
                                                 ("deflate", -zlib.MAX_WBITS)])
async def test_a_bomb_is_refused_within_the_cap_plus_a_step(encoding: str, wbits: int) -> None:
    bomb = zero_bomb(256 << 20, wbits)  # 256 MB of zeros in a quarter of a megabyte

    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=bomb, headers={"Content-Encoding": encoding})

    # Served in this event loop, not by a server thread: tracemalloc counts every thread of
    # the process, and a thread's allocations (werkzeug's, about 10 MB at times) are not
    # the fetch's.
    app = web.Application()
    app.router.add_get("/bomb", serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/bomb"
    cap = 1 << 20
    settings = settings_for(allow_addresses=ONLY_THIS_LOOPBACK, max_bytes=cap)
    client = make_client(settings)
    tracemalloc.start()
    try:
        result = await fetch(url, settings, client)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        await runner.cleanup()
    assert result.error == f"body is over the limit of {cap} bytes"
    # httpx inflated each network chunk whole: tens of megabytes at once.
    assert peak < cap + 3 * len(bomb) + (2 << 20), peak


@pytest.mark.parametrize(("encoding", "body"), [
    ("gzip", gzip.compress(FEED)),
    ("x-gzip", gzip.compress(FEED)),
    ("gzip", gzip.compress(FEED[:40]) + gzip.compress(FEED[40:])),  # two members
    ("deflate", zlib.compress(FEED)),
    ("deflate", zlib.compress(FEED)[2:-4]),  # raw deflate, no zlib wrapper
    ("gzip, gzip", gzip.compress(gzip.compress(FEED))),
    ("deflate, gzip", gzip.compress(zlib.compress(FEED))),
    ("identity", FEED),
])
async def test_encodings_are_undone(server: HTTPServer, encoding: str, body: bytes) -> None:
    server.expect_request("/feed").respond_with_data(body,
                                                     headers={"Content-Encoding": encoding})
    result = await fetch(server.url_for("/feed"), settings_for(allow_addresses=ONLY_THIS_LOOPBACK))
    assert result.body == FEED, result.error


@pytest.mark.parametrize(("encoding", "body", "error"), [
    ("br", b"\x0b\x02\x80hello\x03", "unsupported Content-Encoding 'br'"),
    ("gzip", b"\x1f\x8b\x08\x00garbage" * 10, "cannot decode the body"),
])
async def test_undecodable_bodies_are_reported(server: HTTPServer, encoding: str, body: bytes,
                                               error: str) -> None:
    server.expect_request("/feed").respond_with_data(body,
                                                     headers={"Content-Encoding": encoding})
    result = await fetch(server.url_for("/feed"), settings_for(allow_addresses=ONLY_THIS_LOOPBACK))
    assert result.body is None and result.error is not None and error in result.error


async def test_only_gzip_and_deflate_are_asked_for(server: HTTPServer) -> None:
    server.expect_request("/feed").respond_with_data(FEED)
    await fetch(server.url_for("/feed"), settings_for(allow_addresses=ONLY_THIS_LOOPBACK))
    assert server.log[0][0].headers["Accept-Encoding"] == "gzip, deflate"
