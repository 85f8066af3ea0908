"""Hostile feed bodies served by a local server, fetched and parsed as the service does
(issue 17): one bad character reference costs that character, never the entry or feed;
every text field of an alert is plain text whatever the feed declared, links only http(s)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from watcher.config.settings import FetchSettings
from watcher.feeds.fetch import fetch_feed, make_client
from watcher.feeds.parse import article_from_record, parse_feed
from watcher.matching.alerts import build_alerts
from watcher.matching.matcher import compile_rules, match_article
from watcher.models import ArticleIn, ParseOutcome
from watcher.rules.load import load_rules

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


TAG_LIKE = re.compile(r"<[A-Za-z/!?]")
RULES = ("rules:\n  - id: convoy\n    title: Convoy\n    severity: high\n"
         "    match: {words: [convoy]}\n")


def alert_texts(outcome: ParseOutcome) -> list[dict[str, object]]:
    """The JSON each alert of the parsed articles would send (rule: the word convoy)."""
    matcher = compile_rules(load_rules([], {"rules.yaml": RULES}))
    now = datetime(2026, 12, 4, tzinfo=UTC)
    return [alert.to_dict() for article in outcome.articles
            for alert in build_alerts(article, match_article(matcher, article), now)]


def assert_plain(sent: dict[str, object]) -> None:
    article = sent["article"]
    assert isinstance(article, dict)
    for name in ("title", "summary", "source"):
        assert not TAG_LIKE.search(str(article[name])), (name, article[name])
    assert article["url"] is None or str(article["url"]).startswith(("http://", "https://"))
    matched = sent["matched"]
    assert isinstance(matched, list)
    for term in matched:  # offsets still point at the text the alert carries
        assert article[term["field"]][term["start"]:term["end"]] == term["text"]


@pytest.mark.parametrize(("items", "title"), [
    # RSS: feedparser calls a title plain text unless every tag is on its safe list
    (ITEM.format(title="Convoy &lt;script&gt;alert(1)&lt;/script&gt; near Tabqa", n=1,
                 extra=""), "Convoy near Tabqa"),
    (ITEM.format(title="Convoy &lt;img src=x onerror=alert(1)&gt; near Tabqa", n=1,
                 extra=""), "Convoy near Tabqa"),
    (ITEM.format(title="Convoy <![CDATA[<svg onload=alert(1)>x</svg>]]> near", n=1,
                 extra=""), "Convoy near"),
    # markup escaped twice inside an HTML description
    (ITEM.format(title="Convoy", n=1, extra="<description>&amp;lt;script&amp;gt;alert(1)"
                 "&amp;lt;/script&amp;gt;Seen &lt;b&gt;today&lt;/b&gt;</description>"),
     "Convoy"),
    # links that are not http(s) are dropped
    ("<item><title>Convoy</title><link>javascript:alert(1)</link></item>", "Convoy"),
    ("<item><title>Convoy</title><link>data:text/html,&lt;b&gt;x</link></item>", "Convoy"),
])
async def test_rss_fields_reach_receivers_as_plain_text(server: HTTPServer, items: str,
                                                         title: str) -> None:
    outcome = await served(server, RSS.format(items=items).encode(), "application/rss+xml")
    [sent] = alert_texts(outcome)
    assert_plain(sent)
    article = sent["article"]
    assert isinstance(article, dict) and article["title"] == title


async def test_atom_text_typed_fields_are_plain_text(server: HTTPServer) -> None:
    body = (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>Desk</title><entry>'
            b'<title type="text">Convoy &lt;iframe src=//evil&gt;&lt;/iframe&gt; at dawn</title>'
            b'<id>urn:1</id><link href="vbscript:msgbox"/>'
            b'<summary type="text">Seen &lt;a href="javascript:x"&gt;here&lt;/a&gt;</summary>'
            b'</entry></feed>')
    [sent] = alert_texts(await served(server, body, "application/atom+xml"))
    assert_plain(sent)
    article = sent["article"]
    assert isinstance(article, dict)
    assert (article["title"], article["summary"], article["url"]) == (
        "Convoy at dawn", "Seen here", None)


async def test_json_feed_plain_fields_are_plain_text(server: HTTPServer) -> None:
    doc = {"version": JSON_FEED, "items": [{
        "id": "1", "url": "javascript:alert(1)", "title": "Convoy <b onmouseover=x>moves</b>",
        "summary": "<script>alert(1)</script>Near Tabqa", "content_text": "x < y holds"}]}
    outcome = await served(server, json.dumps(doc).encode(), "application/feed+json")
    [sent] = alert_texts(outcome)
    assert_plain(sent)
    assert outcome.articles[0].content == "x < y holds"  # a lone '<' is text, kept
    assert outcome.articles[0].summary == "Near Tabqa"


def test_a_feed_title_used_as_source_is_plain_text() -> None:
    body = RSS.format(items=ITEM.format(title="Convoy", n=1, extra="")).encode()
    outcome = parse_feed(body, feed_id="desk", source="<i>Desk</i> &amp; co", url="x.xml")
    assert outcome.articles[0].source == "Desk & co"


def test_match_input_fields_are_plain_text() -> None:
    record = ArticleIn(title="Convoy <script>x</script>", summary="&lt;b&gt;y&lt;/b&gt;",
                       url="javascript:alert(1)", source="<b>wire</b>")
    article = article_from_record(record)
    assert (article.title, article.summary, article.url, article.source) == (
        "Convoy", "y", None, "wire")
