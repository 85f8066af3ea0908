"""Several alerts in one message (grouping.py): a digest shows each alert, a summary of alerts
held over a sink's cap shows counts by severity and rule, and the titles.

    webhook  {"schema": "watcher.digest/v1", "alerts": [alert JSON, ...]}
             {"schema": "watcher.summary/v1", "by_severity", "by_rule", "alerts": [short]}
    slack    Block Kit: a header with the counts, then a section per alert (or per rule)
    teams    an Adaptive Card with the same content
    email    plain text and HTML, the counts in the subject

Under each alert of a digest, the other outlets that reported its story by the time the
message went out (story_digest.py): "Also reported by N outlets", linked; the webhook
document carries them in `stories`.

Feed text is escaped exactly as in the one-alert formats. A chat sink's `digest_title` and
`digest_text` templates replace the title and everything under it (email: batch_mail.py).
"""

from __future__ import annotations

import html
from typing import Any

import jinja2

from watcher.delivery.grouping import Batch, Summary, summarise
from watcher.delivery.sinks import slack_markup, teams_markup
from watcher.delivery.sinks.render import (
    batch_title,
    format_time,
    one_line,
    render_html,
    render_text,
    safe_url,
)
from watcher.delivery.sinks.slack_markup import SEVERITY_ICONS, escape_mrkdwn
from watcher.delivery.sinks.teams_markup import (
    CARD_SCHEMA,
    CARD_VERSION,
    SEVERITY_COLOURS,
    escape_markdown,
)
from watcher.delivery.sinks.templates import (
    CompiledChatTemplates,
    Link,
    Verbatim,
    render_batch_template,
)
from watcher.delivery.story_digest import Report, also_heading, also_reported, listed
from watcher.models import Alert

TEXT_LIMIT = 2900  # under Slack's 3000 for a section's text
MAX_BLOCKS = 50  # Slack's limit for one message
MAX_TITLES = 40  # a summary lists this many titles in chat formats, then "and N more"


def _short(alert: Alert) -> dict[str, Any]:
    return {"alert_id": alert.alert_id, "rule": alert.rule.id, "severity": alert.rule.severity,
            "title": alert.article.title, "url": alert.article.url,
            "source": alert.article.source}


def webhook_document(batch: Batch) -> dict[str, Any]:
    """The JSON body of a digest or summary POST."""
    summary = summarise(batch.alerts)
    doc: dict[str, Any] = {"schema": batch.schema, "batch_id": batch.key, "sink": batch.sink,
                           "count": summary.total, "by_severity": dict(summary.by_severity)}
    if batch.kind == "digest":
        doc["alerts"] = [a.to_dict() for a in batch.alerts]
        doc["stories"] = [{"id": sid, "articles": now.story.articles,
                           "sources": list(now.story.sources),
                           "reports": [{"source": r.source, "title": r.title,
                                        "url": safe_url(r.url)}
                                       for r in now.reports]}
                          for sid, now in sorted(batch.stories.items())]
    else:
        doc["by_rule"] = [{"id": r.rule_id, "title": r.title, "severity": r.severity,
                           "count": r.count} for r in summary.by_rule]
        doc["alerts"] = [_short(a) for a in batch.alerts]
    return doc


def _rule_lines(summary: Summary) -> list[str]:
    return [f"{r.count} × {r.severity.upper()} {one_line(r.title)} ({one_line(r.rule_id)})"
            for r in summary.by_rule]


def _sections(lines: list[str]) -> list[str]:
    """Lines packed into as few texts under TEXT_LIMIT as possible."""
    texts: list[str] = []
    for line in lines:
        line = line[:TEXT_LIMIT]
        if texts and len(texts[-1]) + 1 + len(line) <= TEXT_LIMIT:
            texts[-1] += "\n" + line
        else:
            texts.append(line)
    return texts


def _listed(alerts: tuple[Alert, ...]) -> tuple[tuple[Alert, ...], int]:
    return alerts[:MAX_TITLES], max(0, len(alerts) - MAX_TITLES)


def _slack_link(alert: Alert) -> str:
    return _slack_anchor(escape_mrkdwn(one_line(alert.article.title, 300)), alert.article.url)


def _slack_anchor(label: str, url: str | None) -> str:
    """`label` (escaped) linked to `url` when it is a safe one."""
    link = safe_url(url)
    return f"<{slack_markup.link_target(link)}|{label}>" if link else label


