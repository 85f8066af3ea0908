"""An alert rendered for people: plain text (console, email) and HTML (email).

Feed text is hostile. Plain text loses control characters, so a title cannot move a terminal's
cursor or forge extra lines; HTML is escaped, and only http(s) links become links.
"""

from __future__ import annotations

import html
import re
from datetime import datetime

from ..models import Alert, MatchedTerm

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACE = re.compile(r"\s+")
SUMMARY_LIMIT = 600


def one_line(text: str, limit: int | None = None) -> str:
    """Text safe on one line: control characters and line breaks become single spaces."""
    text = _SPACE.sub(" ", _CONTROL.sub(" ", text)).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


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


def _places(alert: Alert) -> str:
    return ", ".join(f"{one_line(p.name)} ({one_line(p.country)})" for p in alert.places)


def _groups(alert: Alert) -> str:
    return ", ".join(one_line(g.name) for g in alert.groups)


def _facts(alert: Alert) -> list[tuple[str, str]]:
    """(label, value) pairs shown under the headline, in the same order in text and HTML."""
    article = alert.article
    facts = [("Source", one_line(article.source) or "unknown"),
             ("Published", format_time(article.published)),
             ("URL", one_line(article.url or "") or "none")]
    if alert.places:
        facts.append(("Places", _places(alert)))
    if alert.groups:
        facts.append(("Groups", _groups(alert)))
    facts.append(("Rule", f"{one_line(alert.rule.id)} ({alert.rule.severity})"))
    facts.append(("Alert", alert.alert_id))
    return facts


def render_text(alert: Alert) -> str:
    """A readable multi-line block, ending in a newline."""
    lines = [f"[{alert.rule.severity.upper()}] {one_line(alert.rule.title)}",
             f"  {one_line(alert.article.title)}"]
    lines += [f"  {label + ':':<10} {value}" for label, value in _facts(alert)]
    lines.append("  Matched:")
    lines += [f"    - {describe_term(t)}" for t in alert.matched]
    summary = one_line(alert.article.summary, SUMMARY_LIMIT)
    if summary:
        lines += ["", f"  {summary}"]
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
                   for label, value in _facts(alert) if label != "URL")
    terms = "".join(f"<li>{esc(describe_term(t))}</li>" for t in alert.matched)
    summary = one_line(alert.article.summary, SUMMARY_LIMIT)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{esc(headline(alert))}</title></head><body>"
        f"<p style='color:{colour};font-weight:bold'>{esc(alert.rule.severity.upper())}: "
        f"{esc(one_line(alert.rule.title))}</p>"
        f"<h2>{title}</h2>"
        + (f"<p>{esc(summary)}</p>" if summary else "")
        + f"<table>{rows}</table><p>Matched:</p><ul>{terms}</ul></body></html>\n"
    )
