"""The email sink over real TLS: aiosmtpd with a certificate from a private CA (trustme),
STARTTLS and implicit TLS, both requiring login; and the message itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.alertfactory import TITLE, make_alert
from tests.conftest import SMTP_LOGIN, MailBox, TlsMail
from watcher.config.settings import Config, EmailSink, load_config
from watcher.delivery.grouping import Batch
from watcher.delivery.sinks import EmailSender
from watcher.delivery.sinks.batch_render import batch_html, batch_text
from watcher.delivery.sinks.email import message_id
from watcher.delivery.sinks.render import batch_title
from watcher.errors import ConfigError, PermanentSinkError
from watcher.models import Alert


def tls_mailer(port: int, security: str, ca_file: Path | None, **extra: Any) -> EmailSender:
    cfg = EmailSink.model_validate({
        "type": "email", "host": "127.0.0.1", "port": port, "security": security,
        "username": SMTP_LOGIN[0], "password": SMTP_LOGIN[1],
        "from": "watcher@example.org", "to": ["desk@example.org"],
        "ca_file": str(ca_file) if ca_file else None, "timeout": 5, **extra})
    return EmailSender(cfg)


def only_message(box: MailBox) -> tuple[bool, object]:
    [session] = box.sessions
    return session


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_email_over_tls_with_login_and_a_private_ca(tls_mailbox: TlsMail,
                                                          security: str) -> None:
    port = tls_mailbox.starttls_port if security == "starttls" else tls_mailbox.tls_port
    alert = make_alert()
    await tls_mailer(port, security, tls_mailbox.ca_file).send(alert)
    tls, login = only_message(tls_mailbox.box)
    assert tls is True
    assert login is not None and getattr(login, "login", None) == SMTP_LOGIN[0].encode()
    [msg] = tls_mailbox.box.messages()
    assert msg["X-Watcher-Alert-Id"] == alert.alert_id


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_email_refuses_a_server_it_cannot_verify(tls_mailbox: TlsMail,
                                                       security: str) -> None:
    """Without the private CA the certificate is not trusted: dead, never sent in clear."""
    port = tls_mailbox.starttls_port if security == "starttls" else tls_mailbox.tls_port
    with pytest.raises(PermanentSinkError, match="certificate"):
        await tls_mailer(port, security, None).send(make_alert())
    assert tls_mailbox.box.envelopes == []


async def test_email_wrong_password_is_permanent(tls_mailbox: TlsMail) -> None:
    with pytest.raises(PermanentSinkError, match="535"):
        await tls_mailer(tls_mailbox.starttls_port, "starttls", tls_mailbox.ca_file,
                         password="wrong").send(make_alert())
    assert tls_mailbox.box.envelopes == []


def test_ca_file_is_resolved_against_the_config_and_must_exist(tmp_path: Path,
                                                               tls_smtp_servers: TlsMail) -> None:
    (tmp_path / "ca.pem").write_bytes(tls_smtp_servers.ca_file.read_bytes())
    path = tmp_path / "w.yaml"
    path.write_text("sinks:\n  - type: email\n    host: 127.0.0.1\n    from: w@example.org\n"
                    "    to: [d@example.org]\n    ca_file: ca.pem\n")
    config = load_config(path, env={})
    EmailSender(config.sinks[0], config)  # type: ignore[arg-type]  # loads the CA
    path.write_text(path.read_text().replace("ca.pem", "missing.pem"))
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(caught.value).startswith(f"{path}:6:")
    assert "no such file" in str(caught.value)


def test_a_file_that_is_not_a_certificate_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate")
    cfg = EmailSink.model_validate({"type": "email", "host": "h", "from": "w@example.org",
                                    "to": ["d@example.org"], "ca_file": "ca.pem"})
    with pytest.raises(ConfigError, match="cannot load CA"):
        EmailSender(cfg, Config.model_validate({"base_dir": tmp_path}))


# the message

def test_message_id_is_stable_per_alert_and_well_formed() -> None:
    a, b = make_alert("k1"), make_alert("k2")
    assert message_id(a, "example.org") == message_id(a, "example.org")
    assert message_id(a, "example.org") != message_id(b, "example.org")
    assert message_id(a, "example.org").startswith("<")
    assert message_id(a, "example.org").endswith(".watcher@example.org>")


async def test_text_and_html_parts_highlight_the_matched_terms(
        mailbox: tuple[MailBox, int]) -> None:
    box, port = mailbox
    sender = EmailSender(EmailSink.model_validate({
        "type": "email", "host": "127.0.0.1", "port": port, "security": "none",
        "from": "Watcher <watcher@example.org>", "to": ["desk@example.org"]}))
    alert = make_alert()
    await sender.send(alert)
    [msg] = box.messages()
    assert msg["Message-ID"] == message_id(alert, "example.org")
    assert msg["Subject"].startswith("[watcher] HIGH: ")
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    assert "A *convoy* of Daesh fighters" in text.get_content()
    assert "A <mark>convoy</mark> of Daesh fighters" in html.get_content()


# templates

def templated(tmp_path: Path, port: int, **files: str) -> EmailSender:
    for name, text in files.items():
        (tmp_path / f"{name}.j2").write_text(text)
    cfg = EmailSink.model_validate({
        "type": "email", "host": "127.0.0.1", "port": port, "security": "none",
        "from": "watcher@example.org", "to": ["desk@example.org"],
        "templates": {name: f"{name}.j2" for name in files}})
    return EmailSender(cfg, Config.model_validate({"base_dir": tmp_path}))


async def test_templates_override_each_part_and_html_is_autoescaped(
        tmp_path: Path, mailbox: tuple[MailBox, int]) -> None:
    box, port = mailbox
    sender = templated(
        tmp_path, port,
        subject="{{ alert.rule.severity|upper }} {{ alert.article.title }}",
        text="Seen: {{ alert.article.title }}\n{{ excerpt.plain('_') }}\n",
        html="<h1>{{ alert.article.title }}</h1><p>{% for t, hit in excerpt.parts %}"
             "{% if hit %}<b>{{ t }}</b>{% else %}{{ t }}{% endif %}{% endfor %}</p>")
    await sender.send(make_alert(title="<script>x</script>\r\nBcc: evil@x"))
    [msg] = box.messages()
    assert msg["Subject"] == "[watcher] HIGH <script>x</script> Bcc: evil@x"
    assert msg["Bcc"] is None
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and html is not None
    # In a body a line break is harmless: it stays in the body.
    assert text.get_content().replace("\r\n", "\n").startswith(
        "Seen: <script>x</script>\nBcc: evil@x\nA _convoy_")
    assert html.get_content().replace("\r\n", "\n").startswith(
        "<h1>&lt;script&gt;x&lt;/script&gt;\nBcc: evil@x</h1><p>A <b>convoy</b> of Daesh")


def test_a_template_with_a_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        templated(tmp_path, 25, html="<p>\n{% if %}</p>")
    assert str(caught.value).startswith(f"{tmp_path / 'html.j2'}:2:1: template: Expected an")


async def test_a_template_naming_nothing_known_makes_the_delivery_dead(
        tmp_path: Path, mailbox: tuple[MailBox, int]) -> None:
    _, port = mailbox
    with pytest.raises(PermanentSinkError, match="template"):
        await templated(tmp_path, port, text="{{ alert.nothing.here }}").send(make_alert())


async def test_templates_are_sandboxed(tmp_path: Path, mailbox: tuple[MailBox, int]) -> None:
    _, port = mailbox
    sender = templated(tmp_path, port, text="{{ alert.__class__.__mro__ }}")
    with pytest.raises(PermanentSinkError, match="template"):
        await sender.send(make_alert())


# digest templates: several alerts in one mail

def two_alerts(first_title: str = TITLE) -> tuple[Alert, Alert]:
    return (make_alert("desk:a1", title=first_title),
            make_alert("desk:a2", title="SDF commander defected", rule_id="defection",
                       rule_title="Defection", severity="critical",
                       url="https://news.example.org/a2?q='><b>"))


async def test_digest_templates_override_each_part_and_html_is_autoescaped(
        tmp_path: Path, mailbox: tuple[MailBox, int]) -> None:
    box, port = mailbox
    sender = templated(
        tmp_path, port,
        digest_subject="{{ summary.total }} for the desk: {{ alerts[0].article.title }}",
        digest_text="{{ headline }}\n{% for e in entries %}- {{ e.headline }} <{{ e.link }}>\n"
                    "{% endfor %}",
        digest_html="<h1>{{ batch.kind }}</h1>{% for e in entries %}<p><a href='{{ e.link }}'>"
                    "{{ e.alert.article.title }}</a> {{ e.excerpt.parts[1][0] }}</p>{% endfor %}")
    batch = Batch("desk", "digest", two_alerts("<script>x</script>\r\nBcc: evil@x"))
    await sender.send_batch(batch)
    [msg] = box.messages()
    assert msg["Subject"] == "[watcher] 2 for the desk: <script>x</script> Bcc: evil@x"
    assert msg["Bcc"] is None
    assert msg["X-Watcher-Batch-Id"] == batch.key
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content().replace("\r\n", "\n") == (
        "Digest: 2 alerts: 1 CRITICAL, 1 HIGH\n"
        "- HIGH: ISIL movement in eastern Syria — <script>x</script> Bcc: evil@x "
        "<https://news.example.org/a1>\n"
        "- CRITICAL: Defection — SDF commander defected <https://news.example.org/a2?q='><b>>\n")
    assert html.get_content().replace("\r\n", "\n") == (
        "<h1>digest</h1><p><a href='https://news.example.org/a1'>&lt;script&gt;x&lt;/script&gt;"
        "\nBcc: evil@x</a> convoy</p><p><a href='https://news.example.org/a2?q=&#39;&gt;&lt;b&gt;'>"
        "SDF commander defected</a> convoy</p>\n")


async def test_without_digest_templates_a_digest_mail_is_the_default(
        tmp_path: Path, mailbox: tuple[MailBox, int]) -> None:
    box, port = mailbox
    batch = Batch("desk", "summary", two_alerts())
    await templated(tmp_path, port, text="one alert: {{ headline }}").send_batch(batch)
    [msg] = box.messages()
    assert msg["Subject"] == f"[watcher] {batch_title(batch)}"
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content().replace("\r\n", "\n") == batch_text(batch)
    assert html.get_content().replace("\r\n", "\n") == batch_html(batch)


def test_a_digest_template_with_an_unknown_name_names_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        templated(tmp_path, 25, digest_html="<p>{{ headline }}</p>\n<p>{{ excerpt }}</p>")
    assert str(caught.value) == (f"{tmp_path / 'digest_html.j2'}:2:1: template: unknown name "
                                 "'excerpt' (known: alerts, batch, entries, headline, summary)")


@pytest.mark.parametrize("text", ["{{ entries[0].nothing.here }}", "{{ batch.__class__.__mro__ }}",
                                  "{{ summary.total // 0 }}"])
async def test_a_failing_digest_template_makes_the_delivery_dead(
        tmp_path: Path, mailbox: tuple[MailBox, int], text: str) -> None:
    box, port = mailbox
    sender = templated(tmp_path, port, digest_text=text)
    with pytest.raises(PermanentSinkError, match=r"^email email: template: "):
        await sender.send_batch(Batch("desk", "digest", two_alerts()))
    assert box.envelopes == []
