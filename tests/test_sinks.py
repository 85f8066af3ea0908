"""Each sink against the real thing on loopback: an HTTP receiver, an SMTP server, files."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer

from tests.alertfactory import make_alert
from tests.conftest import MailBox, free_port
from watcher.config.settings import Config, ConsoleSink, EmailSink, JsonlSink, WebhookSink
from watcher.delivery.sinks import (
    ConsolePrinter,
    EmailSender,
    JsonlWriter,
    WebhookPoster,
    build_sinks,
)
from watcher.delivery.sinks.render import render_html, render_text
from watcher.delivery.sinks.webhook import retry_after_seconds
from watcher.errors import PermanentSinkError, RecoverableSinkError

SECRET_PATH = "/hook/T0P-SECRET"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


def webhook(url: str, client: httpx.AsyncClient, **extra: Any) -> WebhookPoster:
    return WebhookPoster(WebhookSink.model_validate({"type": "webhook", "url": url, **extra}),
                         client)


# webhook

async def test_webhook_posts_the_alert_contract(httpserver: HTTPServer,
                                                client: httpx.AsyncClient) -> None:
    alert = make_alert()
    httpserver.expect_oneshot_request(SECRET_PATH, method="POST").respond_with_data("ok")
    sink = webhook(httpserver.url_for(SECRET_PATH), client,
                   headers={"Authorization": "Bearer abc", "Idempotency-Key": "overridden"})
    await sink.send(alert)
    [(request, _)] = httpserver.log
    assert json.loads(request.get_data()) == alert.to_dict()
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == alert.alert_id
    assert request.headers["X-Watcher-Alert-Id"] == alert.alert_id
    assert request.headers["Authorization"] == "Bearer abc"


async def test_webhook_5xx_is_recoverable_and_hides_the_url(httpserver: HTTPServer,
                                                           client: httpx.AsyncClient) -> None:
    httpserver.expect_request(SECRET_PATH).respond_with_data(
        f"upstream  broken\n at {SECRET_PATH}", status=500)
    with pytest.raises(RecoverableSinkError) as caught:
        await webhook(httpserver.url_for(SECRET_PATH) + "?token=abc", client).send(make_alert())
    message = str(caught.value)
    assert "HTTP 500" in message and "upstream broken" in message
    assert f"localhost:{httpserver.port}" in message
    assert "T0P-SECRET" not in message and "token" not in message


async def test_webhook_429_is_recoverable_with_retry_after(httpserver: HTTPServer,
                                                          client: httpx.AsyncClient) -> None:
    httpserver.expect_request(SECRET_PATH).respond_with_data(
        "slow down", status=429, headers={"Retry-After": "120"})
    with pytest.raises(RecoverableSinkError) as caught:
        await webhook(httpserver.url_for(SECRET_PATH), client).send(make_alert())
    assert caught.value.retry_after == 120.0


@pytest.mark.parametrize("status", [400, 401, 404, 410])
async def test_webhook_4xx_is_permanent_with_status_and_excerpt(
        httpserver: HTTPServer, client: httpx.AsyncClient, status: int) -> None:
    httpserver.expect_request(SECRET_PATH).respond_with_data("x" * 5000 + "tail",
                                                             status=status)
    with pytest.raises(PermanentSinkError) as caught:
        await webhook(httpserver.url_for(SECRET_PATH), client).send(make_alert())
    message = str(caught.value)
    assert f"HTTP {status}" in message and "xxxx" in message
    assert len(message) < 400 and "tail" not in message and "T0P-SECRET" not in message


async def test_webhook_refused_connection_is_recoverable(client: httpx.AsyncClient) -> None:
    url = f"http://127.0.0.1:{free_port()}{SECRET_PATH}"
    with pytest.raises(RecoverableSinkError) as caught:
        await webhook(url, client).send(make_alert())
    assert "127.0.0.1" in str(caught.value) and "T0P-SECRET" not in str(caught.value)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


async def test_webhook_timeout_is_recoverable(silent_server: int,
                                              client: httpx.AsyncClient) -> None:
    sink = webhook(f"http://127.0.0.1:{silent_server}{SECRET_PATH}", client, timeout=0.3)
    with pytest.raises(RecoverableSinkError, match="timed out"):
        await sink.send(make_alert())


async def test_webhook_bad_scheme_is_permanent(client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentSinkError, match="bad URL"):
        await webhook("ftp://hooks.example/x", client).send(make_alert())


@pytest.mark.parametrize(("header", "seconds"), [
    (None, None), ("", None), ("30", 30.0), (" 7 ", 7.0), ("soon", None),
    ("Wed, 25 Nov 2026 12:02:00 GMT", 120.0), ("Wed, 25 Nov 2026 11:00:00 GMT", 0.0),
])
def test_retry_after_seconds(header: str | None, seconds: float | None) -> None:
    from tests.alertfactory import DETECTED
    assert retry_after_seconds(header, DETECTED) == seconds


# email

def mailer(port: int, **extra: Any) -> EmailSender:
    return EmailSender(EmailSink.model_validate({
        "type": "email", "host": "127.0.0.1", "port": port, "security": "none",
        "from": "watcher@example.org", "to": ["desk@example.org"], **extra}))


async def test_email_has_text_and_html_parts_and_headers(
        mailbox: tuple[MailBox, int]) -> None:
    box, port = mailbox
    alert = make_alert()
    await mailer(port, subject_prefix="[desk]").send(alert)
    [msg] = box.messages()
    assert msg["Subject"] == ("[desk] HIGH: ISIL movement in eastern Syria — "
                              "Isil fighters leave Raqqa in a convoy for Deir Ezzor")
    assert msg["X-Watcher-Alert-Id"] == alert.alert_id
    assert msg["Message-ID"].endswith("@example.org>")
    assert msg["Date"] and msg["To"] == "desk@example.org"
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    assert "Deir ez-Zor (place) «Deir Ezzor» in title" in text.get_content()
    assert 'href="https://news.example.org/a1"' in html.get_content()
    assert box.envelopes[0].rcpt_tos == ["desk@example.org"]


async def test_email_header_injection_from_a_title_stays_in_the_subject(
        mailbox: tuple[MailBox, int]) -> None:
    box, port = mailbox
    await mailer(port).send(make_alert(title="x\r\nBcc: evil@x\r\n\r\nbody", rule_title="r\nX: y"))
    [msg] = box.messages()
    assert msg["Bcc"] is None and msg["X"] is None
    assert msg["Subject"] == "[watcher] HIGH: r X: y — x Bcc: evil@x body"
    assert box.envelopes[0].rcpt_tos == ["desk@example.org"]


async def test_email_html_escapes_feed_text(mailbox: tuple[MailBox, int]) -> None:
    box, port = mailbox
    await mailer(port).send(make_alert(title="<script>alert(1)</script> & co",
                                       url="javascript:alert(1)"))
    html = box.messages()[0].get_body(("html",))
    assert html is not None
    content = html.get_content()
    assert "<script>" not in content and "&lt;script&gt;" in content
    assert "javascript:" not in content.split("<table>")[0]  # no link from a bad URL


async def test_email_all_recipients_refused_is_permanent(mailbox: tuple[MailBox, int]) -> None:
    box, port = mailbox
    with pytest.raises(PermanentSinkError, match="550"):
        await mailer(port, to=["nobody@example.org"]).send(make_alert())
    assert box.envelopes == []


async def test_email_temporary_refusal_is_recoverable(mailbox: tuple[MailBox, int]) -> None:
    _, port = mailbox
    with pytest.raises(RecoverableSinkError, match="451"):
        await mailer(port, to=["busy@example.org"]).send(make_alert())


async def test_email_some_recipients_refused_still_delivers(
        mailbox: tuple[MailBox, int], caplog: pytest.LogCaptureFixture) -> None:
    box, port = mailbox
    await mailer(port, to=["desk@example.org", "nobody@example.org"]).send(make_alert())
    assert box.envelopes[0].rcpt_tos == ["desk@example.org"]
    assert "nobody@example.org" in caplog.text


async def test_email_refused_connection_is_recoverable() -> None:
    with pytest.raises(RecoverableSinkError, match=r"smtp 127\.0\.0\.1"):
        await mailer(free_port(), timeout=2).send(make_alert())


async def test_email_starttls_not_offered_is_permanent(mailbox: tuple[MailBox, int]) -> None:
    _, port = mailbox
    with pytest.raises(PermanentSinkError):
        await mailer(port, security="starttls").send(make_alert())


# console and jsonl

async def test_console_text(capsys: pytest.CaptureFixture[str]) -> None:
    await ConsolePrinter(ConsoleSink(type="console")).send(
        make_alert(title="Deir Ezzor\x1b[2J\nfake: line"))
    out = capsys.readouterr().out
    assert out.startswith("[HIGH] ISIL movement in eastern Syria\n  Deir Ezzor [2J fake: line\n")
    assert "\x1b" not in out
    for expected in ("Source:    Test desk", "Published: 2026-11-25 11:30 UTC",
                     "URL:       https://news.example.org/a1",
                     "Deir ez-Zor (place) «Deir Ezzor» in title",
                     "Places:    Raqqa (SY), Deir ez-Zor (SY)", "Groups:    ISIL, SDF"):
        assert expected in out


async def test_console_json(capsys: pytest.CaptureFixture[str]) -> None:
    alert = make_alert()
    await ConsolePrinter(ConsoleSink(type="console", format="json")).send(alert)
    assert capsys.readouterr().out == alert.to_json() + "\n"


async def test_jsonl_appends_one_line_per_alert_relative_to_config(tmp_path: Path) -> None:
    config = Config.model_validate({"base_dir": tmp_path})
    sink = JsonlWriter(JsonlSink(type="jsonl", path="out/alerts.jsonl"), config)
    path = tmp_path / "out" / "alerts.jsonl"
    await sink.send(make_alert("k1"))
    with path.open("ab") as f:
        f.write(b'{"half a line from a crash')
    await sink.send(make_alert("k2"))
    lines = path.read_text().splitlines()
    assert json.loads(lines[0]) == make_alert("k1").to_dict()
    assert json.loads(lines[2]) == make_alert("k2").to_dict()


async def test_jsonl_unwritable_path_is_recoverable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    config = Config.model_validate({"base_dir": tmp_path})
    sink = JsonlWriter(JsonlSink(type="jsonl", path="file/alerts.jsonl"), config)
    with pytest.raises(RecoverableSinkError, match="cannot append"):
        await sink.send(make_alert())


async def test_build_sinks_by_name(tmp_path: Path, client: httpx.AsyncClient) -> None:
    config = Config.model_validate({"base_dir": tmp_path, "sinks": [
        {"type": "console"}, {"type": "jsonl", "name": "archive", "path": "a.jsonl"},
        {"type": "webhook", "name": "hook", "url": "https://hooks.example/x"},
        {"type": "email", "name": "mail", "host": "smtp.example", "from": "w@example.org",
         "to": ["d@example.org"]}]})
    sinks = build_sinks(config, client)
    assert {n: type(s) for n, s in sinks.items()} == {
        "console": ConsolePrinter, "archive": JsonlWriter, "hook": WebhookPoster,
        "mail": EmailSender}
    assert all(s.name == n for n, s in sinks.items())


def test_renderings_name_every_matched_term() -> None:
    alert = make_alert()
    text, html = render_text(alert), render_html(alert)
    for term in alert.matched:
        assert f"«{term.text}» in {term.field}" in text
        assert f"«{term.text}» in {term.field}" in html
