"""parse_feed and friends: feed bytes in, plain-text articles out. Fixtures are our own."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from watcher.feeds.fastparse import read_plain_rss
from watcher.feeds.parse import (
    MAX_FIELD_CHARS,
    MAX_TITLE_CHARS,
    article_from_record,
    article_key,
    defuse_dtd,
    normalize_language,
    parse_feed,
    read_feed,
)
from watcher.models import ArticleIn

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
FEED_URL = "https://feeds.example.org/x/feed"


def parse(body: bytes, **kwargs: Any) -> Any:
    kwargs.setdefault("url", FEED_URL)
    return parse_feed(body, feed_id="fx", source="Fixture", **kwargs)


def rss(items: str, *, declaration: str = '<?xml version="1.0" encoding="utf-8"?>\n',
        channel: str = "") -> str:
    return (f"{declaration}<rss version=\"2.0\"><channel><title>T</title>{channel}"
            f"{items}</channel></rss>")


@pytest.mark.parametrize(("fixture", "index", "expected"), [
    ("rss2.xml", 0, {
        "title": "Convoy reaches the river crossing & unloads",
        "url": "https://wire.example.org/stories/convoy?id=7",
        "summary": "Trucks carrying flour crossed at dawn.\n\nAid workers counted 14 vehicles.",
        "content": "", "source": "Fixture", "language": "en",
        "published": datetime(2026, 3, 3, 6, 15, tzinfo=UTC)}),
    ("rss2.xml", 1, {
        "title": "Officials\u2019 statement on the \"ceasefire\" talks",
        "url": "https://feeds.example.org/stories/statement",
        "summary": "Talks resumed late on Monday & ran overnight.",
        "content": "Talks resumed late on Monday.\n\nBoth delegations left without comment.",
        "published": datetime(2026, 3, 3, 9, 0, tzinfo=UTC)}),
    ("rss2.xml", 2, {
        "title": "Undated bulletin without a guid",
        "url": "https://feeds.example.org/x/stories/bulletin", "published": None}),
    ("atom.xml", 0, {
        "title": "Le convoi est arrivé",
        "url": "https://feeds.example.org/desk/2026/03/convoi",
        "summary": "Un résumé en texte brut : 3 < 4.",
        "content": "Premier paragraphe.\n\nSecond paragraphe.", "language": "fr",
        "published": datetime(2026, 3, 3, 9, 0, tzinfo=UTC)}),
    ("atom.xml", 1, {
        "title": "Second entry, only content", "url": "https://elsewhere.example.net/story/2",
        "summary": "Inline XHTML body.", "content": "", "language": "en",
        "published": datetime(2026, 3, 3, 4, 30, tzinfo=UTC)}),
    ("rss1.rdf", 0, {
        "title": "Erste Meldung", "url": "https://rdf.example.org/a", "language": "de",
        "summary": "Eine erfundene Meldung.",
        "published": datetime(2026, 3, 1, 11, 0, tzinfo=UTC)}),
    ("rss1.rdf", 1, {"title": "Zweite Meldung", "published": None}),
    ("feed.json", 0, {
        "title": "Primera nota", "url": "https://feeds.example.org/notas/1",
        "content": "Texto inventado.", "summary": "", "language": "es",
        "published": datetime(2026, 3, 3, 7, 0, tzinfo=UTC)}),
    ("feed.json", 1, {
        "title": "Segunda nota", "url": "https://other.example.org/x",
        "summary": "Resumen breve.", "content": "Solo texto.", "language": "en",
        "published": None}),
])
def test_fixture_entries(fixture: str, index: int, expected: dict[str, Any]) -> None:
    outcome = parse((FIXTURES / fixture).read_bytes())
    assert outcome.error is None and outcome.warning is None
    article = outcome.articles[index]
    assert {name: getattr(article, name) for name in expected} == expected
    assert len(article.key) == 32 and int(article.key, 16) >= 0


@pytest.mark.parametrize(("fixture", "count"), [
    ("rss2.xml", 3), ("atom.xml", 2), ("rss1.rdf", 2), ("feed.json", 2)])
def test_fixture_counts_and_unique_keys(fixture: str, count: int) -> None:
    articles = parse((FIXTURES / fixture).read_bytes()).articles
    assert len(articles) == count == len({a.key for a in articles})


def test_script_and_style_never_reach_the_text() -> None:
    for fixture in ("rss2.xml", "feed.json"):
        for article in parse((FIXTURES / fixture).read_bytes()).articles:
            for text in (article.title, article.summary, article.content):
                assert "tracking" not in text and "alert(" not in text and "color" not in text


@pytest.mark.parametrize(("body", "content_type", "title"), [
    # Encoding given only by the HTTP header: no XML declaration, no BOM.
    (rss("<item><title>Колонна вышла из города</title></item>", declaration="")
     .encode("windows-1251"), "application/rss+xml; charset=windows-1251",
     "Колонна вышла из города"),
    (rss("<item><title>Convoi arrivé à Gao</title></item>", declaration="")
     .encode("iso-8859-1"), "text/xml; charset=ISO-8859-1", "Convoi arrivé à Gao"),
    # The header wins over a wrong declaration in the document.
    (rss("<item><title>Überfall</title></item>",
         declaration='<?xml version="1.0" encoding="utf-8"?>').encode("iso-8859-1"),
     "application/xml; charset=iso-8859-1", "Überfall"),
    # Declared in the prolog only.
    (rss("<item><title>Ataque en Mopti</title></item>",
         declaration='<?xml version="1.0" encoding="iso-8859-1"?>').encode("iso-8859-1"),
     None, "Ataque en Mopti"),
    # UTF-8 with a byte-order mark, with and without a declaration.
    (b"\xef\xbb\xbf" + rss("<item><title>Дрон над Харковом</title></item>").encode(),
     None, "Дрон над Харковом"),
    (b"\xef\xbb\xbf" + rss("<item><title>قافلة</title></item>", declaration="").encode(),
     "application/rss+xml", "قافلة"),
    # Whitespace before the declaration (not well-formed, still read).
    (b"\n  " + rss("<item><title>Leading blank</title></item>").encode(), None,
     "Leading blank"),
])
def test_encodings(body: bytes, content_type: str | None, title: str) -> None:
    outcome = parse(body, content_type=content_type)
    assert outcome.error is None
    assert [a.title for a in outcome.articles] == [title]


def test_encoding_in_header_only_is_needed() -> None:
    body = rss("<item><title>Колонна</title></item>", declaration="").encode("windows-1251")
    assert parse(body).articles[0].title != "Колонна"


@pytest.mark.parametrize(("items", "field", "expected"), [
    ("<item><title>A &amp; B &lt;tag&gt;</title></item>", "title", "A & B"),  # no markup
    ("<item><title><![CDATA[Raw <b>bold</b> & more]]></title></item>", "title",
     "Raw bold & more"),
    ("<item><title>Line\n   broken\ttitle</title></item>", "title", "Line broken title"),
    ("<item><title>t</title><description><![CDATA[<p>a</p><p>b</p>]]></description></item>",
     "summary", "a\n\nb"),
    ("<item><title>t</title><description>&lt;p&gt;escaped &amp;amp; html&lt;/p&gt;"
     "</description></item>", "summary", "escaped & html"),
    ("<item><title>t</title><link>../up/one</link></item>", "url",
     "https://feeds.example.org/up/one"),
    ("<item><title>t</title><link>https://a.example/x?utm_campaign=c</link></item>", "url",
     "https://a.example/x"),
    ("<item><title>t</title><link>javascript:alert(1)</link></item>", "url", None),
    ("<item><title>t</title><pubDate>Mon, 02 Mar 2026 23:00:00 -0300</pubDate></item>",
     "published", datetime(2026, 3, 3, 2, 0, tzinfo=UTC)),
    ("<item><title>t</title><pubDate>not a date</pubDate></item>", "published", None),
    ("<item><title>t</title></item>", "language", "pt"),
])
def test_entry_fields(items: str, field: str, expected: Any) -> None:
    outcome = parse(rss(items).encode(), language="pt-BR")
    assert getattr(outcome.articles[0], field) == expected


def test_feed_language_beats_the_configured_one() -> None:
    body = rss("<item><title>t</title></item>", channel="<language>en-us</language>")
    assert parse(body.encode(), language="fr").articles[0].language == "en"


@pytest.mark.parametrize(("value", "code"), [
    ("en", "en"), ("en-US", "en"), ("EN_gb", "en"), ("IT-it", "it"), ("eng", "en"),
    ("English", "en"), ("zh-Hans-CN", "zh"), ("", None), (None, None), ("x-klingon", None),
    ("123", None)])
def test_normalize_language(value: str | None, code: str | None) -> None:
    assert normalize_language(value) == code


def test_huge_entry_is_truncated() -> None:
    body = rss(f"<item><title>{'T' * 5000}</title><description>{'word ' * 60_000}"
               "</description></item>").encode()
    article = parse(body).articles[0]
    assert len(article.title) == MAX_TITLE_CHARS
    assert len(article.summary) == MAX_FIELD_CHARS


def test_malformed_feed_with_entries_gives_articles_and_a_warning() -> None:
    body = rss("<item><title>Fish & chips</title></item><item><title>ok</title></item>")
    outcome = parse(body.encode())
    assert outcome.error is None and outcome.warning
    assert [a.title for a in outcome.articles] == ["Fish & chips", "ok"]


@pytest.mark.parametrize("body", [
    (FIXTURES / "not-a-feed.html").read_bytes(),
    b"", b"\x00\x01\x02 garbage \xff\xfe", b"just some words",
    b"<note><to>x</to></note>",
    b'{"version": "1", "items": []}', b'[1, 2]', b'{"version": "https://jsonfeed.org/ver',
    b'{"version": "https://jsonfeed.org/version/1.1", "items": "none"}',
    b"/etc/passwd",  # feedparser opens a str/bytes argument as a file name; never ours
])
def test_not_a_feed_is_an_error_without_articles(body: bytes) -> None:
    outcome = parse(body)
    assert outcome.error and outcome.articles == []


def test_empty_but_valid_feed_is_no_error() -> None:
    outcome = parse(rss("").encode())
    assert outcome.error is None and outcome.articles == []


def billion_laughs(*, one_line: bool) -> bytes:
    sep = "" if one_line else "\n"
    decls = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{(f"&lol{i - 1};" if i > 1 else "&lol;") * 10}">'
        for i in range(1, 10)]
    return (f'<?xml version="1.0"?>\n<!DOCTYPE rss [{sep}{sep.join(decls)}{sep}]>\n'
            + rss("<item><title>Bomb &lol9;</title><description>&lol9;</description></item>",
                  declaration="")).encode()


def quadratic_blowup() -> bytes:
    # One 50 kB entity referenced 100,000 times: 5 GB if expanded. Expat refuses it, but
    # feedparser's loose fallback would expand it without limit.
    return ('<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "' + "A" * 50_000 + '">\n]>\n'
            + rss("<item><title>Quad</title><description>" + "&a;" * 100_000
                  + "</description></item>", declaration="")).encode()


@pytest.mark.parametrize(("body", "title"), [
    (billion_laughs(one_line=False), "Bomb"),
    (billion_laughs(one_line=True), "Bomb"),
    (quadratic_blowup(), "Quad"),
])
def test_entity_bombs_are_neutralised(body: bytes, title: str) -> None:
    started = time.perf_counter()
    outcome = parse(body)
    assert time.perf_counter() - started < 10
    assert outcome.error is None
    assert outcome.warning and "entity declarations removed" in outcome.warning
    [article] = outcome.articles
    assert article.title == title
    assert len(article.summary) < 1000


def test_external_entities_are_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    body = (f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY x SYSTEM "{secret.as_uri()}">'
            '\n]>\n' + rss("<item><title>x &x;</title></item>", declaration="")).encode()
    outcome = parse(body)
    assert "TOP-SECRET" not in outcome.articles[0].title


def test_harmless_entity_declarations_still_work() -> None:
    body = ('<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY nbsp "&#160;">\n'
            '<!ENTITY org "UNHCR">\n]>\n'
            + rss("<item><title>a&nbsp;b &org;</title></item>", declaration="")).encode()
    outcome = parse(body)
    assert outcome.warning is None
    assert outcome.articles[0].title == "a b UNHCR"


@pytest.mark.parametrize("body", [
    b'<?xml version="1.0"?><rss version="0.91"><channel/></rss>',
    b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
    b'"http://my.netscape.com/publish/formats/rss-0.91.dtd">\n<rss version="0.91"/>',
])
def test_defuse_leaves_documents_without_an_internal_subset_alone(body: bytes) -> None:
    assert defuse_dtd(body) == (body, False)


def test_shared_links_and_guids_do_not_merge_entries() -> None:
    items = "".join(
        f"<item><guid>same</guid><title>Episode {n}</title><link>https://show.example/"
        f"</link><description>Notes {n}</description></item>" for n in range(3))
    articles = parse(rss(items).encode()).articles
    assert len({a.key for a in articles}) == 3


def test_anchor_guids_on_one_page_stay_distinct() -> None:
    items = "".join(f"<item><guid>https://blog.example/2026/03/03.html#a{n}</guid>"
                    f"<description>Post {n}</description></item>" for n in range(3))
    articles = parse(rss(items).encode()).articles
    assert len({a.key for a in articles}) == 3
    assert articles[0].url == "https://blog.example/2026/03/03.html#a0"


LINK = "https://a.example/s"


@pytest.mark.parametrize(("one", "other", "same"), [
    # The same entry, spelled otherwise or seen from elsewhere: the same key.
    ({"link": f"{LINK}?utm_source=x", "guid": "g1"},
     {"link": "https://A.example:443/s#frag", "guid": "g1"}, True),
    ({"link": LINK, "guid": "g1"}, {"link": LINK, "guid": "g1", "feed_id": "other"}, True),
    ({"link": LINK, "guid": "g1"}, {"link": LINK, "guid": "g1", "summary": "edited"}, True),
    ({"link": None, "guid": "g1"}, {"link": None, "guid": "g1", "summary": "edited"}, True),
    # Entries that share a link or a guid are still apart.
    ({"link": LINK, "guid": "g1"}, {"link": LINK, "guid": "g2"}, False),
    ({"link": LINK, "guid": "g1"}, {"link": "https://a.example/t", "guid": "g1"}, False),
    ({"link": LINK, "guid": "g1"}, {"link": LINK, "guid": "g1", "title": "other"}, False),
    ({"link": LINK, "title": ""}, {"link": LINK, "title": "", "summary": "other"}, False),
    ({"link": None, "guid": "g1"}, {"link": None, "guid": "g1", "feed_id": "other"}, False),
    ({"link": None, "guid": None}, {"link": None, "guid": None, "feed_id": "other"}, False),
    ({"link": None, "guid": None}, {"link": None, "guid": None, "title": "changed"}, False),
])
def test_article_key(one: dict[str, Any], other: dict[str, Any], same: bool) -> None:
    def key(fields: dict[str, Any]) -> str:
        args = {"feed_id": "f", "guid": None, "title": "t", "summary": "s", **fields}
        return article_key(**args)
    assert (key(one) == key(other)) is same
    assert len(key(one)) == 32


Item = tuple[str | None, str | None, str]  # guid, link, title


def items(*entries: Item) -> bytes:
    return rss("".join(
        "<item>" + (f"<guid isPermaLink='false'>{guid}</guid>" if guid else "")
        + (f"<link>{link}</link>" if link else "") + f"<title>{title}</title></item>"
        for guid, link, title in entries)).encode()


def new_in_second_poll(first: list[Item], second: list[Item]) -> list[str]:
    """Titles of the second document that are new after the first was recorded, by the
    pipeline's rule: seen when its key or any alias was recorded."""
    recorded = {n for a in parse(items(*first)).articles for n in (a.key, *a.aliases)}
    return [a.title for a in parse(items(*second)).articles
            if not recorded.intersection((a.key, *a.aliases))]


