"""WebSub's protocol pieces as pure functions (feeds/websub.py): hub discovery from Link
headers and documents, verification parameters, signatures."""

from __future__ import annotations

import pytest

from watcher.feeds.websub import (
    HubLink,
    discover_hub,
    read_intent,
    sign,
    signature_is_valid,
)

FEED = "https://news.example.org/feed.xml"
RSS = b"""<?xml version="1.0"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>
<title>Desk</title>
<atom:link rel="hub" href="https://hub.example.net/?a=1&amp;b=2"/>
<atom:link rel="self" type="application/rss+xml" href="https://news.example.org/rss"/>
<item><title>x</title><atom:link rel="hub" href="https://evil.example/hub"/></item>
</channel></rss>"""
ATOM = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
<link href='/hub' rel='hub' /><entry><title>e</title></entry></feed>"""


@pytest.mark.parametrize(("body", "header", "expected"), [
    (RSS, None, HubLink("https://hub.example.net/?a=1&b=2", "https://news.example.org/rss")),
    (ATOM, None, HubLink("https://news.example.org/hub", FEED)),  # relative; topic: the URL
    (RSS, '<https://h.example/>; rel="hub", <https://news.example.org/self>; rel="self"',
     HubLink("https://h.example/", "https://news.example.org/self")),  # headers win
    (b"<rss><channel><item><link rel='hub' href='https://late.example/'/></item></channel>"
     b"</rss>", None, None),  # a hub inside an entry is not the feed's
    (b"<feed><link rel='hub' href='javascript:alert(1)'/></feed>", None, None),
    (b"<feed><link rel='alternate hub' href='ftp://x/'/></feed>", None, None),
    (b"", "<https://h.example/>; rel=\"next\"", None),
    (b"<feed><link rel='hub' href='http://[bad/'/></feed>", None, None),  # skipped, no raise
    (None, "<http://[::1/>; rel=hub, <https://ok.example/h>; rel=hub", HubLink(
        "https://ok.example/h", FEED)),
    (None, None, None),
])
def test_discover_hub(body: bytes | None, header: str | None, expected: HubLink | None) -> None:
    assert discover_hub(body, header, FEED) == expected


def test_discovery_of_a_huge_hostile_head_is_bounded() -> None:
    body = b"<feed>" + b"<link " + b"x" * 5_000_000 + b">"
    assert discover_hub(body, None, FEED) is None


@pytest.mark.parametrize(("query", "mode", "lease"), [
    ({"hub.mode": "subscribe", "hub.topic": FEED, "hub.challenge": "c1",
      "hub.lease_seconds": "600"}, "subscribe", 600),
    ({"hub.mode": "unsubscribe", "hub.topic": FEED, "hub.challenge": "c1"}, "unsubscribe", None),
    ({"hub.mode": "denied", "hub.topic": FEED, "hub.reason": "no"}, "denied", None),
])
def test_read_intent(query: dict[str, str], mode: str, lease: int | None) -> None:
    intent = read_intent(query)
    assert intent is not None and (intent.mode, intent.topic, intent.lease_seconds) == (
        mode, FEED, lease)


@pytest.mark.parametrize("query", [
    {}, {"hub.mode": "subscribe", "hub.topic": FEED},  # no challenge
    {"hub.mode": "publish", "hub.topic": FEED, "hub.challenge": "c"},
    {"hub.mode": "subscribe", "hub.challenge": "c"},
])
def test_read_intent_refuses_what_is_not_a_verification(query: dict[str, str]) -> None:
    assert read_intent(query) is None


@pytest.mark.parametrize("method", ["sha1", "sha256", "sha384", "sha512"])
def test_signatures_of_every_algorithm(method: str) -> None:
    body = b"<feed>payload</feed>"
    header = sign(body, "s3cret", method)
    assert signature_is_valid(header, body, "s3cret")
    assert signature_is_valid(header.upper().replace(method.upper(), method), body, "s3cret")
    assert not signature_is_valid(header, body + b" ", "s3cret")
    assert not signature_is_valid(header, body, "other")


@pytest.mark.parametrize("header", [None, "", "sha256", "md5=abc", "sha256=zz",
                                    "sha256=" + "0" * 64])
def test_bad_signature_headers(header: str | None) -> None:
    assert not signature_is_valid(header, b"body", "s3cret")
