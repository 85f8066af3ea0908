"""The Microsoft Teams sink: an Adaptive Card posted to a Workflows ("Post to a channel when a
webhook request is received") URL.

TextBlocks render a Markdown subset, so feed text has its Markdown characters escaped with
backslashes: a headline cannot forge a link, bold text, a list or a mention (`<at>` needs
entities we never send, and `<` is escaped as well).

`templates: {title, text}` replace the first line (severity and rule) and the body (the
linked title, facts and excerpt) with TextBlocks whose `{{ values }}` are escaped the same
way; the matched terms, the ids and the "Open article" button stay. `digest_title` and
`digest_text` do the same for a digest or summary (batch_render.py).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import jinja2

from watcher.config.settings import Config, TeamsSink
from watcher.delivery.grouping import Batch
from watcher.delivery.sinks.batch_render import teams_batch_message
from watcher.delivery.sinks.http import JsonPoster
from watcher.delivery.sinks.render import describe_term, excerpt, format_time, one_line, safe_url
from watcher.delivery.sinks.teams_markup import (
    CARD_SCHEMA,
    CARD_VERSION,
    SEVERITY_COLOURS,
    escape_markdown,
    link_target,
)
from watcher.delivery.sinks.templates import CompiledChatTemplates, Verbatim, render_template
from watcher.errors import PermanentSinkError
from watcher.models import Alert


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _apply_templates(card: dict[str, Any], alert: Alert,
                     templates: CompiledChatTemplates) -> None:
    body = card["body"]
    link = safe_url(alert.article.url)
    context = {"link": Verbatim(link_target(link)) if link else None}
    if templates.title:
        title = one_line(render_template(templates.title, alert, **context))
        if not title:
            raise jinja2.TemplateError("the title template rendered nothing")
        body[0]["text"] = title
    if templates.text:
        text = render_template(templates.text, alert, **context).strip()
        if not text:
            raise jinja2.TemplateError("the text template rendered nothing")
        body[1:-2] = [_text(text)]


def adaptive_card(alert: Alert, templates: CompiledChatTemplates | None = None
                  ) -> dict[str, Any]:
    card = _default_card(alert)
    if templates is not None and (templates.title or templates.text):
        _apply_templates(card, alert, templates)
    return card


def _default_card(alert: Alert) -> dict[str, Any]:
    esc = escape_markdown
    article = alert.article
    link = safe_url(article.url)
    title = esc(one_line(article.title, 300))
    facts = [("Source", one_line(article.source) or "unknown"),
             ("Published", format_time(article.published))]
    if alert.places:
        facts.append(("Places", ", ".join(one_line(p.name) for p in alert.places)))
    if alert.groups:
        facts.append(("Groups", ", ".join(one_line(g.name) for g in alert.groups)))
    body: list[dict[str, Any]] = [
        _text(f"{alert.rule.severity.upper()} · {esc(one_line(alert.rule.title))}",
              weight="Bolder", color=SEVERITY_COLOURS[alert.rule.severity]),
        _text(f"[{title}]({link.replace(')', '%29')})" if link else title,
              size="Medium", weight="Bolder"),
        {"type": "FactSet", "facts": [{"title": k, "value": esc(v)} for k, v in facts]},
    ]
    shown = excerpt(alert)
    if shown is not None:
        text = "".join(f"**{esc(t.strip())}**" if hit and t.strip() else esc(t)
                       for t, hit in shown.parts)
        body.append(_text(("…" if shown.cut_start else "") + text
                          + ("…" if shown.cut_end else "")))
    body.append(_text("Matched: " + "; ".join(esc(describe_term(t)) for t in alert.matched),
                      isSubtle=True, size="Small"))
    body.append(_text(f"Rule {esc(one_line(alert.rule.id))} · alert {esc(alert.alert_id)}",
                      isSubtle=True, size="Small"))
    card: dict[str, Any] = {"$schema": CARD_SCHEMA, "type": "AdaptiveCard",
                            "version": CARD_VERSION, "msteams": {"width": "Full"},
                            "body": body}
    if link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open article", "url": link}]
    return card


def teams_message(alert: Alert, templates: CompiledChatTemplates | None = None
                  ) -> dict[str, Any]:
    """The JSON body posted to the Workflows URL: a message with one card attachment."""
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": adaptive_card(alert, templates)}]}


class TeamsPoster:
    def __init__(self, config: TeamsSink, client: httpx.AsyncClient,
                 root: Config | None = None) -> None:
        self.name = config.name
        self._poster = JsonPoster("teams", config.url.get_secret_value(), client,
                                  config.timeout)
        escape = escape_markdown
        self._templates = CompiledChatTemplates.load(config.templates, root, title_escape=escape,
                                                     text_escape=escape)

    async def send(self, alert: Alert) -> None:
        try:
            message = teams_message(alert, self._templates)
        except jinja2.TemplateError as exc:
            raise PermanentSinkError(f"teams {self.name}: template: {exc}") from None
        body = json.dumps(message, ensure_ascii=False).encode()
        await self._poster.post(body, {"X-Watcher-Alert-Id": alert.alert_id})

    async def send_batch(self, batch: Batch) -> None:
        try:
            message = teams_batch_message(batch, self._templates)
        except jinja2.TemplateError as exc:
            raise PermanentSinkError(f"teams {self.name}: template: {exc}") from None
        body = json.dumps(message, ensure_ascii=False).encode()
        await self._poster.post(body, {"X-Watcher-Batch-Id": batch.key})