A = ("a1", "https://news.example/a", "Convoy leaves Raqqa")
SHOW = "https://radio.example/show"


@pytest.mark.parametrize(("first", "second", "new"), [
    # Issues 2 and 4: a later entry shares A's link, or A's guid; A is not new again.
    ([("a1", SHOW, "A")], [("b2", SHOW, "B"), ("a1", SHOW, "A")], ["B"]),
    ([("story", None, "A")], [("story", None, "B"), ("story", None, "A")], ["B"]),
    ([("story", "https://x.example/a", "A")],
     [("story", "https://x.example/b", "B"), ("story", "https://x.example/a", "A")], ["B"]),
    ([(None, SHOW, "A")], [(None, SHOW, "B"), (None, SHOW, "A")], ["B"]),
    ([("same", SHOW, "A"), ("same", SHOW, "B")],
     [("same", SHOW, "C"), ("same", SHOW, "A"), ("same", SHOW, "B")], ["C"]),
    # Every entry links to the home page: each is its own, also alone in its document.
    ([("e1", "https://radio.example/", "One")], [("e2", "https://radio.example", "Two")],
     ["Two"]),
    # Anchored posts on one day page.
    ([("https://blog.example/d.html#a1", None, "")],
     [("https://blog.example/d.html#a2", None, ""), ("https://blog.example/d.html#a1", None, "")],
     [""]),
    # The same story again: a new guid, a tracking link, an edited title, a moved link.
    ([A], [("a1-republished", "https://news.example/a?utm_source=rss", "Convoy leaves Raqqa")],
     []),
    ([A], [("cms-2", "https://NEWS.example/a#top", "Convoy leaves Raqqa (updated)")], []),
    ([A], [("a1", "https://news.example/a-corrected", "Convoy left Raqqa")], []),
    ([A], [A, ("a2", "https://news.example/b", "Convoy reaches Tabqa")],
     ["Convoy reaches Tabqa"]),
])
def test_what_is_new_in_a_second_poll(first: list[Item], second: list[Item],
                                      new: list[str]) -> None:
    assert new_in_second_poll(first, second) == new


