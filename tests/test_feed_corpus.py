"""Real-world feeds from the team's shared data (not copied into the project): every file
parses without an exception, article counts agree with feedparser's own, and non-feeds are
refused. Every file is also served over local HTTP and polled by the real pipeline into a
real SQLite store."""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser
import pytest
from pytest_httpserver import HTTPServer

from tests.conftest import SHARED_DATA, require_shared_data
from watcher.config.settings import Config, FeedConfig, FetchSettings
from watcher.feeds.fastparse import read_plain_rss
from watcher.feeds.fetch import fetch_feed, make_client
from watcher.feeds.parse import MAX_FIELD_CHARS, MAX_TITLE_CHARS, parse_feed, read_feed
from watcher.matching.matcher import Matcher, compile_rules
from watcher.models import Article
from watcher.pipeline import Pipeline, poll_feed
from watcher.rules.load import RuleSet
from watcher.store import open_store

CORPUS = ("feeds/news", "feeds/wild")
NOT_FEEDS = ("not-a-feed", "instead-of-feed")


def corpus_files() -> list[str]:
    if not SHARED_DATA.is_dir():
        return ["(shared data missing)"]
    return sorted(str(p.relative_to(SHARED_DATA)) for folder in CORPUS
                  for p in (SHARED_DATA / folder).iterdir() if p.is_file())


def read(name: str) -> bytes:
    return (require_shared_data() / name).read_bytes()


@functools.cache
def feedparser_entries(body: bytes) -> int:
    """Entries feedparser itself finds (cached: two tests ask, and it is the slow part)."""
    return len(feedparser.parse(io.BytesIO(body)).entries)


FAST_PATH_FILES = 15  # plain RSS 2.0 files of the corpus the fast path reads (fastparse.py)


def both_paths(name: str, url: str, content_type: str | None) -> tuple[Any, Any, bool]:
    body = read(name)
    slow = read_feed(body, feed_id="corpus", source="Corpus", url=url,
                     content_type=content_type, fast=False)
    fast = read_feed(body, feed_id="corpus", source="Corpus", url=url,
                     content_type=content_type)
    return slow, fast, read_plain_rss(body, url, content_type) is not None


@pytest.mark.parametrize(("url", "content_type"), [
    ("https://feeds.example.org/x/feed", None),
    ("http://feeds.example.org/deep/path/feed.xml", "application/rss+xml; charset=utf-8"),
])
@pytest.mark.parametrize("name", corpus_files())
def test_fast_path_articles_are_feedparsers_field_by_field(name: str, url: str,
                                                           content_type: str | None) -> None:
    slow, fast, _ = both_paths(name, url, content_type)
    assert (fast.error, fast.warning) == (slow.error, slow.warning)
    slow_articles, fast_articles = slow.articles(), fast.articles()
    assert len(fast_articles) == len(slow_articles)
    for mine, theirs in zip(fast_articles, slow_articles, strict=True):
        for field in Article.model_fields:
            assert getattr(mine, field) == getattr(theirs, field), (name, field)


def test_the_fast_path_reads_the_plain_rss_of_the_corpus() -> None:
    """So the comparison above compares something: the plain RSS 2.0 feeds take it."""
    taken = [name for name in corpus_files()
             if read_plain_rss(read(name), "https://feeds.example.org/x/feed", None)]
    assert len(taken) >= FAST_PATH_FILES, taken


@pytest.mark.parametrize("name", corpus_files())
def test_corpus_file_parses(name: str) -> None:
    body = read(name)
    outcome = parse_feed(body, feed_id="corpus", source="Corpus",
                         url="https://feeds.example.org/feed")
    if any(marker in name for marker in NOT_FEEDS):
        assert outcome.error or not outcome.articles
        return
    if name.endswith(".json"):
        try:
            items = json.loads(body)["items"]
        except ValueError:
            assert outcome.error and not outcome.articles  # a truncated JSON Feed
            return
        assert outcome.error is None and len(outcome.articles) == len(items)
    else:
        assert outcome.error is None, outcome.error
        assert len(outcome.articles) == feedparser_entries(body)
    keys = [a.key for a in outcome.articles]
    assert len(set(keys)) == len(keys), "two entries of one document share a key"
    for article in outcome.articles:
        assert len(article.key) == 32
        assert len(article.title) <= MAX_TITLE_CHARS
        assert len(article.summary) <= MAX_FIELD_CHARS >= len(article.content)
        assert article.published is None or article.published.utcoffset() is not None
        assert article.language is None or (len(article.language) == 2
                                            and article.language.islower())
        assert article.url is None or article.url.startswith(("http://", "https://"))


def test_same_story_keeps_its_key_across_snapshots() -> None:
    keys = []
    for n in (1, 2, 3):
        body = read(f"feeds/wild/nodejs-vuln_snapshot-{n}.xml")
        outcome = parse_feed(body, feed_id="nodejs", source="n", url="https://nodejs.org/feed")
        keys.append({a.key for a in outcome.articles})
    assert keys[0] & keys[1] & keys[2]


@pytest.fixture(scope="module")
def site() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1")
    server.start()
    yield server
    server.clear()
    server.stop()


