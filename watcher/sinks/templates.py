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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from ..errors import ConfigError, Problem
from ..models import Alert
from .render import excerpt, facts, headline, safe_url


def template_context(alert: Alert) -> dict[str, Any]:
    return {"alert": alert, "headline": headline(alert), "facts": facts(alert),
            "excerpt": excerpt(alert), "link": safe_url(alert.article.url)}


def load_template(path: Path, *, html: bool) -> jinja2.Template:
    """Compile one template file; a missing file or a syntax error is a ConfigError."""
    env = SandboxedEnvironment(autoescape=html, undefined=jinja2.StrictUndefined,
                               keep_trailing_newline=True)
    try:
        return env.from_string(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([Problem(str(path), 1, 1, f"cannot read template: {exc.strerror}")]
                          ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError([Problem(str(path), exc.lineno, 1, f"template: {exc.message}")]
                          ) from None


def render_template(template: jinja2.Template, alert: Alert) -> str:
    return template.render(template_context(alert))