def test_an_entry_keeps_its_key_whatever_appears_beside_it() -> None:
    alone = parse(items(A)).articles[0]
    crowded = parse(items(("b", A[1], "Other"), ("c", A[1], "More"), A,
                          ("a1", "https://news.example/z", "Z"))).articles[2]
    assert crowded.title == A[2] and crowded.key == alone.key
    # Its link and guid are shared, so they name none of them: its text does.
    text = f"text\x1ffx\x1f{A[2]}\x1f"
    assert crowded.aliases == (hashlib.sha256(text.encode()).hexdigest()[:32],)
    assert set(alone.aliases) == {
        hashlib.sha256(f"url\x1f{A[1]}".encode()).hexdigest()[:32],  # the keys of before
        hashlib.sha256(f"guid\x1ffx\x1f{A[0]}".encode()).hexdigest()[:32]}


@pytest.mark.parametrize(("record", "expected"), [
    ({"title": "<b>Convoy</b> &amp; escort", "summary": "<p>a</p><p>b</p>"},
     {"title": "Convoy & escort", "summary": "a\n\nb", "url": None}),
    ({"title": "plain", "content": "kept\n\nas it was", "source": "desk"},
     {"content": "kept\n\nas it was", "source": "desk"}),
    ({"title": "t", "url": "https://x.example/a?utm_source=s", "language": "en-GB",
      "published": "2026-03-03T10:00:00"},
     {"url": "https://x.example/a", "language": "en",
      "published": datetime(2026, 3, 3, 10, 0, tzinfo=UTC)}),
    ({"title": "t", "published": "2026-03-03T10:00:00+02:00"},
     {"published": datetime(2026, 3, 3, 8, 0, tzinfo=UTC), "source": "stdin"}),
])
def test_article_from_record(record: dict[str, Any], expected: dict[str, Any]) -> None:
    article = article_from_record(ArticleIn.model_validate(record), default_source="stdin")
    assert {name: getattr(article, name) for name in expected} == expected