SERVED = [
    ("feeds/news/jornal-de-noticias-pt_2018-01_iso-8859-1.rss",
     "application/rss+xml; charset=ISO-8859-1"),
    ("feeds/news/bbc-urdu.xml", "text/xml"),
    ("feeds/news/reuters-scraped-fulltext_2026-04.xml", "application/rss+xml"),
    ("feeds/wild/ibash-ru_windows-1251.xml", "text/xml; charset=windows-1251"),
    ("feeds/wild/utf8-bom.xml", "application/xml"),
    ("feeds/wild/jsonfeed-1.1_german.json", "application/feed+json"),
    ("feeds/wild/giantbomb-podcast_huge-1.6MB.rss", "application/rss+xml"),
    ("feeds/wild/relative-links_atom.atom", "application/atom+xml"),
]


@pytest.mark.parametrize(("name", "content_type"), SERVED)
async def test_served_feed_end_to_end(site: HTTPServer, name: str, content_type: str) -> None:
    body = read(name)
    site.expect_request(f"/{name}").respond_with_data(body, content_type=content_type,
                                                      headers={"ETag": '"c1"'})
    settings = FetchSettings.model_validate({"allow_addresses": ["127.0.0.1/32", "::1/128"]})
    async with make_client(settings) as client:
        result = await fetch_feed(client, "served", site.url_for(f"/{name}"), etag=None,
                                  last_modified=None, settings=settings, base_dir=Path("."))
    assert result.ok and result.body == body and result.etag == '"c1"'
    assert result.body is not None and result.final_url is not None
    outcome = parse_feed(result.body, feed_id="served", source="Served", url=result.final_url,
                         content_type=result.content_type)
    direct = parse_feed(body, feed_id="served", source="Served", url=result.final_url)
    assert outcome.error is None and outcome.articles
    assert [a.title for a in outcome.articles] == [a.title for a in direct.articles]
    assert all(a.url is None or a.url.startswith("http") for a in outcome.articles)


async def test_served_html_page_is_not_a_feed(site: HTTPServer) -> None:
    name = "feeds/wild/html-page-instead-of-feed_with-autodiscovery.html"
    site.expect_request("/page").respond_with_data(read(name), content_type="text/html")
    settings = FetchSettings.model_validate({"allow_addresses": ["127.0.0.1/32", "::1/128"]})
    async with make_client(settings) as client:
        result = await fetch_feed(client, "page", site.url_for("/page"), etag=None,
                                  last_modified=None, settings=settings, base_dir=Path("."))
    assert result.ok and result.body is not None
    outcome = parse_feed(result.body, feed_id="page", source="Page", url=site.url_for("/page"),
                         content_type=result.content_type)
    assert outcome.error is not None and "HTML page" in outcome.error
    assert outcome.articles == []


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.9])
def test_feed_cut_short_still_parses(fraction: float) -> None:
    body = read("feeds/news/guardian-world_2016-06.xml")
    cut = body[:int(len(body) * fraction)]
    outcome = parse_feed(cut, feed_id="cut", source="Cut", url="https://feeds.example.org/f")
    full = parse_feed(body, feed_id="cut", source="Cut", url="https://feeds.example.org/f")
    assert outcome.error is None and outcome.warning
    assert 0 < len(outcome.articles) <= len(full.articles)


CONTENT_TYPES = {".json": "application/feed+json", ".atom": "application/atom+xml",
                 ".rdf": "application/rdf+xml", ".html": "text/html"}


@pytest.fixture(scope="module")
def empty_matcher() -> Matcher:
    return compile_rules(RuleSet())  # matching is not under test here: see test_shipped_rules


@pytest.mark.parametrize("name", corpus_files())
async def test_corpus_file_ingests_through_the_pipeline(
        site: HTTPServer, empty_matcher: Matcher, tmp_path: Path, name: str) -> None:
    """Served over local HTTP and polled by the real pipeline into a real SQLite store: no
    exception, and as many articles as feedparser finds (a non-feed is a recorded error)."""
    body = read(name)
    content_type = CONTENT_TYPES.get(Path(name).suffix, "application/rss+xml")
    site.expect_request(f"/{name}").respond_with_data(body, content_type=content_type)
    config = Config.model_validate({"base_dir": tmp_path,
                                    "fetch": {"allow_addresses": ["127.0.0.1/32", "::1/128"]}})
    store = await open_store(tmp_path / "w.db")
    try:
        async with make_client(config.fetch) as client:
            pipe = Pipeline(config=config, store=store, client=client, matcher=empty_matcher)
            report = await poll_feed(pipe, FeedConfig(id="corpus", url=site.url_for(f"/{name}")))
        state = await store.load_feed_state("corpus")
    finally:
        await store.close()
    assert state is not None and state.last_attempt is not None
    if any(marker in name for marker in NOT_FEEDS) or name.endswith("truncated.json"):
        assert report.articles == 0 and report.error and state.consecutive_failures == 1
        return
    assert report.error is None and state.last_error is None, report.error
    expected = (len(json.loads(body)["items"]) if name.endswith(".json")
                else feedparser_entries(body))
    assert report.articles == expected
    assert report.new_articles == state.entries_seen == expected
