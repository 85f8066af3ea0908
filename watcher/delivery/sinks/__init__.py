"""Where alerts go. Each sink sends one alert or raises a `SinkError` saying whether a retry
can help; it never swallows a failure. The delivery worker decides about retries.

    console  readable text or JSON lines on stdout
    jsonl    one JSON line per alert appended to a file, fsynced
    webhook  the alert JSON POSTed with an Idempotency-Key and an optional HMAC signature
    slack    a Block Kit message to an incoming webhook
    teams    an Adaptive Card to a Teams Workflows webhook
    email    plain text + HTML over SMTP (STARTTLS or TLS, verified)
    digest   the alerts of a period as one message through a webhook, slack, teams or email
    apprise  any of Apprise's 100+ services (Telegram, Matrix, Mattermost, ntfy, ...) by URL

Webhook, slack, teams, email, apprise and digest sinks also `send_batch` several alerts as one
message (delivery/grouping.py).
"""

from __future__ import annotations

from typing import Protocol

import httpx

from watcher.config.settings import (
    AppriseSink,
    Config,
    ConsoleSink,
    DigestSink,
    EmailSink,
    JsonlSink,
    SlackSink,
    TeamsSink,
    WebhookSink,
)
from watcher.delivery.sinks.apprise_notify import AppriseNotifier
from watcher.delivery.sinks.console import ConsolePrinter
from watcher.delivery.sinks.digest import BatchSender, DigestSender
from watcher.delivery.sinks.email import EmailSender
from watcher.delivery.sinks.jsonl import JsonlWriter
from watcher.delivery.sinks.slack import SlackPoster
from watcher.delivery.sinks.teams import TeamsPoster
from watcher.delivery.sinks.webhook import WebhookPoster
from watcher.models import Alert


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
        elif isinstance(cfg, SlackSink):
            sink = SlackPoster(cfg, client, config)
        elif isinstance(cfg, TeamsSink):
            sink = TeamsPoster(cfg, client, config)
        elif isinstance(cfg, EmailSink):
            sink = EmailSender(cfg, config)
        elif isinstance(cfg, DigestSink):
            sink = DigestSender(cfg, _batch_sender(cfg, config, client))
        elif isinstance(cfg, AppriseSink):
            sink = AppriseNotifier(cfg, config)
        sinks[cfg.name] = sink
    return sinks


def _batch_sender(cfg: DigestSink, config: Config, client: httpx.AsyncClient) -> BatchSender:
    target = cfg.target
    if isinstance(target, WebhookSink):
        return WebhookPoster(target, client)
    if isinstance(target, SlackSink):
        return SlackPoster(target, client, config)
    if isinstance(target, TeamsSink):
        return TeamsPoster(target, client, config)
    return EmailSender(target, config)


__all__ = ["AppriseNotifier", "BatchSender", "ConsolePrinter", "DigestSender", "EmailSender",
           "JsonlWriter", "Sink", "SlackPoster", "TeamsPoster", "WebhookPoster", "build_sinks"]
