"""The fetch stage: one poll of one feed, over HTTP(S) or from a local file.

`fetch_feed` never raises for a feed's own problems (unreachable host, HTTP error, body too
large, too slow, refused address): they come back in `FetchResult.error`, with the HTTP
status and Retry-After where known. httpx and OS errors are translated here, at this one
boundary.

HTTP:
- conditional GET (If-None-Match / If-Modified-Since); 304 comes back as status 304, no body;
- redirects are followed here, not by httpx, so that each hop passes the address guard
  (netguard) and at most `max_redirects` are followed; `final_url` is where the body came from;
- the body is streamed and refused as soon as it passes `max_bytes` (after decompression, so
  a gzip bomb is refused too); one total deadline (`timeout`) covers the whole fetch,
  redirects and a slow-drip body included;
- 429 and 503 carry Retry-After (seconds or an HTTP date) as seconds in `retry_after`,
  capped at MAX_RETRY_AFTER so a hostile server cannot silence a feed for ever.

Files (`file:` URLs, or paths relative to `base_dir`): the same size cap; no ETag; the file's
mtime is the Last-Modified date, so an unchanged file gives 304 on the next poll.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import httpx

from .config import FetchSettings
from .errors import FetchError
from .models import FetchResult
from .netguard import ensure_public_host

FEED_ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json, "
               "application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, "
               "application/json;q=0.8, */*;q=0.5")
HTTP_SCHEMES = frozenset({"http", "https"})
RETRY_AFTER_STATUSES = frozenset({429, 503})
MAX_RETRY_AFTER = 86_400.0


def make_client(settings: FetchSettings) -> httpx.AsyncClient:
    """The one client every feed fetch shares: timeouts, User-Agent, pool size. Redirects
    are not followed by httpx (fetch_feed follows them, checking each hop)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
        headers={"User-Agent": settings.user_agent, "Accept": FEED_ACCEPT},
        follow_redirects=False,
        limits=httpx.Limits(max_connections=settings.concurrency,
                            max_keepalive_connections=settings.concurrency),
    )


async def fetch_feed(client: httpx.AsyncClient, feed_id: str, url: str, *, etag: str | None,
                     last_modified: str | None, settings: FetchSettings,
                     base_dir: Path) -> FetchResult:
    """Fetch one feed; every problem is reported in the result, never raised."""
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
    current = httpx.URL(url)
    for _hop in range(settings.max_redirects + 1):
        if current.scheme not in HTTP_SCHEMES:
            raise FetchError(f"redirected to unsupported URL {current}")
        if not settings.allow_private_addresses:
            host = current.raw_host.decode("ascii")  # IDNA-encoded, as DNS wants it
            await ensure_public_host(host, current.port or _default_port(current))
        response = await client.send(client.build_request("GET", current, headers=headers),
                                     stream=True)
        try:
            if response.has_redirect_location:
                current = current.join(response.headers["Location"])
                continue
            return await _read_response(response, feed_id, url, settings,
                                        etag=etag, last_modified=last_modified)
        finally:
            await response.aclose()
    raise FetchError(f"more than {settings.max_redirects} redirects (last to {current})",
                     status=response.status_code)


async def _read_response(response: httpx.Response, feed_id: str, url: str,
                         settings: FetchSettings, *, etag: str | None,
                         last_modified: str | None) -> FetchResult:
    status = response.status_code
    final_url = str(response.url)
    new_etag = response.headers.get("ETag")
    new_last_modified = response.headers.get("Last-Modified")
    if status == 304:
        return FetchResult(feed_id, url, status=304, etag=new_etag or etag,
                           last_modified=new_last_modified or last_modified,
                           final_url=final_url)
    if not response.is_success:
        retry_after = None
        if status in RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"),
                                            datetime.now(UTC))
        # The standard phrase, not the server's: error texts stay stable across servers.
        reason = httpx.codes.get_reason_phrase(status)
        raise FetchError(f"HTTP {status} {reason}".rstrip(), status=status,
                         retry_after=retry_after)
    body = await _read_capped(response, settings.max_bytes)
    return FetchResult(feed_id, url, status=status, body=body, etag=new_etag,
                       last_modified=new_last_modified, final_url=final_url,
                       content_type=response.headers.get("Content-Type"))


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"body of {int(declared)} bytes is over the limit of {max_bytes}",
                         status=response.status_code)
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise FetchError(f"body is over the limit of {max_bytes} bytes",
                             status=response.status_code)
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


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


def _describe(exc: BaseException) -> str:
    """A one-line reason for a translated exception, naming its kind when it says little."""
    text = str(exc).strip()
    kind = type(exc).__name__
    return f"{kind}: {text}" if text else kind
