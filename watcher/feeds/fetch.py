"""The fetch stage: one poll of one feed, over HTTP(S) or from a local file.

`fetch_feed` never raises for a feed's own problems (unreachable host, HTTP error, body too
large, too slow, refused address): they come back in `FetchResult.error`, with the HTTP
status and Retry-After where known. httpx and OS errors are translated here, at this one
boundary.

HTTP:
- conditional GET (If-None-Match / If-Modified-Since); 304 comes back as status 304, no body;
- the address guard (addressguard.py) sits in the client's transport (transport.py, httpx
  over aiohttp): every connection, to every redirect hop, goes only to addresses it
  resolved and checked. A `FeedClient` (what `make_client` gives) sends feed GETs to that
  transport without building httpx's request and response objects; any other
  `httpx.AsyncClient` is used through `send`; both come back as a `Reply`, read below;
- redirects are followed here, not by httpx, so that at most `max_redirects` are followed;
  `final_url` is where the body came from, and `moved_to` where an unbroken chain of
  permanent redirects (301, 308) from the feed's URL ends (the feed's new address);
- `FetchLimits`: at most `concurrency` fetches at once, at most `per_host` to one host (so an
  outlet with many feeds is not hammered; `hosts` sets a host's own limit); waiting for a
  slot does not count against the fetch's deadline;
- the body is streamed and refused as soon as it passes `max_bytes` (after decompression,
  which `inflate` does in bounded steps, so a gzip bomb is refused before it takes more
  memory than the cap); one total deadline (`timeout`) covers the whole fetch,
  redirects and a slow-drip body included;
- 429 and 503 carry Retry-After (seconds or an HTTP date) as seconds in `retry_after`,
  capped at MAX_RETRY_AFTER so a hostile server cannot silence a feed for ever.

Files (`file:` URLs, or paths relative to `base_dir`): the same size cap; no ETag; the file's
mtime is the Last-Modified date, so an unchanged file gives 304 on the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import url2pathname

import httpx

from watcher.config.settings import FetchSettings
from watcher.errors import FetchError
from watcher.feeds.addressguard import allowing
from watcher.feeds.inflate import ACCEPT_ENCODING, decoded_chunks
from watcher.feeds.transport import FeedClient, GuardedTransport
from watcher.models import FetchResult

FEED_ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json, "
               "application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, "
               "application/json;q=0.8, */*;q=0.5")
HTTP_SCHEMES = frozenset({"http", "https"})
RETRY_AFTER_STATUSES = frozenset({429, 503})
PERMANENT_REDIRECTS = frozenset({301, 308})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
IDLE_CONNECTIONS_PER_SLOT = 4
DISCARD_BYTES = 64 * 1024
MAX_RETRY_AFTER = 86_400.0


def make_client(settings: FetchSettings) -> FeedClient:
    """The one client every feed fetch shares: timeouts, User-Agent, pool size, and the
    address guard in its transport (opened to `allow_addresses`). Redirects are not
    followed by httpx (fetch_feed follows them). Proxy variables in the environment are not
    used: a proxy would resolve feed hosts where the guard cannot see."""
    # FetchLimits bounds the fetches in flight; the pool may also keep idle connections to
    # a few more hosts than that, so an outlet polled again within seconds reuses one.
    pooled = settings.concurrency * IDLE_CONNECTIONS_PER_SLOT
    limits = httpx.Limits(max_connections=pooled, max_keepalive_connections=pooled)
    transport = GuardedTransport(limits=limits, policy=allowing(settings.allow_addresses))
    return FeedClient(
        timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
        headers={"User-Agent": settings.user_agent, "Accept": FEED_ACCEPT,
                 "Accept-Encoding": ACCEPT_ENCODING},
        transport=transport,
    )


class Reply(Protocol):
    """A response as the fetch stage reads it: a `FeedResponse` (transport.py), or an httpx
    response seen through `_HttpxReply`."""

    @property
    def status(self) -> int: ...
    def header(self, name: str) -> str | None:
        """The header's values joined by ", " (httpx's reading), None when absent; the name
        in any case."""
    @property
    def url(self) -> str: ...
    def raw_chunks(self) -> AsyncIterator[bytes]: ...
    async def aclose(self) -> None: ...


class _HttpxReply:
    """An httpx response (from a client that is not a FeedClient) as a `Reply`."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.url = str(response.url)

    def header(self, name: str) -> str | None:
        return self._response.headers.get(name)

    def raw_chunks(self) -> AsyncIterator[bytes]:
        return self._response.aiter_raw()

    async def aclose(self) -> None:
        await self._response.aclose()


