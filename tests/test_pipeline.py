"""poll_feed and queue_articles in-process, with a real SQLite file and a local HTTP server."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import re
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from tests import pgtest
from tests.localsite import RULES
from watcher.config.settings import Config, FeedConfig
from watcher.feeds.fetch import make_client
from watcher.feeds.health import feed_health, is_due, next_poll_after_success
from watcher.matching.matcher import compile_rules
from watcher.models import Article, FeedState
from watcher.pipeline import Pipeline, failure_backoff, poll_feed, queue_articles
from watcher.rules.load import load_rules
from watcher.store import open_store

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FEED = """<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>
<item><guid>x1</guid><title>Isil convoy leaves Raqqa for Deir Ezzor</title>
<link>https://news.example.org/x1</link><description>Daesh fighters moved to Mayadin.</description>
</item><item><guid>x2</guid><title>Weather calm</title><link>https://news.example.org/x2</link>
</item></channel></rss>"""


@pytest.mark.parametrize(("interval", "failures", "retry_after", "low", "high"), [
    (60, 1, None, 48, 72),
    (60, 2, None, 96, 144),
    (60, 5, None, 768, 1152),
    (600, 30, None, 6 * 3600 * 0.8, 6 * 3600 * 1.2),
    (60, 1, 900.0, 900, 900),
    (60, 3, 10.0, 192, 288),
])
def test_failure_backoff(interval: float, failures: int, retry_after: float | None,
                         low: float, high: float) -> None:
    rng = random.Random(7)
    for _ in range(50):
        assert low <= failure_backoff(interval, failures, retry_after, rng) <= high


@pytest.fixture
async def pipe(tmp_path: Path) -> AsyncIterator[Pipeline]:
    config = Config.model_validate({
        "base_dir": tmp_path, "fetch": {"allow_addresses": ["127.0.0.1/32", "::1/128"]},
        "sinks": [{"type": "jsonl", "name": "archive", "path": "a.jsonl"}],
    })
    store = await open_store(tmp_path / "w.db")
    matcher = compile_rules(load_rules([ROOT / "rules"]))
    clock = [NOW]
    async with make_client(config.fetch) as client:
        yield Pipeline(config=config, store=store, client=client, matcher=matcher,
                       clock=lambda: clock[0])
    await store.close()


async def test_poll_records_health_and_queues_alerts(pipe: Pipeline,
                                                     httpserver: HTTPServer) -> None:
    httpserver.expect_request("/f.xml").respond_with_data(
        FEED, content_type="application/rss+xml", headers={"ETag": '"v1"'})
    feed = FeedConfig(id="f", url=httpserver.url_for("/f.xml"), interval=120)

    report = await poll_feed(pipe, feed)
    assert (report.status, report.articles, report.new_articles) == (200, 2, 2)
    assert report.alerts >= 1
    assert report.deliveries == report.alerts  # one sink
    assert pipe.outbox_changed.is_set()
    state = await pipe.store.load_feed_state("f")
    assert state is not None
    assert state.etag == '"v1"'
    assert state.last_success == NOW
    assert state.consecutive_failures == 0
    assert state.entries_seen == 2
    assert state.next_poll == NOW + timedelta(seconds=120)
    assert (await pipe.store.outbox_counts())["pending"] == report.deliveries

    # Not due yet: the scheduler's poll is skipped; `once` forces it.
    assert (await poll_feed(pipe, feed)).skipped
    again = await poll_feed(pipe, feed, force=True)
    assert (again.new_articles, again.alerts) == (0, 0)


async def test_not_modified_keeps_validators(pipe: Pipeline, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/f.xml", headers={"If-None-Match": '"v1"'}).respond_with_data(
        "", status=304)
    httpserver.expect_request("/f.xml").respond_with_data(
        FEED, content_type="application/rss+xml", headers={"ETag": '"v1"'})
    feed = FeedConfig(id="f", url=httpserver.url_for("/f.xml"))
    await poll_feed(pipe, feed)
    report = await poll_feed(pipe, feed, force=True)
    assert report.status == 304
    state = await pipe.store.load_feed_state("f")
    assert state is not None and state.etag == '"v1"'


async def test_the_same_body_again_is_not_parsed(pipe: Pipeline, httpserver: HTTPServer) -> None:
    """A server that ignores conditional requests: the digest of the body stands in."""
    bodies = [FEED, FEED, FEED.replace("x2", "x3")]
    httpserver.expect_request("/f.xml").respond_with_handler(
        lambda request: Response(bodies.pop(0), content_type="application/rss+xml"))
    feed = FeedConfig(id="f", url=httpserver.url_for("/f.xml"))
    first = await poll_feed(pipe, feed, force=True)
    assert (first.status, first.articles, first.new_articles) == (200, 2, 2)
    same = await poll_feed(pipe, feed, force=True)
    assert (same.status, same.articles, same.new_articles) == (200, 0, 0)  # not parsed
    changed = await poll_feed(pipe, feed, force=True)
    assert (changed.articles, changed.new_articles) == (2, 1)
    state = await pipe.store.load_feed_state("f")
    assert state is not None and state.entries_seen == 3 and state.body_hash


async def test_many_unchanged_feeds_are_written_in_few_transactions(
        pipe: Pipeline, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/f.xml", headers={"If-None-Match": '"v1"'}).respond_with_data(
        "", status=304)
    feeds = [FeedConfig(id=f"f{n}", url=httpserver.url_for("/f.xml")) for n in range(20)]
    for feed in feeds:
        await pipe.store.save_feed_state(FeedState(feed.id, feed.url, etag='"v1"'))
    pipe.writer.linger = 1.0  # generous, so the test does not depend on the machine's speed
    reports = await asyncio.gather(*(poll_feed(pipe, f, force=True) for f in feeds))
    assert {r.status for r in reports} == {304}
    assert pipe.writer.batches < len(feeds) / 2
    state = await pipe.store.load_feed_state("f19")
    assert state is not None and state.last_success == NOW and state.last_status == 304


async def test_failing_feed_backs_off_and_recovers(pipe: Pipeline,
                                                   httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/f.xml").respond_with_data("no", status=500)
    httpserver.expect_oneshot_request("/f.xml").respond_with_data("no", status=503,
                                                                  headers={"Retry-After": "900"})
    httpserver.expect_request("/f.xml").respond_with_data(FEED,
                                                          content_type="application/rss+xml")
    feed = FeedConfig(id="f", url=httpserver.url_for("/f.xml"), interval=60)

    first = await poll_feed(pipe, feed)
    assert first.error and "500" in first.error
    second = await poll_feed(pipe, feed, force=True)
    assert second.error
    state = await pipe.store.load_feed_state("f")
    assert state is not None
    assert state.consecutive_failures == 2
    assert state.next_poll is not None and state.next_poll >= NOW + timedelta(seconds=900)
    third = await poll_feed(pipe, feed, force=True)
    assert third.error is None and third.new_articles == 2
    state = await pipe.store.load_feed_state("f")
    assert state is not None and state.consecutive_failures == 0 and state.last_error is None


async def test_queue_dedupes_within_a_batch_and_across_calls(pipe: Pipeline) -> None:
    article = Article(key="k1", title="Isil convoy leaves Raqqa for Deir Ezzor",
                      url="https://news.example.org/k1")
    first = await queue_articles(pipe, [article, article], NOW)
    assert first.new_articles == 1
    assert first.alerts >= 1
    second = await queue_articles(pipe, [article], NOW)
    assert (second.new_articles, second.alerts) == (0, 0)


async def test_old_articles_are_recorded_but_not_alerted(pipe: Pipeline) -> None:
    pipe.config.max_article_age = 86400
    old = Article(key="old", title="Isil convoy leaves Raqqa for Deir Ezzor",
                  published=NOW - timedelta(days=3))
    report = await queue_articles(pipe, [old], NOW)
    assert (report.new_articles, report.alerts) == (1, 0)


async def test_permanent_redirect_moves_the_feed_and_is_logged_once(
        pipe: Pipeline, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    httpserver.expect_request("/old.xml").respond_with_data(
        "", status=301, headers={"Location": "/new.xml"})
    httpserver.expect_request("/new.xml").respond_with_data(
        FEED, content_type="application/rss+xml")
    feed = FeedConfig(id="f", url=httpserver.url_for("/old.xml"))
    with caplog.at_level(logging.WARNING, logger="watcher.pipeline"):
        for _ in range(3):
            assert (await poll_feed(pipe, feed, force=True)).error is None
    state = await pipe.store.load_feed_state("f")
    assert state is not None and state.moved_to == httpserver.url_for("/new.xml")
    assert [e[0].path for e in httpserver.log] == ["/old.xml", "/new.xml", "/new.xml",
                                                   "/new.xml"]
    moved = [r for r in caplog.records if "moved permanently" in r.getMessage()]
    assert len(moved) == 1 and httpserver.url_for("/new.xml") in moved[0].getMessage()

    # The new address disappears: the next poll goes back to the configured one.
    httpserver.clear()
    httpserver.expect_request("/new.xml").respond_with_data("gone", status=410)
    httpserver.expect_request("/old.xml").respond_with_data(FEED)
    assert (await poll_feed(pipe, feed, force=True)).status == 410
    assert (await poll_feed(pipe, feed, force=True)).error is None
    state = await pipe.store.load_feed_state("f")
    assert state is not None and state.moved_to is None
    assert [e[0].path for e in httpserver.log] == ["/new.xml", "/old.xml"]

    # A changed URL in the config starts afresh, forgetting where the old one moved.
    other = FeedConfig(id="f", url=httpserver.url_for("/other.xml"))
    pipe_state = await pipe.store.load_feed_state("f")
    assert pipe_state is not None
    pipe_state.moved_to = httpserver.url_for("/new.xml")
    await pipe.store.save_feed_state(pipe_state)
    httpserver.expect_request("/other.xml").respond_with_data(FEED)
    await poll_feed(pipe, other, force=True)
    assert httpserver.log[-1][0].path == "/other.xml"


async def test_temporary_redirect_does_not_move_the_feed(pipe: Pipeline,
                                                         httpserver: HTTPServer) -> None:
    httpserver.expect_request("/f.xml").respond_with_data(
        "", status=302, headers={"Location": "/elsewhere.xml"})
    httpserver.expect_request("/elsewhere.xml").respond_with_data(FEED)
    feed = FeedConfig(id="f", url=httpserver.url_for("/f.xml"))
    await poll_feed(pipe, feed)
    await poll_feed(pipe, feed, force=True)
    state = await pipe.store.load_feed_state("f")
    assert state is not None and state.moved_to is None
    assert [e[0].path for e in httpserver.log] == ["/f.xml", "/elsewhere.xml"] * 2


MALFORMED = FEED.replace("<title>Weather calm</title>", "<title>Weather & calm</title>")


async def test_recovered_malformed_feed_is_processed_with_a_warning(
        pipe: Pipeline, httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/f.xml").respond_with_data("no", status=500)
    httpserver.expect_oneshot_request("/f.xml").respond_with_data(
        MALFORMED, content_type="application/rss+xml")
    httpserver.expect_request("/f.xml").respond_with_data(FEED, content_type="text/xml")
    feed = FeedConfig(id="f", url=httpserver.url_for("/f.xml"))
    await poll_feed(pipe, feed)
    report = await poll_feed(pipe, feed, force=True)
    assert report.error is None and report.new_articles == 2
    state = await pipe.store.load_feed_state("f")
    assert state is not None and state.last_error is None  # the failure before is over
    assert state.last_warning is not None and "not well-formed" in state.last_warning
    assert feed_health(state, NOW, 3600) == "warning"
    await poll_feed(pipe, feed, force=True)  # a clean document clears the warning
    state = await pipe.store.load_feed_state("f")
    assert state is not None and state.last_warning is None
    assert feed_health(state, NOW, 3600) == "ok"


async def test_backoff_grows_to_the_ceiling_flags_the_feed_and_resets(
        pipe: Pipeline, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    pipe.config.fetch.max_backoff = 600
    pipe.config.fetch.failing_after = 1800
    clock = [NOW]
    pipe.clock = lambda: clock[0]
    httpserver.expect_request("/f.xml").respond_with_data("down", status=500)
    feed = FeedConfig(id="f", url=httpserver.url_for("/f.xml"), interval=60)
    delays = []
    with caplog.at_level(logging.WARNING, logger="watcher.pipeline"):
        for _ in range(10):  # each poll runs when the scheduler finds the feed due
            report = await poll_feed(pipe, feed)
            assert report.status == 500
            state = await pipe.store.load_feed_state("f")
            assert state is not None and state.next_poll is not None
            delays.append((state.next_poll - clock[0]).total_seconds())
            assert not (await poll_feed(pipe, feed)).status  # not due: skipped
            clock[0] = state.next_poll
    assert 48 <= delays[0] <= 72 and 96 <= delays[1] <= 144 and 192 <= delays[2] <= 288
    assert all(480 <= d <= 720 for d in delays[4:])  # at the ceiling, never given up
    assert state is not None and state.consecutive_failures == 10 and state.failing_since == NOW
    assert feed_health(state, clock[0], 1800) == "flagged"
    flagged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(flagged) == 1 and "failing since" in flagged[0].getMessage()

    httpserver.clear()
    httpserver.expect_request("/f.xml").respond_with_data(FEED)
    assert (await poll_feed(pipe, feed)).error is None
    state = await pipe.store.load_feed_state("f")
    assert state is not None and state.consecutive_failures == 0
    assert state.failing_since is None and state.last_error is None
    assert state.next_poll == clock[0] + timedelta(seconds=60)  # back to its interval


@pytest.mark.parametrize(("next_poll", "due"), [
    (None, True), (-5, True), (0, True), (5, True), (6, True), (7, False), (50, False),
])
def test_is_due_allows_for_scheduler_drift(next_poll: float | None, due: bool) -> None:
    state = FeedState(feed_id="f", url="u", next_poll=None if next_poll is None
                      else NOW + timedelta(seconds=next_poll))
    assert is_due(state, NOW, interval=60) is due


@pytest.mark.parametrize(("state", "health"), [
    (None, "never polled"),
    (FeedState("f", "u"), "never polled"),
    (FeedState("f", "u", last_attempt=NOW), "ok"),
    (FeedState("f", "u", last_attempt=NOW, last_warning="odd"), "warning"),
    (FeedState("f", "u", last_attempt=NOW, consecutive_failures=1,
               failing_since=NOW - timedelta(minutes=59)), "failing"),
    (FeedState("f", "u", last_attempt=NOW, consecutive_failures=9,
               failing_since=NOW - timedelta(minutes=60)), "flagged"),
])
def test_feed_health(state: FeedState | None, health: str) -> None:
    assert feed_health(state, NOW, 3600) == health


async def test_republished_story_with_a_new_guid_is_not_new(pipe: Pipeline,
                                                            httpserver: HTTPServer) -> None:
    republished = FEED.replace("<guid>x1</guid>", "<guid>x1-republished</guid>").replace(
        "https://news.example.org/x1", "https://news.example.org/x1?utm_source=rss&amp;at_medium=x")
    httpserver.expect_oneshot_request("/f.xml").respond_with_data(FEED)
    httpserver.expect_request("/f.xml").respond_with_data(republished)
    feed = FeedConfig(id="f", url=httpserver.url_for("/f.xml"))
    first = await poll_feed(pipe, feed)
    assert first.new_articles == 2 and first.alerts >= 1
    again = await poll_feed(pipe, feed, force=True)
    assert (again.articles, again.new_articles, again.alerts) == (2, 0, 0)


@pytest.mark.parametrize(("due", "expected"), [
    (None, 60), (-30, 60), (0, 60), (4, 64), (6, 66), (7, 60), (3600, 60),
])
def test_early_polls_do_not_add_up(due: float | None, expected: float) -> None:
    previous = None if due is None else NOW + timedelta(seconds=due)
    assert next_poll_after_success(previous, NOW, 60) == NOW + timedelta(seconds=expected)


# Issues 2 and 4, as a reviewer reproduced them: an article was alerted a second time when a
# later poll of its feed held another entry that shared its link or its guid (the article's
# key then depended on its neighbours). An entry's key now comes from its own fields only.

CONVOY_A = "Isil convoy leaves Raqqa for Deir Ezzor"
CONVOY_B = "Second convoy of fighters reaches Mayadin"
LIVE_PAGE = "https://news.example.org/live/raqqa"  # one page, updated with each story

# (guid, link, title) of each entry; the first poll holds A alone, the second B and A.
SHARING = {
    "shared-link": ([("a1", LIVE_PAGE, CONVOY_A)],
                    [("b2", LIVE_PAGE, CONVOY_B), ("a1", LIVE_PAGE, CONVOY_A)]),
    "shared-guid": ([("story", None, CONVOY_A)],
                    [("story", None, CONVOY_B), ("story", None, CONVOY_A)]),
}


def rss_entries(entries: list[tuple[str, str | None, str]]) -> str:
    items = "".join(f"<item><guid isPermaLink='false'>{guid}</guid><title>{title}</title>"
                    + (f"<link>{link}</link>" if link else "") + "</item>"
                    for guid, link, title in entries)
    return (f"<?xml version='1.0'?><rss version='2.0'><channel><title>Desk</title>"
            f"<link>https://news.example.org/</link>{items}</channel></rss>")


def run_once(config: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "watcher", "once", "--config", str(config)],
                            capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr.decode()


def test_once_alerts_an_article_once_when_a_later_entry_shares_its_link_or_guid(
        tmp_path: Path, httpserver: HTTPServer) -> None:
    """Each case of SHARING is a feed; two `watcher once` processes poll them."""
    served = {case: rss_entries(first) for case, (first, _) in SHARING.items()}
    httpserver.expect_request(re.compile("/.+")).respond_with_handler(
        lambda request: Response(served[request.path.strip("/")],
                                 content_type="application/rss+xml"))
    (tmp_path / "rules.yaml").write_text(RULES)
    config = tmp_path / "watcher.yaml"
    config.write_text(json.dumps({
        "state": "state/watcher.db", "rules": [str(tmp_path / "rules.yaml")],
        "fetch": {"allow_addresses": ["127.0.0.1/32", "::1/128"]},
        "stories": {"per": "article"},  # each feed's copy is an alert of its own here
        "feeds": [{"id": case, "url": httpserver.url_for(f"/{case}")} for case in SHARING],
        "sinks": [{"name": "archive", "type": "jsonl", "path": "alerts.jsonl"}]}))

    run_once(config)
    served.update({case: rss_entries(second) for case, (_, second) in SHARING.items()})
    run_once(config)  # a new process: what was seen comes from the store
    alerts = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    alerted = Counter((a["article"]["source"], a["article"]["title"]) for a in alerts)
    assert alerted == {(case, title): 1 for case in SHARING for title in (CONVOY_A, CONVOY_B)}


@pytest.fixture(params=["sqlite", "postgres"])
async def any_pipe(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Pipeline]:
    """`pipe` on either store backend (PostgreSQL in a schema of its own)."""
    state: Path | str = tmp_path / "w.db"
    if request.param == "postgres":
        state = pgtest.schema_url(request.getfixturevalue("pg_schema"))
    config = Config.model_validate({
        "base_dir": tmp_path, "fetch": {"allow_addresses": ["127.0.0.1/32", "::1/128"]},
        "sinks": [{"type": "jsonl", "name": "archive", "path": "a.jsonl"}],
    })
    store = await open_store(state)
    matcher = compile_rules(load_rules([ROOT / "rules"]))
    async with make_client(config.fetch) as client:
        yield Pipeline(config=config, store=store, client=client, matcher=matcher,
                       clock=lambda: NOW)
    await store.close()


@pytest.mark.parametrize("case", sorted(SHARING))
async def test_a_later_entry_sharing_a_link_or_guid_is_new_and_the_first_is_not(
        any_pipe: Pipeline, httpserver: HTTPServer, case: str) -> None:
    first, second = SHARING[case]
    httpserver.expect_oneshot_request("/f.xml").respond_with_data(rss_entries(first))
    httpserver.expect_request("/f.xml").respond_with_data(rss_entries(second))
    feed = FeedConfig(id="f", url=httpserver.url_for("/f.xml"))
    first_poll = await poll_feed(any_pipe, feed, force=True)
    assert (first_poll.new_articles, first_poll.alerts > 0) == (1, True)
    again = await poll_feed(any_pipe, feed, force=True)
    assert (again.articles, again.new_articles, again.alerts > 0) == (2, 1, True)
    queued = await any_pipe.store.claim_due(NOW + timedelta(days=1), 100, 60.0)
    alerted = Counter(item.alert.article.title for item in queued)
    assert alerted == {CONVOY_A: first_poll.alerts, CONVOY_B: again.alerts}


async def test_articles_recorded_under_the_keys_of_before_are_still_seen(
        any_pipe: Pipeline, httpserver: HTTPServer) -> None:
    """Stores written before keys came from an entry's own fields hold link keys (or guid
    keys when the link was shared): a new entry's aliases are those, so nothing re-alerts."""
    def old_key(identity: str) -> str:
        return hashlib.sha256(identity.encode()).hexdigest()[:32]
    before = [Article(key=old_key(f"url\x1fhttps://news.example.org/{n}"), title=t)
              for n, t in (("x1", "Isil convoy leaves Raqqa for Deir Ezzor"),
                           ("x2", "Weather calm"))]
    assert await any_pipe.store.record_articles(before, [], NOW) == 2
    httpserver.expect_request("/f.xml").respond_with_data(FEED)
    report = await poll_feed(any_pipe, FeedConfig(id="f", url=httpserver.url_for("/f.xml")),
                             force=True)
    assert (report.articles, report.new_articles, report.alerts) == (2, 0, 0)
