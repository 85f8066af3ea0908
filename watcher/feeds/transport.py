"""The HTTP transport under the fetch client: httpx's API on aiohttp's connection pool.

`make_client` (fetch.py) gives a `FeedClient`: an `httpx.AsyncClient` (for the few requests
that are not feed GETs, such as WebSub subscriptions) whose `GuardedTransport` sends over
aiohttp. A feed GET skips httpx: `FeedClient.open_feed` hands the request to the transport
directly and answers with a `FeedResponse` (status, headers, URL, raw body) wrapped around
aiohttp's, so a 304 builds no httpx Request, Response, URL or Headers and touches no cookie
jar: feed GETs neither send nor store cookies. Every guard below holds on both ways in, and
fetch.py keeps the rest (redirects, size cap, inflation, deadline) for both.

Why aiohttp and not httpcore, httpx's own pool: httpcore scans every pooled connection on
every request (a `getpeername` and a `poll` per idle one), and its HTTP/1.1 parser is pure
Python, so a 304 cost 3.5 ms of CPU at 8 connections and 6-7 ms at 64, where aiohttp (C
parser, a free-list of idle connections per host) needs 0.2 ms and httpx over aiohttp
0.6 ms (bench/poll.py --workload first-start).

What the transport keeps, as the httpcore one did:
- the address guard (addressguard.py) on every connection: aiohttp resolves host names
  through `GuardedResolver`, which checks every address and hands aiohttp only those, so it
  connects only to an address that was checked (no second lookup: DNS rebinding gets
  nowhere); a host written as an address is checked here before the request, since aiohttp
  does not resolve those;
- TLS verification with the host name (SNI and certificate) from the URL, never the address;
- no proxy from the environment, no cookies of its own (httpx keeps the client's for
  requests sent through it; feed GETs have none), no
  decompression (fetch.py inflates in bounded steps) and no redirects (fetch.py follows them);
- aiohttp's errors become httpx's (connect, read, time-out), so fetch.py translates one kind.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Iterator, Mapping

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.helpers import is_ip_address
from yarl import URL

from watcher.feeds.addressguard import (
    AddressPolicy,
    Resolver,
    address_problem,
    public_addresses,
    resolve_addresses,
)

MAX_HEADER_LINE = 16 * 1024  # as h11 (httpx's parser) allowed
PASSED_LITERALS = 1024  # address literals remembered as allowed (then forgotten, and rechecked)


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver: the host's addresses if every one passes the policy, else
    FetchError (addressguard.public_addresses)."""

    def __init__(self, resolve: Resolver = resolve_addresses,
                 policy: AddressPolicy = address_problem) -> None:
        self._resolve, self._policy = resolve, policy

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        addresses = await public_addresses(host, port, self._resolve, self._policy)
        return [ResolveResult(hostname=host, host=str(ip), port=port,
                              family=socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                              proto=0, flags=socket.AI_NUMERICHOST) for ip in addresses]

    async def close(self) -> None:
        return None