async def _get(client: httpx.AsyncClient, url: str, headers: Mapping[str, str]) -> Reply:
    if isinstance(client, FeedClient):
        return await client.open_feed(url, headers)
    request = client.build_request("GET", url, headers=headers)
    return _HttpxReply(await client.send(request, stream=True))


class FetchLimits:
    """At most `overall` fetches in flight, and at most `per_host` to any one host (or the
    host's own limit in `hosts`). A fetch waits for its host's slot before it takes one of
    the overall slots, so a backlog on one busy outlet never holds slots that other outlets
    could use."""

    def __init__(self, overall: int, per_host: int,
                 hosts: Mapping[str, int] | None = None) -> None:
        self._overall = asyncio.Semaphore(overall)
        self.per_host = per_host
        self.host_limits = dict(hosts or {})
        self._hosts: dict[str, tuple[asyncio.Semaphore, int]] = {}  # host -> (slots, users)

    @classmethod
    def from_settings(cls, settings: FetchSettings) -> FetchLimits:
        return cls(settings.concurrency, settings.per_host, settings.hosts)

    def limit_for(self, host: str) -> int:
        return self.host_limits.get(host, self.per_host)

    def slot_for(self, url: str) -> AbstractAsyncContextManager[None]:
        """The slot an HTTP fetch of `url` waits for; none for a file."""
        parts = urlsplit(url.strip())
        if parts.scheme.lower() not in HTTP_SCHEMES:
            return contextlib.nullcontext()
        return self.slot((parts.hostname or "").lower())

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        slots, users = self._hosts.get(host) or (asyncio.Semaphore(self.limit_for(host)), 0)
        self._hosts[host] = (slots, users + 1)
        try:
            async with slots, self._overall:
                yield
        finally:
            slots, users = self._hosts[host]
            if users == 1:
                del self._hosts[host]  # forget idle hosts: the map stays as small as the work
            else:
                self._hosts[host] = (slots, users - 1)


async def fetch_feed(client: httpx.AsyncClient, feed_id: str, url: str, *, etag: str | None,
                     last_modified: str | None, settings: FetchSettings,
                     base_dir: Path, limits: FetchLimits | None = None) -> FetchResult:
    """Fetch one feed; every problem is reported in the result, never raised. With
    `limits`, an HTTP fetch first waits for a slot for its host (redirect hops ride on it)."""
    if limits is not None:
        async with limits.slot_for(url):
            return await _fetch_within_deadline(client, feed_id, url, etag=etag,
                                                last_modified=last_modified,
                                                settings=settings, base_dir=base_dir)
    return await _fetch_within_deadline(client, feed_id, url, etag=etag,
                                        last_modified=last_modified, settings=settings,
                                        base_dir=base_dir)


async def _fetch_within_deadline(client: httpx.AsyncClient, feed_id: str, url: str, *,
                                 etag: str | None, last_modified: str | None,
                                 settings: FetchSettings, base_dir: Path) -> FetchResult:
    target = url.strip()
    try:
        async with asyncio.timeout(settings.timeout):
            scheme = urlsplit(target).scheme.lower()
            if scheme in HTTP_SCHEMES:
                return await _fetch_http(client, feed_id, target, etag=etag,
                                         last_modified=last_modified, settings=settings)
            path = local_path(target, base_dir)
            if path is None:
                raise FetchError(f"unsupported URL scheme {scheme!r} (use http, https or file)")
            return await asyncio.to_thread(_read_file, feed_id, url, path,
                                           last_modified, settings.max_bytes)
    except FetchError as exc:
        return FetchResult(feed_id, url, status=exc.status, retry_after=exc.retry_after,
                           error=str(exc))
    except TimeoutError:
        return FetchResult(feed_id, url, status=None,
                           error=f"timed out after {settings.timeout:g}s")
    except httpx.TimeoutException as exc:
        return FetchResult(feed_id, url, status=None, error=f"timed out: {_describe(exc)}")
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError, ValueError) as exc:
        return FetchResult(feed_id, url, status=None, error=_describe(exc))


