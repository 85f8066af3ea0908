"""What every message the email sink builds shares, for one alert (email.py) or several
(batch_mail.py): the subject's length, header values on one line, and the compiled template
overrides.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2

from watcher.config.settings import Config, EmailSink
from watcher.delivery.sinks.render import one_line
from watcher.delivery.sinks.templates import BATCH_CONTEXT_NAMES, CONTEXT_NAMES, load_template

SUBJECT_LIMIT = 200


def header_value(text: str, limit: int | None = None) -> str:
    return one_line(text, limit)


@dataclass(frozen=True)
class MessageTemplates:
    """Compiled overrides of the default subject, text and HTML, for one alert and (`digest_*`)
    for several; None keeps the default."""

    subject: jinja2.Template | None = None
    text: jinja2.Template | None = None
    html: jinja2.Template | None = None
    digest_subject: jinja2.Template | None = None
    digest_text: jinja2.Template | None = None
    digest_html: jinja2.Template | None = None

    @classmethod
    def load(cls, config: EmailSink, root: Config | None) -> MessageTemplates:
        resolve = root.resolve if root is not None else Path
        return cls(**{
            part: load_template(resolve(path), html=part.endswith("html"),
                                names=BATCH_CONTEXT_NAMES if part.startswith("digest_")
                                else CONTEXT_NAMES)
            for part, path in config.templates.model_dump().items() if path})