class GuardedTransport(httpx.AsyncBaseTransport):
    """httpx requests over one aiohttp session whose connections pass the address guard
    (module docstring). The session is made on the first request, in the running loop."""

    def __init__(self, *, limits: httpx.Limits, resolve: Resolver = resolve_addresses,
                 policy: AddressPolicy = address_problem,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self._limits = limits
        self._resolve, self._policy = resolve, policy
        self._ssl = ssl_context or httpx.create_ssl_context()
        self._session: aiohttp.ClientSession | None = None
        self._passed: set[str] = set()  # address literals the policy allowed

    def _open(self) -> aiohttp.ClientSession:
        keepalive = self._limits.keepalive_expiry
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0, limit_per_host=0, ssl=self._ssl,
            resolver=GuardedResolver(self._resolve, self._policy),
            keepalive_timeout=keepalive if keepalive is not None else 5.0)
        return aiohttp.ClientSession(
            connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None),
            max_line_size=MAX_HEADER_LINE, max_field_size=MAX_HEADER_LINE)

    async def _send(self, method: str, url: str | URL, headers: Mapping[str, str],
                    data: bytes | None, timeout: aiohttp.ClientTimeout
                    ) -> aiohttp.ClientResponse:
        """One request on the guarded session, its errors as httpx's; redirects not followed."""
        with _translated():
            target = URL(url) if isinstance(url, str) else url
            host = target.raw_host or ""
            if is_ip_address(host) and host not in self._passed:
                # aiohttp connects to an address without resolving it: check it here.
                await public_addresses(host, target.port or 0, self._resolve, self._policy)
                if len(self._passed) >= PASSED_LITERALS:
                    self._passed.clear()
                self._passed.add(host)  # the policy is fixed: an address passes or not for good
            if self._session is None:
                self._session = self._open()
            return await self._session.request(method, target, headers=headers, data=data,
                                               allow_redirects=False, timeout=timeout)

    async def open_feed(self, url: str, headers: Mapping[str, str],
                        timeout: aiohttp.ClientTimeout) -> FeedResponse:
        """A GET of `url` without httpx's objects; the caller closes the response."""
        return FeedResponse(await self._send("GET", url, headers, None, timeout))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        response = await self._send(
            request.method, str(request.url), request.headers, request.content or None,
            client_timeout(timeout.get("pool"), timeout.get("connect"), timeout.get("read")))
        extensions = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(response.status, headers=response.raw_headers,
                              stream=_Body(response), request=request, extensions=extensions)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def client_timeout(pool: float | None, connect: float | None,
                   read: float | None) -> aiohttp.ClientTimeout:
    """httpx's time-outs as aiohttp's: no total (fetch.py keeps the one deadline)."""
    return aiohttp.ClientTimeout(total=None, connect=pool, sock_connect=connect, sock_read=read)


class FeedResponse:
    """A feed GET's response: status, headers, final URL and the raw body
    (still encoded; fetch.py inflates it in bounded steps). `aclose` once done: a response
    read to its end leaves its connection for the next request, one closed unread drops it."""

    __slots__ = ("_response",)

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status

    def header(self, name: str) -> str | None:
        """The header's values joined by ", " as httpx reads them (a feed may send Link or
        Content-Encoding twice), None when absent; the name in any case."""
        values = self._response.headers.getall(name, None)
        if not values:
            return None
        return values[0] if len(values) == 1 else ", ".join(values)

    @property
    def url(self) -> str:
        return str(self._response.url)

    async def raw_chunks(self) -> AsyncIterator[bytes]:
        with _translated():
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        self._response.release()


class FeedClient(httpx.AsyncClient):
    """The feed fetch client (module docstring): an httpx client over a `GuardedTransport`,
    plus `open_feed` for feed GETs, which carries the client's headers and time-outs as
    they were when it was made."""

    def __init__(self, *, transport: GuardedTransport, timeout: httpx.Timeout,
                 headers: Mapping[str, str]) -> None:
        super().__init__(timeout=timeout, headers=headers, follow_redirects=False,
                         transport=transport)
        self._guarded = transport
        self._feed_headers = dict(self.headers.items())
        self._feed_timeout = client_timeout(timeout.pool, timeout.connect, timeout.read)

    async def open_feed(self, url: str, headers: Mapping[str, str]) -> FeedResponse:
        """GET `url` with the client's headers and `headers` over them; redirects are
        returned, not followed. Errors are httpx's, as from `send`."""
        return await self._guarded.open_feed(url, {**self._feed_headers, **headers},
                                             self._feed_timeout)


class _Body(httpx.AsyncByteStream):
    """A response body as aiohttp receives it, for httpx (`FeedResponse` does the work)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = FeedResponse(response)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._response.raw_chunks()

    async def aclose(self) -> None:
        await self._response.aclose()


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """aiohttp's errors as httpx's, with aiohttp's text (it names host and cause)."""
    try:
        yield
    except aiohttp.ServerTimeoutError as exc:  # before ClientConnectionError: it is one
        kind = httpx.ConnectTimeout if isinstance(exc, aiohttp.ConnectionTimeoutError) \
            else httpx.ReadTimeout
        raise kind(str(exc) or type(exc).__name__) from exc
    except aiohttp.ClientConnectorError as exc:  # refused, unreachable, DNS, TLS
        raise httpx.ConnectError(str(exc)) from exc
    except aiohttp.InvalidURL as exc:
        raise httpx.InvalidURL(str(exc)) from exc
    except aiohttp.ClientError as exc:  # disconnected, reset, a malformed response
        raise httpx.ReadError(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
