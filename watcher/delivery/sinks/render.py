"""An alert rendered for people: plain text (console, email) and HTML (email); and the title
of a message that carries several (batch_render.py).

Feed text is hostile. Plain text loses control characters, so a title cannot move a terminal's
cursor or forge extra lines; HTML is escaped, and only http(s) links become links.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime

from watcher.delivery.grouping import Batch, Summary, summarise
from watcher.models import Alert, FieldName, MatchedTerm

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACE = re.compile(r"\s+")
SUMMARY_LIMIT = 600
EXCERPT_LIMIT = 280


def one_line(text: str, limit: int | None = None) -> str:
    """Text safe on one line: control characters and line breaks become single spaces."""
    text = _SPACE.sub(" ", _CONTROL.sub(" ", text)).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _flatten(text: str) -> str:
    """Like `one_line` but keeps edge spaces, for pieces of a longer line."""
    return _SPACE.sub(" ", _CONTROL.sub(" ", text))


@dataclass(frozen=True)
class Excerpt:
    """A short piece of one field of the article with the matched terms marked.

    `parts` are (text, highlighted) pairs on one line; `cut_start`/`cut_end` say whether
    text was left out before or after, so each format can show an ellipsis."""

    field: FieldName
    parts: tuple[tuple[str, bool], ...]
    cut_start: bool = False
    cut_end: bool = False

    def plain(self, mark: str = "*") -> str:
        body = "".join(f"{mark}{t}{mark}" if hit else t for t, hit in self.parts)
        return ("…" if self.cut_start else "") + body + ("…" if self.cut_end else "")


def _spans(text: str, terms: list[MatchedTerm]) -> list[tuple[int, int]]:
    """Matched spans that really lie in `text`, sorted, overlaps merged."""
    spans = sorted((t.start, t.end) for t in terms
                   if 0 <= t.start < t.end <= len(text) and text[t.start:t.end] == t.text)
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _window(text: str, spans: list[tuple[int, int]], limit: int) -> tuple[int, int]:
    """Where to cut `text` to at most about `limit` characters around the first match,
    at word boundaries."""
    if len(text) <= limit:
        return 0, len(text)
    first = spans[0][0] if spans else 0
    start = max(0, min(first - limit // 3, len(text) - limit))
    if start > 0:
        space = text.find(" ", start, first if spans else start + limit // 4)
        start = space + 1 if space >= 0 else start
    end = min(len(text), start + limit)
    if end < len(text):
        space = text.rfind(" ", max(start, end - limit // 4), end)
        end = space if space > 0 else end
    return start, end


def excerpt(alert: Alert, limit: int = EXCERPT_LIMIT) -> Excerpt | None:
    """The summary around its first matched term (the title when the summary is empty),
    with every matched term in the shown text highlighted."""
    article = alert.article
    field: FieldName = "summary" if article.summary.strip() else "title"
    text = article.summary if field == "summary" else article.title
    if not text.strip():
        return None
    spans = _spans(text, [t for t in alert.matched if t.field == field])
    start, end = _window(text, spans, limit)
    parts: list[tuple[str, bool]] = []
    at = start
    for s, e in spans:
        s, e = max(s, start), min(e, end)
        if s >= e:
            continue
        if s > at:
            parts.append((_flatten(text[at:s]), False))
        parts.append((_flatten(text[s:e]), True))
        at = e
    if at < end:
        parts.append((_flatten(text[at:end]), False))
    if parts:  # trim the outer edges only, so spaces between parts survive
        parts[0] = (parts[0][0].lstrip(), parts[0][1])
        parts[-1] = (parts[-1][0].rstrip(), parts[-1][1])
    return Excerpt(field, tuple(p for p in parts if p[0]), start > 0, end < len(text))


def safe_url(url: str | None) -> str | None:
    """The URL if it is an http(s) link, else None (no javascript:, data:, ...)."""
    if not url:
        return None
    url = one_line(url)
    return url if re.match(r"(?i)^https?://", url) else None


def format_time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip() if moment else "unknown"


def describe_term(term: MatchedTerm) -> str:
    """`Deir ez-Zor (place) «Deir Ezzor» in title`"""
    return f"{one_line(term.term)} ({term.kind}) «{one_line(term.text)}» in {term.field}"


def headline(alert: Alert) -> str:
    """`HIGH: rule title — article title`, on one line."""
    return (f"{alert.rule.severity.upper()}: {one_line(alert.rule.title)} — "
            f"{one_line(alert.article.title)}")


def batch_title(batch: Batch, summary: Summary | None = None) -> str:
    """`Digest: 3 alerts: 1 CRITICAL, 2 HIGH`, or `Held over the hourly cap: ...`."""
    summary = summary or summarise(batch.alerts)
    label = "Digest" if batch.kind == "digest" else "Held over the hourly cap"
    return f"{label}: {summary.headline()}"


def _places(alert: Alert) -> str:
    return ", ".join(f"{one_line(p.name)} ({one_line(p.country)})" for p in alert.places)


def _groups(alert: Alert) -> str:
    return ", ".join(one_line(g.name) for g in alert.groups)


def facts(alert: Alert) -> list[tuple[str, str]]:
    """(label, value) pairs shown under the headline, in the same order in text and HTML."""
    article = alert.article
    rows = [("Source", one_line(article.source) or "unknown"),
            ("Published", format_time(article.published)),
            ("URL", one_line(article.url or "") or "none")]
    if alert.places:
        rows.append(("Places", _places(alert)))
    if alert.groups:
        rows.append(("Groups", _groups(alert)))
    rows.append(("Rule", f"{one_line(alert.rule.id)} ({alert.rule.severity})"))
    rows.append(("Alert", alert.alert_id))
    return rows


def render_text(alert: Alert) -> str:
    """A readable multi-line block, ending in a newline."""
    lines = [f"[{alert.rule.severity.upper()}] {one_line(alert.rule.title)}",
             f"  {one_line(alert.article.title)}"]
    lines += [f"  {label + ':':<10} {value}" for label, value in facts(alert)]
    lines.append("  Matched:")
    lines += [f"    - {describe_term(t)}" for t in alert.matched]
    shown = excerpt(alert, SUMMARY_LIMIT)
    if shown is not None and shown.field == "summary":
        lines += ["", f"  {shown.plain()}"]
    return "\n".join(lines) + "\n"


_SEVERITY_COLOURS = {"low": "#5b7083", "medium": "#b7791f", "high": "#c05621",
                     "critical": "#c53030"}


def render_html(alert: Alert) -> str:
    """A small self-contained HTML document; every piece of feed text is escaped."""
    esc = html.escape
    colour = _SEVERITY_COLOURS[alert.rule.severity]
    title = esc(one_line(alert.article.title))
    link = safe_url(alert.article.url)
    if link:
        title = f'<a href="{esc(link)}">{title}</a>'
    rows = "".join(f"<tr><th align='left'>{esc(label)}</th><td>{esc(value)}</td></tr>"
                   for label, value in facts(alert) if label != "URL")
    terms = "".join(f"<li>{esc(describe_term(t))}</li>" for t in alert.matched)
    shown = excerpt(alert, SUMMARY_LIMIT)
    summary = html_excerpt(shown) if shown is not None and shown.field == "summary" else ""
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{esc(headline(alert))}</title></head><body>"
        f"<p style='color:{colour};font-weight:bold'>{esc(alert.rule.severity.upper())}: "
        f"{esc(one_line(alert.rule.title))}</p>"
        f"<h2>{title}</h2>"
        + (f"<p>{summary}</p>" if summary else "")
        + f"<table>{rows}</table><p>Matched:</p><ul>{terms}</ul></body></html>\n"
    )


def html_excerpt(shown: Excerpt) -> str:
    """The excerpt as escaped HTML with `<mark>` around matched terms."""
    body = "".join(f"<mark>{html.escape(t)}</mark>" if hit else html.escape(t)
                   for t, hit in shown.parts)
    return ("…" if shown.cut_start else "") + body + ("…" if shown.cut_end else "")
