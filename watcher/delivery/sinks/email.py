"""The email sink: a multipart/alternative message (plain text and HTML) over SMTP.

Every header value built from feed text goes through `header_value`, which removes CR/LF and
other control characters: a title such as "x\\r\\nBcc: evil@x" stays inside the Subject.
TLS (STARTTLS or implicit) always verifies the server's certificate, against the system's CAs
or the `ca_file` of the config; there is no switch to turn verification off.
The Message-ID is derived from the alert id, so a repeat after a crash carries the same one
and mail systems that drop duplicate Message-IDs drop it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import aiosmtplib
import jinja2

from watcher.config.settings import Config, EmailSink
from watcher.delivery.grouping import Batch
from watcher.delivery.sinks.batch_mail import build_batch_message
from watcher.delivery.sinks.mail_parts import SUBJECT_LIMIT, MessageTemplates, header_value
from watcher.delivery.sinks.render import headline, one_line, render_html, render_text
from watcher.delivery.sinks.templates import (
    render_template,
)
from watcher.errors import ConfigError, PermanentSinkError, Problem, RecoverableSinkError, SinkError
from watcher.models import Alert

log = logging.getLogger("watcher.sinks.email")

def message_id(alert: Alert, domain: str) -> str:
    """The same for every delivery of one alert: a repeat is recognisably the same mail."""
    digest = hashlib.sha256(alert.alert_id.encode()).hexdigest()[:32]
    return f"<{digest}.watcher@{domain}>"


def build_message(alert: Alert, config: EmailSink, now: datetime,
                  templates: MessageTemplates | None = None) -> EmailMessage:
    t = templates or MessageTemplates()
    msg = EmailMessage()
    prefix = header_value(config.subject_prefix)
    subject = render_template(t.subject, alert) if t.subject else headline(alert)
    msg["Subject"] = header_value(f"{prefix} {subject}".strip(), SUBJECT_LIMIT)
    msg["From"] = header_value(config.from_addr)
    msg["To"] = ", ".join(header_value(a) for a in config.to)
    msg["Date"] = format_datetime(now.astimezone(UTC))
    domain = header_value(config.from_addr.rpartition("@")[2].strip(">")) or "watcher.local"
    msg["Message-ID"] = message_id(alert, "".join(c for c in domain
                                                  if c.isalnum() or c in ".-") or "watcher.local")
    msg["X-Watcher-Alert-Id"] = header_value(alert.alert_id)
    msg["X-Watcher-Severity"] = alert.rule.severity
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to the desk bot
    msg.set_content(render_template(t.text, alert) if t.text else render_text(alert))
    msg.add_alternative(render_template(t.html, alert) if t.html else render_html(alert),
                        subtype="html")
    return msg


def tls_context(config: EmailSink, root: Config | None) -> ssl.SSLContext:
    """A verifying client context: the system's CAs, or only those of `ca_file`."""
    if not config.ca_file:
        return ssl.create_default_context()
    path = root.resolve(config.ca_file) if root is not None else Path(config.ca_file)
    try:
        return ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError([Problem(str(path), 1, 1, f"sink {config.name}: cannot load CA "
                                   f"certificates: {getattr(exc, 'strerror', None) or exc}")]
                          ) from None


class EmailSender:
    def __init__(self, config: EmailSink, root: Config | None = None) -> None:
        self.name = config.name
        self.config = config
        self.server = f"{config.host}:{config.port}"
        self._tls = tls_context(config, root) if config.security != "none" else None
        self._templates = MessageTemplates.load(config, root)

    async def send(self, alert: Alert) -> None:
        try:
            message = build_message(alert, self.config, datetime.now(UTC), self._templates)
        except jinja2.TemplateError as exc:
            raise PermanentSinkError(f"email {self.name}: template: {exc}") from None
        await self._submit(message, alert.alert_id)

    async def send_batch(self, batch: Batch) -> None:
        try:
            message = build_batch_message(batch, self.config, datetime.now(UTC),
                                          self._templates)
        except jinja2.TemplateError as exc:
            raise PermanentSinkError(f"email {self.name}: template: {exc}") from None
        await self._submit(message, batch.key)

    async def _submit(self, message: EmailMessage, ref: str) -> None:
        cfg = self.config
        client = aiosmtplib.SMTP(
            hostname=cfg.host, port=cfg.port, use_tls=cfg.security == "tls",
            start_tls=cfg.security == "starttls", tls_context=self._tls, timeout=cfg.timeout)
        try:
            # An explicit client rather than aiosmtplib.send(): send() leaves the socket
            # open when login fails after STARTTLS; here `close()` always runs.
            await client.connect()
            if cfg.username:
                await client.login(cfg.username,
                                    cfg.password.get_secret_value() if cfg.password else "")
            refused, _ = await client.send_message(message, sender=cfg.from_addr,
                                                   recipients=cfg.to)
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()  # the server has the message; a failed QUIT changes nothing
        except (aiosmtplib.SMTPException, ssl.SSLCertVerificationError) as exc:
            raise self._translate(exc) from None
        except OSError as exc:  # refused, unreachable, TLS failures
            raise RecoverableSinkError(f"smtp {self.server}: {exc.strerror or exc}") from None
        finally:
            client.close()
        if refused:
            # Some recipients have it: a retry would send them a duplicate. Say who was missed.
            log.warning("smtp %s refused some recipients of %s: %s", self.server,
                        ref, ", ".join(f"{r} ({v.code})" for r, v in refused.items()),
                        extra={"alert_id": ref, "sink": self.name})

    def _translate(self, exc: aiosmtplib.SMTPException | ssl.SSLCertVerificationError
                   ) -> SinkError:
        untrusted = exc if isinstance(exc, ssl.SSLCertVerificationError) else exc.__cause__
        if isinstance(untrusted, ssl.SSLCertVerificationError):
            # The wrong server, or its CA missing from ca_file: retrying cannot help.
            return PermanentSinkError(f"smtp {self.server}: certificate not trusted: "
                                      f"{untrusted.verify_message}")
        assert isinstance(exc, aiosmtplib.SMTPException)
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
