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

from ..config import ChatTemplates, Config
from ..errors import ConfigError, Problem
from ..models import Alert
from .render import excerpt, facts, headline, safe_url

Escape = Callable[[str], str]
CONTEXT_NAMES = frozenset({"alert", "headline", "facts", "excerpt", "link"})


class Verbatim(str):
    """A value already safe in the target markup: chat escaping passes it through as is."""

    __slots__ = ()


def template_context(alert: Alert) -> dict[str, Any]:
    return {"alert": alert, "headline": headline(alert), "facts": facts(alert),
            "excerpt": excerpt(alert), "link": safe_url(alert.article.url)}


def _environment(html: bool, escape: Escape | None) -> SandboxedEnvironment:
    def finalize(value: Any) -> str:
        text = str(value)  # an undefined name raises here (StrictUndefined)
        return text if escape is None or isinstance(value, Verbatim) else escape(text)

    return SandboxedEnvironment(autoescape=html, undefined=jinja2.StrictUndefined,
                                keep_trailing_newline=True, finalize=finalize)


def _unknown_names(env: SandboxedEnvironment, source: str, path: Path) -> list[Problem]:
    unknown = jinja2.meta.find_undeclared_variables(env.parse(source)) - CONTEXT_NAMES
    problems = []
    for name in sorted(unknown - set(env.globals)):
        lines = source.splitlines()
        line = next((i for i, text in enumerate(lines, 1)
                     if re.search(rf"\b{re.escape(name)}\b", text)), 1)
        problems.append(Problem(str(path), line, 1, f"template: unknown name {name!r} "
                                f"(known: {', '.join(sorted(CONTEXT_NAMES))})"))
    return problems


def load_template(path: Path, *, html: bool = False, escape: Escape | None = None
                  ) -> jinja2.Template:
    """Compile one template file; a missing file, a syntax error or a name that no template
    sees is a ConfigError. `escape` makes every `{{ ... }}` pass through it."""
    env = _environment(html, escape)
    try:
        source = path.read_text(encoding="utf-8")
        problems = _unknown_names(env, source, path)
        if problems:
            raise ConfigError(problems)
        return env.from_string(source)
    except OSError as exc:
        raise ConfigError([Problem(str(path), 1, 1, f"cannot read template: {exc.strerror}")]
                          ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError([Problem(str(path), exc.lineno, 1, f"template: {exc.message}")]
                          ) from None


def render_template(template: jinja2.Template, alert: Alert, **overrides: Any) -> str:
    return template.render({**template_context(alert), **overrides})


@dataclass(frozen=True)
class CompiledChatTemplates:
    """A chat sink's overrides: `title` renders plain or escaped as the sink says, `text`
    always escaped for the chat's markup; None keeps the default."""

    title: jinja2.Template | None = None
    text: jinja2.Template | None = None

    @classmethod
    def load(cls, paths: ChatTemplates, root: Config | None, *, title_escape: Escape | None,
             text_escape: Escape) -> CompiledChatTemplates:
        resolve = root.resolve if root is not None else Path
        return cls(
            load_template(resolve(paths.title), escape=title_escape) if paths.title else None,
            load_template(resolve(paths.text), escape=text_escape) if paths.text else None)
