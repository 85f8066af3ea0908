"""The HTTP transport under the fetch client: httpx's API on aiohttp's connection pool.

`fetch_feed` talks to an `httpx.AsyncClient` (requests, streaming, headers, time-outs stay
httpx's); `GuardedTransport` sends its requests over aiohttp. Why not httpcore, httpx's own
pool: it scans every pooled connection on every request (a `getpeername` and a `poll` per
idle one), and its HTTP/1.1 parser is pure Python, so a 304 cost 3.5 ms of CPU at 8
connections and 6-7 ms at 64, where aiohttp (C parser, a free-list of idle connections per
host) needs 0.2 ms and httpx over aiohttp 0.6 ms (bench/poll.py --workload first-start).

What the transport keeps, as the httpcore one did:
- the address guard (addressguard.py) on every connection: aiohttp resolves host names
  through `GuardedResolver`, which checks every address and hands aiohttp only those, so it
  connects only to an address that was checked (no second lookup: DNS rebinding gets
  nowhere); a host written as an address is checked here before the request, since aiohttp
  does not resolve those;
- TLS verification with the host name (SNI and certificate) from the URL, never the address;
- no proxy from the environment, no cookies of its own (httpx keeps the client's), no
  decompression (fetch.py inflates in bounded steps) and no redirects (fetch.py follows them);
- aiohttp's errors become httpx's (connect, read, time-out), so fetch.py translates one kind.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Iterator

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.helpers import is_ip_address

from watcher.feeds.addressguard import (
    AddressPolicy,
    Resolver,
    address_problem,
    public_addresses,
    resolve_addresses,
)

MAX_HEADER_LINE = 16 * 1024  # as h11 (httpx's parser) allowed


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

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if is_ip_address(host):  # aiohttp connects to an address without resolving it
            await public_addresses(host, request.url.port or 0, self._resolve, self._policy)
        if self._session is None:
            self._session = self._open()
        timeout = request.extensions.get("timeout", {})
        with _translated():
            response = await self._session.request(
                request.method, str(request.url), headers=request.headers,
                data=request.content or None, allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=None, connect=timeout.get("pool"),
                                              sock_connect=timeout.get("connect"),
                                              sock_read=timeout.get("read")))
        extensions = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(response.status, headers=response.raw_headers,
                              stream=_Body(response), request=request, extensions=extensions)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class _Body(httpx.AsyncByteStream):
    """A response body as aiohttp receives it. Closed unread, its connection is dropped
    rather than reused (aiohttp's rule), so fetch.py reads short bodies to their end."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _translated():
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        self._response.release()


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
