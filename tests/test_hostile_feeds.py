"""Hostile feed bodies served by a local server, fetched and parsed as the service does
(issue 17): one bad character reference costs that character, never the entry or feed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from watcher.config.settings import FetchSettings
from watcher.feeds.fetch import fetch_feed, make_client
from watcher.feeds.parse import parse_feed
from watcher.models import ParseOutcome

SETTINGS = FetchSettings.model_validate({"allow_addresses": ["127.0.0.1/32"], "timeout": 5})
RSS = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Desk</title>'
       '{items}</channel></rss>')
ITEM = "<item><title>{title}</title><link>https://news.example/{n}</link>{extra}</item>"
JSON_FEED = "https://jsonfeed.org/version/1.1"


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    httpd = HTTPServer(host="127.0.0.1")
    httpd.start()
    yield httpd
    httpd.clear()
    httpd.stop()


async def served(server: HTTPServer, body: bytes, content_type: str) -> ParseOutcome:
    """`body` served by the local server, fetched and parsed as a poll does."""
    server.clear()
    server.expect_request("/feed").respond_with_data(body, content_type=content_type)
    async with make_client(SETTINGS) as client:
        result = await fetch_feed(client, "desk", server.url_for("/feed"), etag=None,
                                  last_modified=None, settings=SETTINGS, base_dir=Path("."))
    assert result.ok and result.body is not None, result.error
    return parse_feed(result.body, feed_id="desk", source="Desk", url=server.url_for("/feed"),
                      content_type=result.content_type)


def rss(*titles: str, extra: str = "") -> bytes:
    items = "".join(ITEM.format(title=t, n=n, extra=extra) for n, t in enumerate(titles))
    return RSS.format(items=items).encode()


@pytest.mark.parametrize(("title", "expected"), [
    ("Smile &#55357;&#56832; at the checkpoint", "Smile \U0001F600 at the checkpoint"),
    ("Hex pair &#xD83D;&#xde00; too", "Hex pair \U0001F600 too"),
    ("Lone &#xD800; high", "Lone \ufffd high"),
    ("Lone &#56832; low", "Lone \ufffd low"),
    ("Reversed &#56832;&#55357; pair", "Reversed \ufffd\ufffd pair"),
    ("Nul &#0; and bell &#7;", "Nul \ufffd and bell \ufffd"),
    ("Beyond &#x110000; and &#99999999999999999999;", "Beyond \ufffd and \ufffd"),
    ("Fine &#65;&#x42; and &#233;", "Fine AB and \u00e9"),
])
async def test_a_bad_reference_costs_one_character(server: HTTPServer, title: str,
                                                   expected: str) -> None:
    outcome = await served(server, rss(title, "Next story"), "application/rss+xml")
    assert outcome.error is None
    assert [a.title for a in outcome.articles] == [expected, "Next story"]


async def test_bad_references_in_a_description_keep_the_entry(server: HTTPServer) -> None:
    body = rss("Convoy", extra="<description>A &#xD800; B &amp;#55357;&amp;#56832; C"
                               "</description>")
    [article] = (await served(server, body, "application/rss+xml")).articles
    # The escaped pair is HTML inside the description: decoded by the HTML rules, each half
    # of it a replacement character, like a browser shows it.
    assert article.summary == "A \ufffd B \ufffd\ufffd C"


async def test_a_json_feed_with_lone_surrogates_keeps_its_items(server: HTTPServer) -> None:
    doc = {"version": JSON_FEED, "items": [
        {"id": "1", "title": "a \ud800 b \ud83d\ude00", "url": "https://news.example/1"},
        {"id": "2", "title": "fine", "url": "https://news.example/2"}]}
    body = json.dumps(doc).encode()  # ensure_ascii: the surrogates travel as \\uXXXX
    outcome = await served(server, body, "application/feed+json")
    assert [a.title for a in outcome.articles] == ["a \ufffd b \U0001F600", "fine"]