def test_record_key_prefers_id_then_url_then_text() -> None:
    def key(**fields: Any) -> str:
        return article_from_record(ArticleIn.model_validate({"title": "t", **fields})).key
    assert key(id="a1", url="https://x/1") == key(id="a1", url="https://x/2")
    assert key(url="https://x/1?utm_source=q") == key(url="https://x/1", summary="other")
    assert key(summary="one") != key(summary="two")
    assert key(summary="one") == key(summary="one")


def test_relative_links_fall_back_to_the_channel_link_without_a_feed_url() -> None:
    body = rss("<item><title>t</title><link>/story/1</link></item>",
               channel="<link>https://site.example/news/</link>")
    outcome = parse_feed(body.encode(), feed_id="stdin", source="<stdin>", url="<stdin>")
    assert outcome.articles[0].url == "https://site.example/story/1"


def test_rss_091_without_guids_or_dates() -> None:
    outcome = parse((FIXTURES / "rss091.xml").read_bytes(), url="https://wire.example.net/rss")
    assert outcome.error is None
    first, second = outcome.articles
    assert first.title == "Réfugiés bloqués à la frontière" and first.language == "fr"
    assert first.published is None and first.url == "https://wire.example.net/bulletins/1"
    assert second.url == "https://wire.example.net/bulletins/2"  # resolved against the feed
    assert first.key != second.key


