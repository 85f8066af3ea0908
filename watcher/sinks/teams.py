"""The Microsoft Teams sink: an Adaptive Card posted to a Workflows ("Post to a channel when a
webhook request is received") URL.

TextBlocks render a Markdown subset, so feed text has its Markdown characters escaped with
backslashes: a headline cannot forge a link, bold text, a list or a mention (`<at>` needs
entities we never send, and `<` is escaped as well).
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from ..config import TeamsSink
from ..grouping import Batch
from ..models import Alert
from .http import JsonPoster
from .render import describe_term, excerpt, format_time, one_line, safe_url

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
SEVERITY_COLOURS = {"low": "Default", "medium": "Warning", "high": "Attention",
                    "critical": "Attention"}
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~])")


def escape_markdown(text: str) -> str:
    """Feed text made literal in an Adaptive Card TextBlock."""
    return _MARKDOWN.sub(r"\\\1", text)


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def adaptive_card(alert: Alert) -> dict[str, Any]:
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


def teams_message(alert: Alert) -> dict[str, Any]:
    """The JSON body posted to the Workflows URL: a message with one card attachment."""
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": adaptive_card(alert)}]}


class TeamsPoster:
    def __init__(self, config: TeamsSink, client: httpx.AsyncClient) -> None:
        self.name = config.name
        self._poster = JsonPoster("teams", config.url.get_secret_value(), client,
                                  config.timeout)

    async def send(self, alert: Alert) -> None:
        body = json.dumps(teams_message(alert), ensure_ascii=False).encode()
        await self._poster.post(body, {"X-Watcher-Alert-Id": alert.alert_id})

    async def send_batch(self, batch: Batch) -> None:
        from .batch_render import teams_batch_message  # it builds on this module

        body = json.dumps(teams_batch_message(batch), ensure_ascii=False).encode()
        await self._poster.post(body, {"X-Watcher-Batch-Id": batch.key})
