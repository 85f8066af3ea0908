"""Message templates that a config can put in place of the default renderings (Jinja2).

Templates run in Jinja2's sandbox with undefined names as errors, so a typo fails loudly at
start-up rather than sending blank messages. HTML templates are autoescaped: feed text in
`{{ alert.article.title }}` is escaped unless a template says otherwise on purpose.

A template sees:

    alert      the Alert (alert.rule.title, alert.article.url, alert.matched, ...)
    headline   "HIGH: rule title — article title", on one line
    facts      [(label, value)] pairs: source, published, places, groups, rule, alert id
    excerpt    the summary around the matched terms, or None; `excerpt.parts` are
               (text, highlighted) pairs, `excerpt.plain()` marks terms with *stars*
    link       the article URL if it is http(s), else None

A digest template (`digest_*`: a message that carries several alerts, delivery/grouping.py) sees:

    batch      batch.kind: "digest" (group_wait, a digest sink) or "summary" (over the cap)
    headline   "Digest: 3 alerts: 1 CRITICAL, 2 HIGH", the default title
    summary    summary.total, summary.by_severity {severity: count}, summary.by_rule
               [(rule_id, title, severity, count)], summary.headline "3 alerts: ..."
    alerts     the Alerts, in order
    entries    per alert, what a one-alert template sees: entry.alert, entry.headline,
               entry.facts, entry.excerpt, entry.link

Chat templates (Slack mrkdwn, Teams Markdown) escape for their markup instead of HTML: every
`{{ ... }}` goes through the sink's escaping, with no `|safe` way around it, so feed text can
neither mention (`<!channel>`), nor link, nor format. Only `link` arrives already made safe
for the format, as a `Verbatim` string. The template's own text is the author's markup.
Undefined names are found when a template is loaded; undefined attributes when it renders.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
from jinja2.sandbox import SandboxedEnvironment

from watcher.config.settings import ChatTemplates, Config
from watcher.delivery.grouping import Batch, RuleCount, summarise
from watcher.delivery.sinks.render import Excerpt, batch_title, excerpt, facts, headline, safe_url
from watcher.errors import ConfigError, Problem
from watcher.models import Alert, Severity

Escape = Callable[[str], str]
Link = Callable[[str], str]  # a safe http(s) URL made ready for the format
CONTEXT_NAMES = frozenset({"alert", "headline", "facts", "excerpt", "link"})
BATCH_CONTEXT_NAMES = frozenset({"batch", "headline", "summary", "alerts", "entries"})


class Verbatim(str):
    """A value already safe in the target markup: chat escaping passes it through as is."""

    __slots__ = ()


def template_context(alert: Alert) -> dict[str, Any]:
    return {"alert": alert, "headline": headline(alert), "facts": facts(alert),
            "excerpt": excerpt(alert), "link": safe_url(alert.article.url)}


@dataclass(frozen=True)
class AlertEntry:
    """One alert of a batch with what a one-alert template sees, under the same names."""

    alert: Alert
    headline: str
    facts: list[tuple[str, str]]
    excerpt: Excerpt | None
    link: str | None


@dataclass(frozen=True)
class BatchSummary:
    """grouping.Summary for templates: `headline` is text, so `{{ summary.headline }}` reads
    as it looks rather than printing a method."""

    total: int
    by_severity: dict[Severity, int]
    by_rule: tuple[RuleCount, ...]
    headline: str


def batch_context(batch: Batch, link: Link | None = None) -> dict[str, Any]:
    """What a digest template sees; `link` prepares each alert's URL for the format."""
    summary = summarise(batch.alerts)
    entries = []
    for alert in batch.alerts:
        context = template_context(alert)
        url = context["link"]
        entries.append(AlertEntry(alert, context["headline"], context["facts"],
                                  context["excerpt"], link(url) if url and link else url))
    return {"batch": batch, "headline": batch_title(batch, summary),
            "summary": BatchSummary(summary.total, dict(summary.by_severity), summary.by_rule,
                                    summary.headline()),
            "alerts": list(batch.alerts), "entries": entries}


