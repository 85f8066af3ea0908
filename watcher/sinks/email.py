"""The email sink: a multipart/alternative message (plain text and HTML) over SMTP.

Every header value built from feed text goes through `header_value`, which removes CR/LF and
other control characters: a title such as "x\\r\\nBcc: evil@x" stays inside the Subject.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import aiosmtplib

from ..config import EmailSink
from ..errors import PermanentSinkError, RecoverableSinkError, SinkError
from ..models import Alert
from .render import headline, one_line, render_html, render_text

log = logging.getLogger("watcher.sinks.email")

SUBJECT_LIMIT = 200


def header_value(text: str, limit: int | None = None) -> str:
    return one_line(text, limit)


def build_message(alert: Alert, config: EmailSink, now: datetime) -> EmailMessage:
    msg = EmailMessage()
    prefix = header_value(config.subject_prefix)
    msg["Subject"] = header_value(f"{prefix} {headline(alert)}".strip(), SUBJECT_LIMIT)
    msg["From"] = header_value(config.from_addr)
    msg["To"] = ", ".join(header_value(a) for a in config.to)
    msg["Date"] = format_datetime(now.astimezone(UTC))
    domain = header_value(config.from_addr.rpartition("@")[2].strip(">")) or "watcher.local"
    msg["Message-ID"] = make_msgid(idstring=re.sub(r"[^A-Za-z0-9.-]", "", alert.alert_id)[:64],
                                   domain=domain)
    msg["X-Watcher-Alert-Id"] = header_value(alert.alert_id)
    msg["X-Watcher-Severity"] = alert.rule.severity
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to the desk bot
    msg.set_content(render_text(alert))
    msg.add_alternative(render_html(alert), subtype="html")
    return msg


class EmailSender:
    def __init__(self, config: EmailSink) -> None:
        self.name = config.name
        self.config = config
        self.server = f"{config.host}:{config.port}"

    async def send(self, alert: Alert) -> None:
        cfg = self.config
        message = build_message(alert, cfg, datetime.now(UTC))
        try:
            refused, _ = await aiosmtplib.send(
                message, sender=cfg.from_addr, recipients=cfg.to,
                hostname=cfg.host, port=cfg.port,
                use_tls=cfg.security == "tls", start_tls=cfg.security == "starttls",
                username=cfg.username,
                password=cfg.password.get_secret_value() if cfg.password else None,
                timeout=cfg.timeout)
        except aiosmtplib.SMTPException as exc:
            raise self._translate(exc) from None
        except OSError as exc:  # refused, unreachable, TLS failures
            raise RecoverableSinkError(f"smtp {self.server}: {exc.strerror or exc}") from None
        if refused:
            # Some recipients have it: a retry would send them a duplicate. Say who was missed.
            log.warning("smtp %s refused some recipients of %s: %s", self.server,
                        alert.alert_id, ", ".join(f"{r} ({v.code})" for r, v in refused.items()),
                        extra={"alert_id": alert.alert_id, "sink": self.name})

    def _translate(self, exc: aiosmtplib.SMTPException) -> SinkError:
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            codes = [r.code for r in exc.recipients]
            message = f"smtp {self.server}: all recipients refused: " + "; ".join(
                f"{r.recipient} {r.code} {one_line(r.message, 100)}" for r in exc.recipients)
            temporary = codes and all(400 <= c < 500 for c in codes)
            return (RecoverableSinkError if temporary else PermanentSinkError)(message)
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            message = f"smtp {self.server}: {exc.code} {one_line(exc.message, 200)}"
            return (PermanentSinkError if 500 <= exc.code < 600 else RecoverableSinkError)(message)
        if isinstance(exc, aiosmtplib.SMTPNotSupported) or "not supported" in exc.message:
            # e.g. STARTTLS asked for and not offered: a configuration problem, not a blip
            return PermanentSinkError(f"smtp {self.server}: {one_line(exc.message, 200)}")
        return RecoverableSinkError(f"smtp {self.server}: {type(exc).__name__}: "
                                    f"{one_line(exc.message, 200)}")
