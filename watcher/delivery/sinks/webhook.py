"""The generic webhook sink: the alert JSON of DESIGN.md POSTed to a URL.

Each delivery carries the alert id as `Idempotency-Key` (a repeat after a crash has the same
one) and, when a secret is configured, an HMAC-SHA256 signature (delivery/signing.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx

from watcher.config.settings import WebhookSink
from watcher.delivery.grouping import Batch
from watcher.delivery.signing import signature_headers
from watcher.delivery.sinks.batch_render import webhook_document
from watcher.delivery.sinks.http import JsonPoster, retry_after_seconds
from watcher.models import Alert


class WebhookPoster:
    def __init__(self, config: WebhookSink, client: httpx.AsyncClient,
                 clock: Callable[[], float] = time.time) -> None:
        self.name = config.name
        self._headers = {k: v.get_secret_value() for k, v in config.headers.items()}
        self._secret = config.secret.get_secret_value() if config.secret else None
        self._poster = JsonPoster("webhook", config.url.get_secret_value(), client,
                                  config.timeout)
        self._clock = clock
        self.host = self._poster.host

    async def send(self, alert: Alert) -> None:
        body = json.dumps(alert.to_dict(), ensure_ascii=False).encode()
        headers = {**self._headers, "Idempotency-Key": alert.alert_id,
                   "X-Watcher-Alert-Id": alert.alert_id}
        if self._secret:
            headers.update(signature_headers(self._secret, int(self._clock()), body))
        await self._poster.post(body, headers)

    async def send_batch(self, batch: Batch) -> None:
        """A digest or summary document; its Idempotency-Key is the same for the same alerts."""
        body = json.dumps(webhook_document(batch), ensure_ascii=False).encode()
        headers = {**self._headers, "Idempotency-Key": batch.key, "X-Watcher-Batch-Id": batch.key}
        if self._secret:
            headers.update(signature_headers(self._secret, int(self._clock()), body))
        await self._poster.post(body, headers)


__all__ = ["WebhookPoster", "retry_after_seconds"]