def _environment(html: bool, escape: Escape | None) -> SandboxedEnvironment:
    def finalize(value: Any) -> str:
        text = str(value)  # an undefined name raises here (StrictUndefined)
        return text if escape is None or isinstance(value, Verbatim) else escape(text)

    return SandboxedEnvironment(autoescape=html, undefined=jinja2.StrictUndefined,
                                keep_trailing_newline=True, finalize=finalize)


def _unknown_names(env: SandboxedEnvironment, source: str, path: Path,
                   names: frozenset[str]) -> list[Problem]:
    unknown = jinja2.meta.find_undeclared_variables(env.parse(source)) - names
    problems = []
    for name in sorted(unknown - set(env.globals)):
        lines = source.splitlines()
        line = next((i for i, text in enumerate(lines, 1)
                     if re.search(rf"\b{re.escape(name)}\b", text)), 1)
        problems.append(Problem(str(path), line, 1, f"template: unknown name {name!r} "
                                f"(known: {', '.join(sorted(names))})"))
    return problems


def load_template(path: Path, *, html: bool = False, escape: Escape | None = None,
                  names: frozenset[str] = CONTEXT_NAMES) -> jinja2.Template:
    """Compile one template file; a missing file, a syntax error or a name outside `names`
    (what the template will see) is a ConfigError. `escape` makes every `{{ ... }}` pass
    through it."""
    env = _environment(html, escape)
    try:
        source = path.read_text(encoding="utf-8")
        problems = _unknown_names(env, source, path, names)
        if problems:
            raise ConfigError(problems)
        return env.from_string(source)
    except OSError as exc:
        raise ConfigError([Problem(str(path), 1, 1, f"cannot read template: {exc.strerror}")]
                          ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError([Problem(str(path), exc.lineno, 1, f"template: {exc.message}")]
                          ) from None


def _render(template: jinja2.Template, context: dict[str, Any]) -> str:
    try:
        return template.render(context)
    except jinja2.TemplateError:
        raise
    except Exception as exc:  # `{{ 1 / 0 }}`, a bad filter argument: the template's fault
        raise jinja2.TemplateRuntimeError(f"{type(exc).__name__}: {exc}") from None


def render_template(template: jinja2.Template, alert: Alert, **overrides: Any) -> str:
    """A one-alert template; a failure of any kind is a jinja2.TemplateError, which the
    sinks report as a dead delivery (retrying renders the same)."""
    return _render(template, {**template_context(alert), **overrides})


def render_batch_template(template: jinja2.Template, batch: Batch, link: Link | None = None
                          ) -> str:
    """A digest template; fails as `render_template` does."""
    return _render(template, batch_context(batch, link))


@dataclass(frozen=True)
class CompiledChatTemplates:
    """A chat sink's overrides: titles render plain or escaped as the sink says, texts
    always escaped for the chat's markup; None keeps the default. `digest_*` render the
    messages that carry several alerts."""

    title: jinja2.Template | None = None
    text: jinja2.Template | None = None
    digest_title: jinja2.Template | None = None
    digest_text: jinja2.Template | None = None

    @classmethod
    def load(cls, paths: ChatTemplates, root: Config | None, *, title_escape: Escape | None,
             text_escape: Escape) -> CompiledChatTemplates:
        resolve = root.resolve if root is not None else Path

        def load(path: str | None, escape: Escape | None, names: frozenset[str]
                 ) -> jinja2.Template | None:
            return load_template(resolve(path), escape=escape, names=names) if path else None

        return cls(load(paths.title, title_escape, CONTEXT_NAMES),
                   load(paths.text, text_escape, CONTEXT_NAMES),
                   load(paths.digest_title, title_escape, BATCH_CONTEXT_NAMES),
                   load(paths.digest_text, text_escape, BATCH_CONTEXT_NAMES))