def local_path(url: str, base_dir: Path) -> Path | None:
    """The file a `file:` URL or a plain path names (relative to base_dir), else None."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            return None
        path = Path(url2pathname(unquote(parts.path)))
    elif scheme == "" or (len(scheme) == 1 and os.name == "nt"):  # C:\feeds\x.xml
        path = Path(url).expanduser()
    else:
        return None
    return path if path.is_absolute() else base_dir / path


async def _fetch_http(client: httpx.AsyncClient, feed_id: str, url: str, *, etag: str | None,
                      last_modified: str | None, settings: FetchSettings) -> FetchResult:
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    current = url
    moved_to: str | None = None
    permanent = True  # every hop so far was a permanent redirect
    for _hop in range(settings.max_redirects + 1):
        response = await _get(client, current, headers)
        try:
            location = response.header("Location")
            if response.status in REDIRECTS and location is not None:
                await _discard_body(response)
                current = urljoin(current, location)
                if urlsplit(current).scheme.lower() not in HTTP_SCHEMES:
                    raise FetchError(f"redirected to unsupported URL {current}")
                permanent = permanent and response.status in PERMANENT_REDIRECTS
                if permanent:
                    moved_to = current
                continue
            result = await _read_response(response, feed_id, url, settings,
                                          etag=etag, last_modified=last_modified)
            return result if moved_to is None else replace(result, moved_to=moved_to)
        finally:
            await response.aclose()
    raise FetchError(f"more than {settings.max_redirects} redirects (last to {current})",
                     status=response.status)


async def _read_response(response: Reply, feed_id: str, url: str,
                         settings: FetchSettings, *, etag: str | None,
                         last_modified: str | None) -> FetchResult:
    status = response.status
    final_url = response.url
    new_etag = response.header("ETag")
    new_last_modified = response.header("Last-Modified")
    success = 200 <= status < 300
    if status == 304 or not success:
        await _discard_body(response)
    if status == 304:
        return FetchResult(feed_id, url, status=304, etag=new_etag or etag,
                           last_modified=new_last_modified or last_modified,
                           final_url=final_url)
    if not success:
        retry_after = None
        if status in RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(response.header("Retry-After"),
                                            datetime.now(UTC))
        # The standard phrase, not the server's: error texts stay stable across servers.
        reason = httpx.codes.get_reason_phrase(status)
        raise FetchError(f"HTTP {status} {reason}".rstrip(), status=status,
                         retry_after=retry_after)
    body = await _read_capped(response, settings.max_bytes)
    return FetchResult(feed_id, url, status=status, body=body, etag=new_etag,
                       last_modified=new_last_modified, final_url=final_url,
                       content_type=response.header("Content-Type"),
                       link_header=response.header("Link"))  # WebSub hub discovery


async def _discard_body(response: Reply) -> None:
    """Read a short body we do not want (304, redirect, error page) to its end: only a
    response read to its end leaves its connection open for the next request."""
    with contextlib.suppress(httpx.HTTPError):
        seen = 0
        async for chunk in response.raw_chunks():
            seen += len(chunk)
            if seen > DISCARD_BYTES:
                return  # not worth it: the connection is closed instead


async def _read_capped(response: Reply, max_bytes: int) -> bytes:
    declared = response.header("Content-Length") or ""
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"body of {int(declared)} bytes is over the limit of {max_bytes}",
                         status=response.status)
    body = bytearray()
    async for chunk in decoded_chunks(response.raw_chunks(),
                                      response.header("Content-Encoding")):
        body += chunk
        if len(body) > max_bytes:
            raise FetchError(f"body is over the limit of {max_bytes} bytes",
                             status=response.status)
    return bytes(body)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date), or None
    when absent or unreadable; never negative, never more than MAX_RETRY_AFTER."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - now).total_seconds()), MAX_RETRY_AFTER)


def _read_file(feed_id: str, url: str, path: Path, last_modified: str | None,
               max_bytes: int) -> FetchResult:
    try:
        info = path.stat()
        if not path.is_file():
            raise FetchError(f"not a regular file: {path}")
        stamp = email.utils.formatdate(info.st_mtime, usegmt=True)
        final_url = path.resolve().as_uri()
        if last_modified == stamp:
            return FetchResult(feed_id, url, status=304, last_modified=stamp,
                               final_url=final_url)
        if info.st_size > max_bytes:
            raise FetchError(f"file of {info.st_size} bytes is over the limit of {max_bytes}")
        with path.open("rb") as handle:
            body = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise FetchError(f"no such file: {path}") from None
    except PermissionError:
        raise FetchError(f"permission denied: {path}") from None
    if len(body) > max_bytes:
        raise FetchError(f"file is over the limit of {max_bytes} bytes")
    return FetchResult(feed_id, url, status=200, body=body, last_modified=stamp,
                       final_url=final_url)


def _describe(exc: BaseException) -> str:
    """A one-line reason for a translated exception, naming its kind when it says little."""
    text = str(exc).strip()
    kind = type(exc).__name__
    return f"{kind}: {text}" if text else kind
