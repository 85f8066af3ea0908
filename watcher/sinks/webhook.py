"""The webhook sink: the alert JSON POSTed to a URL, with an idempotency key.

Receiver URLs often carry a token in their path or query, so errors name the host only.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from .. import __version__
from ..config import WebhookSink
from ..errors import PermanentSinkError, RecoverableSinkError, SinkError
from ..models import Alert

EXCERPT_BYTES = 2048
EXCERPT_CHARS = 200


class WebhookPoster:
    def __init__(self, config: WebhookSink, client: httpx.AsyncClient) -> None:
        self.name = config.name
        self._url = config.url.get_secret_value()
        self._headers = {k: v.get_secret_value() for k, v in config.headers.items()}
        self._timeout = config.timeout
        self._client = client
        self.host = _host(self._url)

    async def send(self, alert: Alert) -> None:
        headers = {
            "User-Agent": f"watcher/{__version__}",
            **self._headers,
            "Content-Type": "application/json",
            "Idempotency-Key": alert.alert_id,
            "X-Watcher-Alert-Id": alert.alert_id,
        }
        body = json.dumps(alert.to_dict(), ensure_ascii=False).encode()
        try:
            request = self._client.build_request("POST", self._url, content=body,
                                                 headers=headers, timeout=self._timeout)
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException:
            raise RecoverableSinkError(f"webhook {self.host}: timed out") from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise PermanentSinkError(f"webhook {self.host}: bad URL ({type(exc).__name__})"
                                     ) from None
        except httpx.TransportError as exc:
            raise RecoverableSinkError(
                f"webhook {self.host}: {type(exc).__name__}: {self._scrub(str(exc))}") from None
        try:
            excerpt = "" if response.is_success else await _excerpt(response)
        finally:
            await response.aclose()
        if not response.is_success:
            raise self._failure(response, excerpt)

    def _failure(self, response: httpx.Response, excerpt: str) -> SinkError:
        status = response.status_code
        message = f"webhook {self.host}: HTTP {status}"
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
        url = httpx.URL(self._url)
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
