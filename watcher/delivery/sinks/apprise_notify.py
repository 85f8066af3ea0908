"""The Apprise sink: one alert to each of a list of Apprise URLs (Telegram, Signal, Matrix,
Mattermost, ntfy, PagerDuty, SMS gateways, ... or plain `json://` and `form://`).

Apprise does its own HTTP (requests, in its worker threads), not through the feed client's
address guard: delivery URLs are written by the operator and trusted, unlike feed URLs and
hub URLs, which come from outside.

Each URL is its own Apprise object, so a failure says which service failed and why (the
`AppriseResult` logs of that call), and a retry goes only to the URLs that have not yet taken
the alert (remembered per alert in this process; after a restart, all of them again:
at-least-once, like every sink). Apprise reports success or failure but not whether a failure
is lasting, so every failure is retried with backoff until the outbox gives up and the dead
letter carries Apprise's reason. Tokens in the URLs are scrubbed from every reason.

`templates: {title, text, digest_title, digest_text}` replace the headline and body; with
`format: markdown` their `{{ values }}` (and the default body's feed text) are escaped so feed
text cannot format or link.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING

import jinja2

from watcher.config.masked import MASK, service_url_tokens
from watcher.config.settings import AppriseSink, Config
from watcher.delivery.grouping import Batch
from watcher.delivery.sinks.batch_render import batch_text
from watcher.delivery.sinks.render import batch_title, headline, one_line, render_text, safe_url
from watcher.delivery.sinks.teams_markup import escape_markdown
from watcher.delivery.sinks.templates import (
    CompiledChatTemplates,
    render_batch_template,
    render_template,
)
from watcher.errors import PermanentSinkError, RecoverableSinkError, WatcherError
from watcher.models import Alert

if TYPE_CHECKING:
    from apprise import AppriseResult

REMEMBERED_SENDS = 10_000  # alerts whose partly successful sends are remembered for retries
REASON_CHARS = 300
# Apprise's NotifyType values, by severity.
NOTIFY_TYPES = {"low": "info", "medium": "warning", "high": "failure", "critical": "failure"}


def _plain(text: str) -> str:
    return text


class AppriseTarget:
    """One Apprise URL, ready to notify; `label` is its privacy form (no tokens)."""

    def __init__(self, url: str, timeout: float) -> None:
        # Imported here: it takes half a second, and only configs with this sink need it.
        from apprise import Apprise, AppriseAsset

        # No custom plugin folders, no state on disk: only Apprise's own services.
        asset = AppriseAsset(plugin_paths=[], storage_mode="memory", secure_logging=True)
        self._apprise = Apprise(asset=asset)
        service = Apprise.instantiate(url, asset=asset, suppress_exceptions=True)
        if service is None:
            raise WatcherError("Apprise cannot use a configured URL "
                               f"(scheme {url.partition('://')[0]!r})")
        self._apprise.add(service)
        self.label = re.sub(r"/?\?.*$", "", service.url(privacy=True))
        self._secrets = sorted(set(service_url_tokens(url)) | {url}, key=len, reverse=True)
        self._timeout = timeout

    async def notify(self, title: str, body: str, body_format: str, notify_type: str
                     ) -> str | None:
        """None when the service took it, else why not (tokens scrubbed)."""
        try:
            result = await self._apprise.async_notify(
                body=body, title=title, body_format=body_format, notify_type=notify_type,
                timeout=self._timeout)
        except Exception as exc:  # Apprise's own errors are its plugins' business
            return self.scrub(f"{type(exc).__name__}: {exc}")
        if result:
            return None
        return self.scrub(_reason(result))

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return one_line(text, REASON_CHARS)


def _reason(result: AppriseResult) -> str:
    messages = [entry.message for entry in result.logs()
                if entry.level in ("WARNING", "ERROR", "CRITICAL")]
    if not messages:
        return f"not delivered ({result.status.name.lower()})"
    return "; ".join(dict.fromkeys(messages))  # the same line once, in order


class AppriseNotifier:
    def __init__(self, config: AppriseSink, root: Config | None = None) -> None:
        self.name = config.name
        self._format = config.format  # Apprise's NotifyFormat values: "text", "markdown"
        self._escape = escape_markdown if config.format == "markdown" else _plain
        self._targets = [AppriseTarget(url.get_secret_value(), config.timeout)
                         for url in config.urls]
        self._templates = CompiledChatTemplates.load(config.templates, root,
                                                     title_escape=None, text_escape=self._escape)
        self._delivered: OrderedDict[str, set[int]] = OrderedDict()

    async def send(self, alert: Alert) -> None:
        try:
            title, body = self._alert_message(alert)
        except jinja2.TemplateError as exc:
            raise PermanentSinkError(f"apprise {self.name}: template: {exc}") from None
        await self._notify(alert.alert_id, title, body, NOTIFY_TYPES[alert.rule.severity])

    async def send_batch(self, batch: Batch) -> None:
        try:
            title, body = self._batch_message(batch)
        except jinja2.TemplateError as exc:
            raise PermanentSinkError(f"apprise {self.name}: template: {exc}") from None
        worst = max((a.rule.severity for a in batch.alerts), key=list(NOTIFY_TYPES).index)
        await self._notify(batch.key, title, body, NOTIFY_TYPES[worst])

    def _alert_message(self, alert: Alert) -> tuple[str, str]:
        templates = self._templates
        title = (one_line(render_template(templates.title, alert)) if templates.title
                 else headline(alert))
        if templates.text:
            body = render_template(templates.text, alert).strip()
        else:
            link = safe_url(alert.article.url)
            body = self._escape(render_text(alert)) + (f"\n{link}\n" if link else "")
        if not title or not body:
            raise jinja2.TemplateError("a template rendered nothing")
        return title, body

    def _batch_message(self, batch: Batch) -> tuple[str, str]:
        templates = self._templates
        title = (one_line(render_batch_template(templates.digest_title, batch))
                 if templates.digest_title else batch_title(batch))
        body = (render_batch_template(templates.digest_text, batch).strip()
                if templates.digest_text else self._escape(batch_text(batch)))
        if not title or not body:
            raise jinja2.TemplateError("a template rendered nothing")
        return title, body

    async def _notify(self, key: str, title: str, body: str, notify_type: str) -> None:
        done = self._delivered.get(key, set())
        pending = [(i, t) for i, t in enumerate(self._targets) if i not in done]
        reasons = await asyncio.gather(*(t.notify(title, body, self._format, notify_type)
                                         for _, t in pending))
        failures = [(target, reason) for (_, target), reason in zip(pending, reasons, strict=True)
                    if reason is not None]
        done |= {i for (i, _), reason in zip(pending, reasons, strict=True) if reason is None}
        if not failures:
            self._delivered.pop(key, None)
            return
        self._remember(key, done)
        raise RecoverableSinkError(f"apprise {self.name}: " + _describe(failures))

    def _remember(self, key: str, done: set[int]) -> None:
        self._delivered[key] = done
        self._delivered.move_to_end(key)
        while len(self._delivered) > REMEMBERED_SENDS:
            self._delivered.popitem(last=False)


def _describe(failures: Iterable[tuple[AppriseTarget, str]]) -> str:
    return "; ".join(f"{target.label}: {reason}" for target, reason in failures)


__all__ = ["AppriseNotifier", "AppriseTarget"]
