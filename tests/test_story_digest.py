"""A digest shows each alert's story as it stands when the digest goes out: "also reported by
N outlets", with their links (delivery/story_digest.py), through the pipeline, a real SQLite
store, the delivery worker and a webhook on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from pytest_httpserver import HTTPServer

from tests.alertfactory import make_alert
from tests.test_story_delivery import REPORTS, article
from watcher.config.settings import Config, DeliverySettings
from watcher.delivery.grouping import Batch, batch_policies
from watcher.delivery.sinks import build_sinks
from watcher.delivery.sinks.batch_render import (
    batch_html,
    batch_text,
    slack_batch_message,
    teams_batch_message,
    webhook_document,
)
from watcher.delivery.story_digest import Report, StoryNow, story_now
from watcher.delivery.worker import deliver_due
from watcher.feeds.fetch import make_client
from watcher.matching.matcher import compile_rules
from watcher.models import Story, StoryEntry
from watcher.pipeline import Pipeline, queue_articles
from watcher.rules.load import load_rules
from watcher.store import open_store

ROOT = Path(__file__).resolve().parent.parent
NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SETTINGS = DeliverySettings()


async def test_a_digest_lists_the_outlets_that_joined_the_story_since_it_was_queued(
        tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/digest", method="POST").respond_with_data("ok")
    config = Config.model_validate({
        "base_dir": tmp_path, "sinks": [{"type": "digest", "name": "hourly", "every": "1h",
                                         "target": {"type": "webhook",
                                                    "url": httpserver.url_for("/digest")}}]})
    store = await open_store(tmp_path / "w.db")
    async with make_client(config.fetch) as client:
        pipe = Pipeline(config=config, store=store, client=client,
                        matcher=compile_rules(load_rules([ROOT / "rules"])))
        for n, report in enumerate(REPORTS, start=1):  # afp, then bbc and jazeera join
            at = NOON + timedelta(minutes=10 * (n - 1))
            await queue_articles(pipe, [article(n, report, at)], at)
        queued = [r for r in await store.list_alerts(None, 100) if r.alert]
        assert {r.alert.article.key for r in queued if r.alert} == {"afp:1"}
        assert all(r.alert and r.alert.story and r.alert.story.articles == 1 for r in queued)

    async with httpx.AsyncClient() as hooks:
        sinks = build_sinks(config, hooks)
        outcome = await deliver_due(store, sinks, SETTINGS, lambda: NOON + timedelta(hours=1),
                                   policies=batch_policies(config))
    await store.close()
    assert outcome.delivered == len(queued)
    [body] = [r.get_json() for r, _ in httpserver.log]
    story = body["alerts"][0]["story"]
    assert (story["articles"], story["sources"]) == (3, ["afp", "bbc", "jazeera"])
    [listed] = body["stories"]
    assert listed["id"] == story["id"]
    assert [(r["source"], r["url"]) for r in listed["reports"]] == [
        ("afp", "https://afp.example.org/1"), ("bbc", "https://bbc.example.org/2"),
        ("jazeera", "https://jazeera.example.org/3")]


def story_batch() -> Batch:
    story = Story(id="s1", first_seen=NOON, articles=1, sources=["Test desk"])
    alert = make_alert("a1").model_copy(update={"story": story})
    entries = [StoryEntry(article_key=f"k{n}", source=source, url=url, title=title,
                          at=NOON + timedelta(minutes=n), keys=(), signature="{}")
               for n, (source, url, title) in enumerate([
                   ("Test desk", "https://news.example.org/a1", "Own report"),
                   ("Wire *bold*", "https://wire.example.org/1?a=1&b=<2>", "Convoy <b>leaves</b>"),
                   ("Local", "javascript:alert(1)", "Hostile link")])]
    now = story_now(story, entries)
    assert now.story.articles == 3 and now.story.sources == ["Test desk", "Wire *bold*", "Local"]
    return Batch("desk", "digest", (alert.model_copy(update={"story": now.story}),),
                 stories={"s1": now})


def test_every_digest_format_says_who_else_reported_it_with_escaped_links() -> None:
    batch = story_batch()
    text = batch_text(batch)
    assert "Also reported by 2 outlets:" in text
    assert "- Wire *bold*: Convoy <b>leaves</b> <https://wire.example.org/1" in text
    assert "Own report" not in text  # the alert's own outlet is not "also"
    assert "javascript:" not in text and "- Local: Hostile link" in text
    page = batch_html(batch)
    assert "Also reported by 2 outlets" in page and "<b>leaves</b>" not in page
    assert "Convoy &lt;b&gt;leaves&lt;/b&gt;" in page and "javascript:" not in page
    slack = str(slack_batch_message(batch)["blocks"])
    assert "Also reported by 2 outlets" in slack and "javascript:" not in slack
    assert "|Wire ∗bold∗>" in slack  # mrkdwn escaped as in every Slack message
    card = str(teams_batch_message(batch))
    assert "Also reported by 2 outlets" in card and "javascript:" not in card
    assert "[Wire \\\\*bold\\\\*](https://wire.example.org/" in card
    [listed] = webhook_document(batch)["stories"]
    assert [r["url"] for r in listed["reports"]][2] is None  # not a link one may follow


def test_an_alert_alone_in_its_story_says_nothing_more() -> None:
    story = Story(id="s1", first_seen=NOON, articles=1, sources=["Test desk"])
    alert = make_alert("a1").model_copy(update={"story": story})
    alone = StoryNow(story, (Report("Test desk", "Own report", None),))
    batch = Batch("desk", "digest", (alert,), stories={"s1": alone})
    assert "Also reported" not in batch_text(batch)
    assert "Also reported" not in str(slack_batch_message(batch))
