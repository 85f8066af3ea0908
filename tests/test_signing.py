"""Webhook signatures, checked the way docs/delivery.md tells a receiver to check them."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.alertfactory import make_alert
from watcher.config.settings import WebhookSink, load_config
from watcher.delivery.signing import signature, verify_signature
from watcher.delivery.sinks import WebhookPoster

ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec-test-4f1c"
NOW = 1_795_608_000


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


def documented_verify() -> Callable[[str, Any, bytes], bool]:
    """The receiver's code block of docs/delivery.md, taken from the document itself."""
    text = (ROOT / "docs" / "delivery.md").read_text()
    block = text.split("In Python:\n\n", 1)[1].split("\n\n`tests/", 1)[0]
    namespace: dict[str, Any] = {}
    exec(textwrap.dedent(block), namespace)
    verify: Callable[[str, Any, bytes], bool] = namespace["verify"]
    return verify


def receiver_accepts(request: Request, secret: str, now: float) -> bool:
    """The recipe of docs/delivery.md as a receiver runs it, with its clock set to `now`."""
    with mock.patch("time.time", return_value=now):
        return documented_verify()(secret, request.headers, request.get_data())


def test_the_documented_example_signature_is_right() -> None:
    text = (ROOT / "docs" / "delivery.md").read_text()
    assert f"X-Watcher-Signature: {signature(SECRET, NOW, b'{}')}" in text
    assert f"X-Watcher-Timestamp: {NOW}" in text


async def test_a_receiver_verifies_the_signature(httpserver: HTTPServer,
                                                 client: httpx.AsyncClient) -> None:
    verdicts: list[bool] = []

    def receive(request: Request) -> Response:
        verdicts.append(receiver_accepts(request, SECRET, time.time()))
        verdicts.append(receiver_accepts(request, "another secret", time.time()))
        verdicts.append(receiver_accepts(request, SECRET, time.time() + 3600))  # a replay
        return Response("ok")

    httpserver.expect_request("/hook", method="POST").respond_with_handler(receive)
    sink = WebhookPoster(WebhookSink(type="webhook", url=httpserver.url_for("/hook"),
                                     secret=SECRET), client)  # type: ignore[arg-type]
    alert = make_alert()
    await sink.send(alert)
    assert verdicts == [True, False, False]
    [(request, _)] = httpserver.log
    assert json.loads(request.get_data()) == alert.to_dict()  # the contract, unchanged


async def test_no_secret_no_signature(httpserver: HTTPServer, client: httpx.AsyncClient) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    await WebhookPoster(WebhookSink(type="webhook", url=httpserver.url_for("/hook")),  # type: ignore[arg-type]
                        client).send(make_alert())
    [(request, _)] = httpserver.log
    assert "X-Watcher-Signature" not in request.headers


async def test_signature_over_the_exact_bytes_sent(httpserver: HTTPServer,
                                                   client: httpx.AsyncClient) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    sink = WebhookPoster(WebhookSink(type="webhook", url=httpserver.url_for("/hook"),
                                     secret=SECRET), client, clock=lambda: NOW + 0.9)  # type: ignore[arg-type]
    await sink.send(make_alert(title="Raqqa — «Deir Ezzor» ünïcode"))
    [(request, _)] = httpserver.log
    body = request.get_data()
    assert request.headers["X-Watcher-Timestamp"] == str(NOW)
    assert request.headers["X-Watcher-Signature"] == signature(SECRET, NOW, body)
    assert verify_signature(SECRET, str(NOW), request.headers["X-Watcher-Signature"], body,
                            now=NOW + 10)


@pytest.mark.parametrize(("timestamp", "sig", "body", "now", "ok"), [
    (str(NOW), signature(SECRET, NOW, b"{}"), b"{}", NOW, True),
    (str(NOW), signature(SECRET, NOW, b"{}"), b"{} ", NOW, False),  # body changed
    (str(NOW), signature(SECRET, NOW + 1, b"{}"), b"{}", NOW, False),  # timestamp changed
    (str(NOW), signature(SECRET, NOW, b"{}"), b"{}", NOW + 301, False),  # too old
    (str(NOW), signature(SECRET, NOW, b"{}"), b"{}", NOW - 301, False),  # from the future
    (str(NOW), "v1=00, " + signature(SECRET, NOW, b"{}"), b"{}", NOW, True),  # rotation
    (str(NOW), signature(SECRET, NOW, b"{}").replace("v1=", "v0="), b"{}", NOW, False),
    ("soon", signature(SECRET, NOW, b"{}"), b"{}", NOW, False),
    (str(NOW), "", b"{}", NOW, False),
])
def test_verify_signature(timestamp: str, sig: str, body: bytes, now: float, ok: bool) -> None:
    assert verify_signature(SECRET, timestamp, sig, body, now=now) is ok


def test_the_secret_comes_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("sinks:\n  - type: webhook\n    url: https://hooks.example/x\n"
                    "    secret: ${HOOK_SECRET}\n")
    [sink] = load_config(path, env={"HOOK_SECRET": SECRET}).sinks
    assert isinstance(sink, WebhookSink) and sink.secret is not None
    assert sink.secret.get_secret_value() == SECRET
    assert SECRET not in repr(sink)
