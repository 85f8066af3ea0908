"""The Slack sink: an incoming-webhook message in Block Kit.

Feed text is escaped for mrkdwn (`&`, `<`, `>` become entities, so no `<!channel>`,
`<@U…>` or forged links), and every mrkdwn text object is `verbatim`, so Slack does not turn
a bare `@here` or `#channel` in a headline into a mention or a link. Slack has no escape for
its formatting characters (a backslash shows as itself), so in feed text they become
look-alikes that Slack never reads as markup (`*` ∗, `_` ˍ, `~` ∼, a backtick ˋ), and a
quote mark at the start of a line gets an invisible soft hyphen in front. Zero-width spaces
are no help: Slack takes them as word boundaries, so they can start formatting rather than
stop it (jsx-slack inserts them on purpose to force formatting).

`templates: {title, text}` replace the header (plain text, which Slack never parses) and the
body (the linked title, fields and excerpt) with one mrkdwn section whose `{{ values }}` are
escaped like the default's; the context line with the matched terms and ids stays.
`digest_title` and `digest_text` do the same for a digest or summary (batch_render.py).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import jinja2

from watcher.config.settings import Config, SlackSink
from watcher.delivery.grouping import Batch
from watcher.delivery.sinks.batch_render import slack_batch_message
from watcher.delivery.sinks.http import JsonPoster
from watcher.delivery.sinks.render import (
    describe_term,
    excerpt,
    format_time,
    headline,
    one_line,
    safe_url,
)
from watcher.delivery.sinks.slack_markup import (
    SEVERITY_ICONS,
    escape_code,
    escape_mrkdwn,
    link_target,
)
from watcher.delivery.sinks.templates import CompiledChatTemplates, Verbatim, render_template
from watcher.errors import PermanentSinkError
from watcher.models import Alert

HEADER_LIMIT = 150  # Slack's limit for header blocks
TEXT_LIMIT = 2900  # under Slack's 3000 for a section's text
FIELD_LIMIT = 1900  # under Slack's 2000 for a field
def _mrkdwn(text: str, limit: int = TEXT_LIMIT) -> dict[str, Any]:
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def slack_message(alert: Alert, templates: CompiledChatTemplates | None = None
                  ) -> dict[str, Any]:
    """The JSON body posted to the incoming webhook."""
    message = _default_message(alert)
    if templates is not None and (templates.title or templates.text):
        _apply_templates(message, alert, templates)
    return message


def _apply_templates(message: dict[str, Any], alert: Alert,
                     templates: CompiledChatTemplates) -> None:
    blocks = message["blocks"]
    link = safe_url(alert.article.url)
    link_value = Verbatim(link_target(link)) if link else None
    if templates.title:
        title = one_line(render_template(templates.title, alert, link=link))
        if not title:
            raise jinja2.TemplateError("the title template rendered nothing")
        blocks[0]["text"]["text"] = one_line(title, HEADER_LIMIT)
        message["text"] = escape_mrkdwn(title)
    if templates.text:
        text = render_template(templates.text, alert, link=link_value).strip()
        if not text:
            raise jinja2.TemplateError("the text template rendered nothing")
        blocks[1:-1] = [{"type": "section", "text": _mrkdwn(text)}]


def _default_message(alert: Alert) -> dict[str, Any]:
    article = alert.article
    esc = escape_mrkdwn
    title = esc(one_line(article.title, 300))
    link = safe_url(article.url)
    title_line = f"*<{link_target(link)}|{title}>*" if link else f"*{title}*"
    fields = [f"*Source*\n{esc(one_line(article.source) or 'unknown')}",
              f"*Published*\n{esc(format_time(article.published))}"]
    if alert.places:
        fields.append("*Places*\n" + esc(", ".join(one_line(p.name) for p in alert.places)))
    if alert.groups:
        fields.append("*Groups*\n" + esc(", ".join(one_line(g.name) for g in alert.groups)))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {
            "type": "plain_text", "emoji": True,
            "text": one_line(f"{alert.rule.severity.upper()} · {alert.rule.title}",
                             HEADER_LIMIT)}},
        {"type": "section", "text": _mrkdwn(
            f"{SEVERITY_ICONS[alert.rule.severity]} {title_line}")},
        {"type": "section", "fields": [_mrkdwn(f, FIELD_LIMIT) for f in fields]},
    ]
    shown = excerpt(alert)
    if shown is not None:
        body = "".join(f"*{esc(t.strip())}*" if hit and t.strip() else esc(t)
                       for t, hit in shown.parts)
        body = ("…" if shown.cut_start else "") + body + ("…" if shown.cut_end else "")
        blocks.append({"type": "section", "text": _mrkdwn(f">{body}")})
    terms = "; ".join(esc(describe_term(t)) for t in alert.matched)
    blocks.append({"type": "context", "elements": [_mrkdwn(
        f"Matched: {terms}\nRule `{escape_code(one_line(alert.rule.id))}` · alert "
        f"`{escape_code(one_line(alert.alert_id))}`")]})
    return {"text": esc(headline(alert)), "blocks": blocks, "unfurl_links": False,
            "unfurl_media": False}


class SlackPoster:
    def __init__(self, config: SlackSink, client: httpx.AsyncClient,
                 root: Config | None = None) -> None:
        self.name = config.name
        self._poster = JsonPoster("slack", config.url.get_secret_value(), client,
                                  config.timeout)
        self._templates = CompiledChatTemplates.load(config.templates, root, title_escape=None,
                                                     text_escape=escape_mrkdwn)

    async def send(self, alert: Alert) -> None:
        try:
            message = slack_message(alert, self._templates)
        except jinja2.TemplateError as exc:
            raise PermanentSinkError(f"slack {self.name}: template: {exc}") from None
        body = json.dumps(message, ensure_ascii=False).encode()
        await self._poster.post(body, {"X-Watcher-Alert-Id": alert.alert_id})

    async def send_batch(self, batch: Batch) -> None:
        try:
            message = slack_batch_message(batch, self._templates)
        except jinja2.TemplateError as exc:
            raise PermanentSinkError(f"slack {self.name}: template: {exc}") from None
        body = json.dumps(message, ensure_ascii=False).encode()
        await self._poster.post(body, {"X-Watcher-Batch-Id": batch.key})
