"""Fixtures shared by every test module. Expensive servers are session-scoped."""

from __future__ import annotations

import logging
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from pytest_httpserver import HTTPServer

from tests import pgtest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_shared_data() -> Path:
    """The team's real-world data beside the checkout; skip without it, fail in CI."""
    if SHARED_DATA.is_dir():
        return SHARED_DATA
    if IN_CI:
        pytest.fail(f"{SHARED_DATA} is missing, and CI=true requires it")
    pytest.skip(f"{SHARED_DATA} is not present")


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """A command run in-process (`watcher.cli.main`) points the root logger at the stderr
    pytest captured for that test; put it back, so later log lines (aiosmtpd's threads) do
    not write to a closed file."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def threaded_httpserver() -> Iterator[HTTPServer]:
    """One pytest-httpserver on 127.0.0.1 for the fetch tests, threaded so that a slow
    response does not hold up the others ("localhost" is another name for the same place)."""
    httpd = HTTPServer(host="127.0.0.1", threaded=True)
    httpd.start()
    yield httpd
    httpd.clear()
    httpd.stop()


@pytest.fixture
def feed_server(threaded_httpserver: HTTPServer) -> Iterator[HTTPServer]:
    """The threaded server, its expectations and log cleared after each test."""
    yield threaded_httpserver
    threaded_httpserver.clear()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return require_shared_data()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MailBox:
    """An aiosmtpd handler that keeps what it receives and refuses some recipients."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.sessions: list[tuple[bool, object]] = []  # (over TLS, login) of each message
        self.lock = threading.Lock()

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        if address.startswith("busy@"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        tls = server.transport is not None and (
            server.transport.get_extra_info("ssl_object") is not None)
        with self.lock:
            self.envelopes.append(envelope)
            self.sessions.append((tls, session.auth_data if session.authenticated else None))
        return "250 OK"

    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return [message_from_bytes(e.original_content or b"",  # type: ignore[misc]
                                       policy=policy.default) for e in self.envelopes]


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[MailBox, int]]:
    box = MailBox()
    port = free_port()  # Controller cannot wait for its own port 0
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def mailbox(smtp_server: tuple[MailBox, int]) -> tuple[MailBox, int]:
    box, port = smtp_server
    with box.lock:
        box.envelopes.clear()
        box.sessions.clear()
    return box, port


SMTP_LOGIN = ("desk-bot", "s3cret pass")


def _authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                  auth_data: object) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode(), auth_data.password.decode()) == SMTP_LOGIN
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


@dataclass(frozen=True)
class TlsMail:
    """Two SMTP servers with a certificate from a private CA, both checking logins: one on
    STARTTLS (refusing mail before it and login), one on implicit TLS. `ca_file` trusts them."""

    box: MailBox
    starttls_port: int
    tls_port: int
    ca_file: Path


@pytest.fixture(scope="session")
def tls_smtp_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsMail]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    ca_file = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    box = MailBox()
    starttls_port, tls_port = free_port(), free_port()
    starttls = Controller(box, hostname="127.0.0.1", port=starttls_port,
                          tls_context=server_ctx, require_starttls=True,
                          authenticator=_authenticate, auth_required=True)
    implicit = Controller(box, hostname="127.0.0.1", port=tls_port, ssl_context=server_ctx,
                          authenticator=_authenticate,  # the tests check the login
                          auth_require_tls=False)  # the whole session is already TLS
    starttls.start()
    implicit.start()
    try:
        yield TlsMail(box, starttls_port, tls_port, ca_file)
    finally:
        starttls.stop()
        implicit.stop()


@pytest.fixture
def tls_mailbox(tls_smtp_servers: TlsMail) -> TlsMail:
    box = tls_smtp_servers.box
    with box.lock:
        box.envelopes.clear()
        box.sessions.clear()
    return tls_smtp_servers


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh schema name in the test database (created by whoever opens the store in it),
    dropped after the test. Skips without the server; fails under CI=true."""
    pgtest.require_server(IN_CI)
    schema = pgtest.new_schema_name()
    try:
        yield schema
    finally:
        pgtest.drop_schema(schema)


@pytest.fixture
def pg_url(pg_schema: str) -> str:
    """A postgresql:// URL whose tables go in this test's own schema."""
    return pgtest.schema_url(pg_schema)