def _slack_also(alert: Alert, batch: Batch) -> str:
    reports = also_reported(alert, batch.stories)
    if not reports:
        return ""
    shown, more = listed(reports)
    links = ", ".join(_slack_report(r) for r in shown) + (f" and {more} more" if more else "")
    return f"\n_{also_heading(reports)}:_ {links}"


def _slack_report(report: Report) -> str:
    return _slack_anchor(escape_mrkdwn(one_line(report.source, 100) or "unknown"), report.url)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def _slack_link_value(url: str) -> Verbatim:
    return Verbatim(slack_markup.link_target(url))


def _teams_link_value(url: str) -> Verbatim:
    return Verbatim(teams_markup.link_target(url))


def _rendered(template: jinja2.Template, batch: Batch, part: str,
              link: Link | None = None) -> str:
    """A digest template's output, stripped; rendering nothing is an error, not a blank
    message."""
    text = render_batch_template(template, batch, link).strip()
    if not text:
        raise jinja2.TemplateError(f"the {part} template rendered nothing")
    return text


def slack_batch_message(batch: Batch, templates: CompiledChatTemplates | None = None
                        ) -> dict[str, Any]:
    """The JSON body of a digest or summary for a Slack incoming webhook."""
    message = _default_slack_message(batch)
    if templates is not None and templates.digest_title:
        title = one_line(_rendered(templates.digest_title, batch, "digest_title"))
        message["blocks"][0]["text"]["text"] = one_line(title, 150)
        message["text"] = escape_mrkdwn(title)
    if templates is not None and templates.digest_text:
        text = _rendered(templates.digest_text, batch, "digest_text", _slack_link_value)
        sections = _sections(text.splitlines())
        if len(sections) > MAX_BLOCKS - 1:
            sections = [*sections[:MAX_BLOCKS - 2], "…(cut at Slack's limit of 50 blocks)"]
        message["blocks"][1:] = [_section(t) for t in sections]
    return message


def _default_slack_message(batch: Batch) -> dict[str, Any]:
    esc = escape_mrkdwn
    section = _section
    summary = summarise(batch.alerts)
    title = batch_title(batch, summary)
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {
        "type": "plain_text", "text": one_line(title, 150), "emoji": True}}]

    if batch.kind == "digest":
        for a in batch.alerts:
            where = ", ".join(one_line(p.name) for p in a.places)
            blocks.append(section(
                f"{SEVERITY_ICONS[a.rule.severity]} *{esc(one_line(a.rule.title, 200))}*\n"
                f"{_slack_link(a)}\n{esc(one_line(a.article.source) or 'unknown')} · "
                f"{esc(format_time(a.article.published))}"
                + (f" · {esc(where)}" if where else "") + _slack_also(a, batch)))
        more = 0
    else:
        blocks += [section(esc(t)) for t in _sections(_rule_lines(summary))]
        shown, more = _listed(batch.alerts)
        blocks += [section(t) for t in _sections(
            [f"• {SEVERITY_ICONS[a.rule.severity]} {_slack_link(a)}" for a in shown])]
    if more:
        blocks.append(section(f"…and {more} more (`watcher alerts`)"))
    return {"text": esc(one_line(title)), "blocks": blocks, "unfurl_links": False,
            "unfurl_media": False}


def _teams_link(alert: Alert) -> str:
    return _teams_anchor(escape_markdown(one_line(alert.article.title, 300)), alert.article.url)


def _teams_anchor(label: str, url: str | None) -> str:
    """`label` (escaped) linked to `url` when it is a safe one."""
    link = safe_url(url)
    return f"[{label}]({link.replace(')', '%29')})" if link else label


def _teams_also(alert: Alert, batch: Batch) -> str:
    reports = also_reported(alert, batch.stories)
    if not reports:
        return ""
    shown, more = listed(reports)
    links = [_teams_anchor(escape_markdown(one_line(r.source, 100) or "unknown"), r.url)
             for r in shown]
    return (f"{also_heading(reports)}: " + ", ".join(links)
            + (f" and {more} more" if more else ""))


def teams_batch_message(batch: Batch, templates: CompiledChatTemplates | None = None
                        ) -> dict[str, Any]:
    """The JSON body of a digest or summary for a Teams Workflows webhook."""
    card = _default_card(batch)
    link = _teams_link_value
    if templates is not None and templates.digest_title:
        card["body"][0]["text"] = one_line(_rendered(templates.digest_title, batch,
                                                     "digest_title", link))
    if templates is not None and templates.digest_text:
        card["body"][1:] = [{"type": "TextBlock", "wrap": True, "text": _rendered(
            templates.digest_text, batch, "digest_text", link)}]
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": card}]}


