"""POSTing JSON to a receiver, shared by the webhook, Slack and Teams sinks.

The one place where httpx errors and HTTP statuses become sink errors:

    timeout, connection error, 408, 5xx ─▶ RecoverableSinkError
    429                                  ─▶ RecoverableSinkError with Retry-After
    3xx, other 4xx, bad URL              ─▶ PermanentSinkError (status and body excerpt kept)

Receiver URLs often carry a token in their path or query, so errors name the host only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from watcher import __version__
from watcher.errors import PermanentSinkError, RecoverableSinkError, SinkError

EXCERPT_BYTES = 2048
EXCERPT_CHARS = 200


class JsonPoster:
    """POSTs bodies to one secret URL; `label` names the sink kind in errors."""

    def __init__(self, label: str, url: str, client: httpx.AsyncClient,
                 timeout: float) -> None:
        self.label = label
        self._url = url
        self._client = client
        self._timeout = timeout
        self.host = _host(url)

    async def post(self, body: bytes, headers: Mapping[str, str]) -> None:
        headers = {"User-Agent": f"watcher/{__version__}", **headers,
                   "Content-Type": "application/json"}
        try:
            request = self._client.build_request("POST", self._url, content=body,
                                                 headers=headers, timeout=self._timeout)
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException:
            raise RecoverableSinkError(f"{self.label} {self.host}: timed out") from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise PermanentSinkError(f"{self.label} {self.host}: bad URL "
                                     f"({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise RecoverableSinkError(f"{self.label} {self.host}: {type(exc).__name__}: "
                                       f"{self._scrub(str(exc))}") from None
        try:
            excerpt = "" if response.is_success else await _excerpt(response)
        finally:
            await response.aclose()
        if not response.is_success:
            raise self._failure(response, excerpt)

    def _failure(self, response: httpx.Response, excerpt: str) -> SinkError:
        status = response.status_code
        message = f"{self.label} {self.host}: HTTP {status}"
        if excerpt:
            message += f": {self._scrub(excerpt)}"
        if status in (408, 429) or status >= 500:
            return RecoverableSinkError(message, retry_after=retry_after_seconds(
                response.headers.get("Retry-After"), datetime.now(UTC)))
        if 300 <= status < 400:
            return PermanentSinkError(message + " (redirect: configure the final URL)")
        return PermanentSinkError(message)

    def _scrub(self, text: str) -> str:
        """Text with the secret URL, or any part of its path, replaced by the host."""
        text = text.replace(self._url, self.host)
        try:
            url = httpx.URL(self._url)
        except httpx.InvalidURL:
            return text
        for secret in (url.raw_path.decode(errors="replace"), url.path,
                       url.query.decode(errors="replace")):
            if len(secret) > 1:
                text = text.replace(secret, "…")
        return text


def _host(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "<invalid URL>"
    host = parsed.host or "<no host>"
    return f"{host}:{parsed.port}" if parsed.port else host


async def _excerpt(response: httpx.Response) -> str:
    """The start of the body, on one line, without reading a huge body whole."""
    data = b""
    try:
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) >= EXCERPT_BYTES:
                break
    except httpx.HTTPError:
        pass  # the status alone says enough
    text = re.sub(r"\s+", " ", data.decode("utf-8", errors="replace")).strip()
    return text[:EXCERPT_CHARS]


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