@pytest.mark.parametrize(("date", "expected"), [
    ("Tue, 03 Mar 2026 08:15:00 GMT", datetime(2026, 3, 3, 8, 15, tzinfo=UTC)),
    ("Tue, 3 Mar 2026 08:15 +0100", datetime(2026, 3, 3, 7, 15, tzinfo=UTC)),
    ("2026-03-03T08:15:00Z", datetime(2026, 3, 3, 8, 15, tzinfo=UTC)),
    ("2026-03-03 08:15:00", datetime(2026, 3, 3, 8, 15, tzinfo=UTC)),
    ("Tuesday, March 3, 2026", None),
    ("03/03/2026", None),
    ("", None),
])
def test_odd_dates(date: str, expected: datetime | None) -> None:
    outcome = parse(rss(f"<item><title>t</title><pubDate>{date}</pubDate></item>").encode())
    assert outcome.error is None and outcome.articles[0].published == expected


def test_html_entities_undeclared_in_xml_are_decoded_with_a_warning() -> None:
    body = rss("<item><title>Caf&eacute; bombing &mdash; 3&nbsp;dead</title></item>").encode()
    outcome = parse(body)
    assert outcome.error is None and outcome.warning
    assert outcome.articles[0].title == "Café bombing — 3 dead"


def test_entries_are_keyed_before_their_html_is_reduced_and_seen_ones_never_are() -> None:
    body = rss("".join(
        f"<item><guid>g{n}</guid><title>Story {n}</title>"
        f"<link>https://news.example.org/{n}</link>"
        f"<description>&lt;p&gt;Body &lt;b&gt;{n}&lt;/b&gt;&lt;/p&gt;</description></item>"
        for n in range(3))).encode()
    parsed = read_feed(body, feed_id="fx", source="Fixture", url=FEED_URL)
    whole = parse(body).articles
    assert [k for k, _, _ in parsed.entries] == [a.key for a in whole]
    assert not any(entry._summary is not None for _, _, entry in parsed.entries)  # not yet
    wanted = {whole[1].key, *whole[1].aliases}
    assert parsed.articles(wanted) == [whole[1]]
    reduced = [entry._summary is not None for _, _, entry in parsed.entries]
    assert reduced == [False, True, False]