def _default_card(batch: Batch) -> dict[str, Any]:
    esc = escape_markdown
    summary = summarise(batch.alerts)

    def text(value: str, **style: Any) -> dict[str, Any]:
        return {"type": "TextBlock", "text": value, "wrap": True, **style}

    body: list[dict[str, Any]] = [text(esc(batch_title(batch, summary)), weight="Bolder",
                                       size="Medium")]
    if batch.kind == "digest":
        for a in batch.alerts:
            body.append(text(f"{a.rule.severity.upper()} · {esc(one_line(a.rule.title))}",
                             weight="Bolder", color=SEVERITY_COLOURS[a.rule.severity],
                             separator=True))
            body.append(text(_teams_link(a)))
            body.append(text(f"{esc(one_line(a.article.source) or 'unknown')} · "
                             f"{esc(format_time(a.article.published))}", isSubtle=True,
                             size="Small"))
            if also := _teams_also(a, batch):
                body.append(text(also, size="Small"))
    else:
        body += [text(esc(line)) for line in _rule_lines(summary)]
        shown, more = _listed(batch.alerts)
        body += [text(f"{a.rule.severity.upper()} · {_teams_link(a)}", separator=i == 0)
                 for i, a in enumerate(shown)]
        if more:
            body.append(text(f"…and {more} more (watcher alerts)", isSubtle=True))
    return {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": CARD_VERSION,
            "msteams": {"width": "Full"}, "body": body}


def batch_text(batch: Batch) -> str:
    """The plain-text part of a digest or summary email."""
    summary = summarise(batch.alerts)
    lines = [batch_title(batch, summary), ""]
    if batch.kind == "digest":
        return "\n".join(lines) + "\n".join(render_text(a) + _text_also(a, batch)
                                             for a in batch.alerts)
    lines += [f"  {line}" for line in _rule_lines(summary)] + ["", "Held alerts:"]
    lines += [f"  - [{a.rule.severity.upper()}] {one_line(a.article.title)}"
              + (f" <{link}>" if (link := safe_url(a.article.url)) else "")
              for a in batch.alerts]
    return "\n".join(lines) + "\n"


def _text_also(alert: Alert, batch: Batch) -> str:
    reports = also_reported(alert, batch.stories)
    if not reports:
        return ""
    shown, more = listed(reports)
    lines = [f"  {also_heading(reports)}:"]
    lines += [f"    - {one_line(r.source) or 'unknown'}: {one_line(r.title, 200)}"
              + (f" <{link}>" if (link := safe_url(r.url)) else "") for r in shown]
    if more:
        story = alert.story.id if alert.story else ""
        lines.append(f"    …and {more} more (watcher alerts --story {story})")
    return "\n".join(lines) + "\n"


def _html_also(alert: Alert, batch: Batch) -> str:
    esc = html.escape
    reports = also_reported(alert, batch.stories)
    if not reports:
        return ""
    shown, more = listed(reports)
    items = []
    for r in shown:
        label = esc(one_line(r.source) or "unknown")
        link = safe_url(r.url)
        label = f'<a href="{esc(link)}">{label}</a>' if link else label
        items.append(f"<li>{label}: {esc(one_line(r.title, 200))}</li>")
    if more:
        items.append(f"<li>…and {more} more</li>")
    return f"<p>{esc(also_heading(reports))}:</p><ul>{''.join(items)}</ul>"


def batch_html(batch: Batch) -> str:
    """The HTML part of a digest or summary email; all feed text escaped."""
    esc = html.escape
    summary = summarise(batch.alerts)
    title = esc(batch_title(batch, summary))
    if batch.kind == "digest":
        parts = [_body(render_html(a)) + _html_also(a, batch) for a in batch.alerts]
        inner = "<hr>".join(parts)
    else:
        rules = "".join(f"<li>{esc(line)}</li>" for line in _rule_lines(summary))
        items = []
        for a in batch.alerts:
            label = esc(one_line(a.article.title))
            link = safe_url(a.article.url)
            label = f'<a href="{esc(link)}">{label}</a>' if link else label
            items.append(f"<li>{esc(a.rule.severity.upper())}: {label}</li>")
        inner = f"<ul>{rules}</ul><p>Held alerts:</p><ul>{''.join(items)}</ul>"
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body><h1>{title}</h1>{inner}</body></html>\n")


def _body(document: str) -> str:
    """The inside of one alert's <body>, to place several in one document."""
    start = document.find("<body>") + len("<body>")
    return document[start:document.rfind("</body>")]
