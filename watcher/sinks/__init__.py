"""Where alerts go. Each sink sends one alert or raises a `SinkError` saying whether a retry
can help; it never swallows a failure. The delivery worker decides about retries.

    console  readable text or JSON lines on stdout
    jsonl    one JSON line per alert appended to a file, fsynced
    webhook  the alert JSON POSTed with an Idempotency-Key
    email    plain text + HTML over SMTP
"""

from __future__ import annotations

from typing import Protocol

import httpx

from ..config import Config, ConsoleSink, EmailSink, JsonlSink, WebhookSink
from ..models import Alert
from .console import ConsolePrinter
from .email import EmailSender
from .jsonl import JsonlWriter
from .webhook import WebhookPoster


class Sink(Protocol):
    name: str

    async def send(self, alert: Alert) -> None:
        """Deliver one alert; raise RecoverableSinkError or PermanentSinkError on failure."""
        ...


def build_sinks(config: Config, client: httpx.AsyncClient) -> dict[str, Sink]:
    """Every configured sink, by name. `client` is shared by all webhooks."""
    sinks: dict[str, Sink] = {}
    for cfg in config.sinks:
        sink: Sink
        if isinstance(cfg, ConsoleSink):
            sink = ConsolePrinter(cfg)
        elif isinstance(cfg, JsonlSink):
            sink = JsonlWriter(cfg, config)
        elif isinstance(cfg, WebhookSink):
            sink = WebhookPoster(cfg, client)
        elif isinstance(cfg, EmailSink):
            sink = EmailSender(cfg)
        sinks[cfg.name] = sink
    return sinks


__all__ = ["ConsolePrinter", "EmailSender", "JsonlWriter", "Sink", "WebhookPoster",
           "build_sinks"]
