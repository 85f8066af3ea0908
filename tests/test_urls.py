"""canonical_url: one spelling per story."""

from __future__ import annotations

import pytest

from watcher.feeds.urls import canonical_url, is_http_url


@pytest.mark.parametrize(("url", "canonical"), [
    ("HTTPS://Example.COM:443/a?utm_source=rss&b=2&a=1#top", "https://example.com/a?a=1&b=2"),
    ("http://example.com:80", "http://example.com/"),
    ("http://example.com:8080/x", "http://example.com:8080/x"),
    ("https://example.com/Path/Case", "https://example.com/Path/Case"),
    ("https://example.com/a?fbclid=1&gclid=2&utm_medium=x&UTM_Campaign=y",
     "https://example.com/a"),
    ("https://example.com/a?id=7&mc_cid=3&_ga=1", "https://example.com/a?id=7"),
    ("https://example.com/a?b=1&a=2&b=0", "https://example.com/a?a=2&b=0&b=1"),
    ("https://example.com/app#!/story/9", "https://example.com/app#!/story/9"),
    ("  https://example.com/padded  ", "https://example.com/padded"),
    ("https://example.com./dot", "https://example.com/dot"),
    ("https://user@Example.com/x", "https://user@example.com/x"),
    ("http://[2001:DB8::1]:80/v6", "http://[2001:db8::1]/v6"),
    ("/relative/path", "/relative/path"),
    ("tag:example.com,2026:1", "tag:example.com,2026:1"),
    ("mailto:desk@example.org", "mailto:desk@example.org"),
    ("http://example.com:notaport/", "http://example.com:notaport/"),
    ("", ""),
])
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


def test_canonical_url_is_idempotent() -> None:
    once = canonical_url("HTTP://A.example/x?z=1&utm_term=q&y=2#frag")
    assert canonical_url(once) == once


@pytest.mark.parametrize(("url", "expected"), [
    ("https://example.com/", True), ("http://x", True), ("ftp://x/", False),
    ("/rel", False), ("http://[oops", False), ("https:///nohost", False),
])
def test_is_http_url(url: str, expected: bool) -> None:
    assert is_http_url(url) is expected
