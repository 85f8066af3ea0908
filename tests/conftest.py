"""Fixtures shared by every test module. Expensive servers are session-scoped."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

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
        with self.lock:
            self.envelopes.append(envelope)
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
    return box, port


