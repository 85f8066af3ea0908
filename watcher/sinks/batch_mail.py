"""A digest or summary as one email: the counts in the subject, every alert in the body."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from ..config import EmailSink
from ..grouping import Batch, summarise
from .batch_render import batch_html, batch_text, batch_title
from .email import SUBJECT_LIMIT, header_value


def build_batch_message(batch: Batch, config: EmailSink, now: datetime) -> EmailMessage:
    """Headers as for one alert (email.py); the Message-ID is the same for the same alerts."""
    summary = summarise(batch.alerts)
    msg = EmailMessage()
    prefix = header_value(config.subject_prefix)
    msg["Subject"] = header_value(f"{prefix} {batch_title(batch, summary)}".strip(),
                                  SUBJECT_LIMIT)
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
    msg.set_content(batch_text(batch))
    msg.add_alternative(batch_html(batch), subtype="html")
    return msg