PLAIN_ITEMS = (
    "<item><guid>https://news.example.org/p1</guid><title>A &amp; B: talks &lt;b&gt;resume"
    "&lt;/b&gt;</title><description><![CDATA[<p>Convoy <script>x()</script>waits.</p>]]>"
    "</description><pubDate>Wed, 25 Nov 2026 10:00:00 GMT</pubDate></item>"
    "<item><guid isPermaLink='false'>g2</guid><title>Caf\u00c3\u00a9 \u0080 price</title>"
    "<link>https://news.example.org/p2?a=1&amp;amp;b=2</link>"
    "<content:encoded>&lt;p&gt;Full text&lt;/p&gt;</content:encoded>"
    "<dc:date>2026-11-25T09:00:00Z</dc:date></item>"
    "<item><title>No link, no guid</title><description>Plain words</description></item>"
    "<item><guid>relative/3</guid><link>/p3</link><title/><description/></item>")
PLAIN = ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
         'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
         'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>T</title>'
         f'<language>en-GB</language>{PLAIN_ITEMS}</channel></rss>')


@pytest.mark.parametrize(("body", "fast"), [
    (PLAIN, True),
    (PLAIN.replace("<channel>", '<channel xml:lang="fr">'), False),
    (PLAIN.replace("<rss ", '<!DOCTYPE rss [<!ENTITY a "b">]><rss '), False),
    (PLAIN.replace("Plain words", "Plain &nbsp; words"), False),  # undefined entity
    (PLAIN.replace('version="2.0"', 'version="0.91"'), False),
    (PLAIN.replace("<title/>", "<title type='html'/>"), False),
    (PLAIN.replace("<title/>", "<title/><media:title xmlns:media='http://search.yahoo.com/mrss/'"
                               ">M</media:title>"), False),
    (PLAIN.replace("<title/>", "<title/><title>twice</title>"), False),
    (PLAIN.replace('encoding="UTF-8"', 'encoding="iso-8859-1"'), False),
])
@pytest.mark.parametrize("content_type", [None, "application/rss+xml", "text/xml"])
def test_fast_path_reads_plain_rss_as_feedparser_and_leaves_the_rest(
        body: str, fast: bool, content_type: str | None) -> None:
    data = body.encode("utf-8")
    taken = read_plain_rss(data, FEED_URL, content_type) is not None
    assert taken == (fast and content_type != "text/xml")
    quick = read_feed(data, feed_id="fx", source="S", url=FEED_URL, content_type=content_type)
    slow = read_feed(data, feed_id="fx", source="S", url=FEED_URL, content_type=content_type,
                     fast=False)
    assert (quick.error, quick.warning) == (slow.error, slow.warning)
    assert quick.articles() == slow.articles()
    assert len(slow.articles()) == 4
