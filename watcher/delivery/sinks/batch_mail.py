"""A digest or summary as one email: the counts in the subject, every alert in the body, or
what the sink's `digest_*` templates make of them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from watcher.config.settings import EmailSink
from watcher.delivery.grouping import Batch, summarise
from watcher.delivery.sinks.batch_render import batch_html, batch_text
from watcher.delivery.sinks.mail_parts import SUBJECT_LIMIT, MessageTemplates, header_value
from watcher.delivery.sinks.render import batch_title
from watcher.delivery.sinks.templates import render_batch_template


def build_batch_message(batch: Batch, config: EmailSink, now: datetime,
                        templates: MessageTemplates | None = None) -> EmailMessage:
    """Headers as for one alert (email.py); the Message-ID is the same for the same alerts.
    A template that fails raises jinja2.TemplateError."""
    t = templates or MessageTemplates()
    summary = summarise(batch.alerts)
    msg = EmailMessage()
    prefix = header_value(config.subject_prefix)
    subject = (render_batch_template(t.digest_subject, batch) if t.digest_subject
               else batch_title(batch, summary))
    msg["Subject"] = header_value(f"{prefix} {subject}".strip(), SUBJECT_LIMIT)
    msg["From"] = header_value(config.from_addr)
    msg["To"] = ", ".join(header_value(a) for a in config.to)
    msg["Date"] = format_datetime(now.astimezone(UTC))
    domain = header_value(config.from_addr.rpartition("@")[2].strip(">"))
    domain = "".join(c for c in domain if c.isalnum() or c in ".-") or "watcher.local"
    digest = hashlib.sha256(batch.key.encode()).hexdigest()[:32]
    msg["Message-ID"] = f"<{digest}.watcher@{domain}>"
    msg["X-Watcher-Batch-Id"] = batch.key
    msg["X-Watcher-Severity"] = next(iter(summary.by_severity))
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(render_batch_template(t.digest_text, batch) if t.digest_text
                    else batch_text(batch))
    msg.add_alternative(render_batch_template(t.digest_html, batch) if t.digest_html
                        else batch_html(batch), subtype="html")
    return msg
