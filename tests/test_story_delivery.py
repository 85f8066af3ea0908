"""Delivery per story through the pipeline (queue_articles, a real SQLite store, the shipped
rules): one alert per story and sink, escalations as updates, `per: article` routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from watcher.config.settings import Config
from watcher.feeds.fetch import make_client
from watcher.matching.matcher import compile_rules
from watcher.models import Article
from watcher.pipeline import Pipeline, queue_articles
from watcher.rules.load import load_rules
from watcher.store import open_store
from watcher.store.records import OutboxRecord

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

REPORTS = [  # one event, three outlets, two languages
    ("afp", "en", "ISIS convoy leaves Raqqa for Deir ez-Zor with 40 buses",
     "Forty buses carrying Islamic State fighters left Raqqa on Tuesday under a deal with "
     "the SDF, heading for Deir ez-Zor."),
    ("bbc", "en", "Buses carrying IS fighters leave Raqqa under SDF deal",
     "A convoy of 40 buses with Islamic State militants left Raqqa for Deir ez-Zor, the "
     "Syrian Democratic Forces said."),
    ("jazeera", "ar", "خروج قافلة من 40 حافلة لمقاتلي داعش من الرقة",
     "قالت قوات سوريا الديمقراطية إن 40 حافلة تقل مقاتلي داعش غادرت الرقة باتجاه دير الزور"),
]
ESCALATION = ("reuters", "en", "ISIS convoy from Raqqa reaches Mayadin with 40 buses",
              "The convoy of 40 buses of Islamic State fighters that left Raqqa under an SDF "
              "deal reached Mayadin near Deir ez-Zor.")


def article(n: int, report: tuple[str, str, str, str], at: datetime = NOW) -> Article:
    source, language, title, summary = report
    return Article(key=f"{source}:{n}", url=f"https://{source}.example.org/{n}", title=title,
                   summary=summary, source=source, language=language, published=at)


async def make_pipe(tmp_path: Path, **settings: Any) -> Pipeline:
    config = Config.model_validate({
        "base_dir": tmp_path, "sinks": [{"type": "jsonl", "name": "archive", "path": "a.jsonl"},
                                        {"type": "jsonl", "name": "desk", "path": "d.jsonl"}],
        **settings})
    store = await open_store(tmp_path / "w.db")
    return Pipeline(config=config, store=store, client=make_client(config.fetch),
                    matcher=compile_rules(load_rules([ROOT / "rules"])))


@pytest.fixture
async def pipe(tmp_path: Path) -> AsyncIterator[Pipeline]:
    p = await make_pipe(tmp_path)
    yield p
    await p.client.aclose()
    await p.store.close()


async def queued(pipe: Pipeline, sink: str | None = None) -> list[OutboxRecord]:
    rows = [r for r in await pipe.store.list_alerts(None, 1000) if sink in (None, r.sink)]
    return sorted(rows, key=lambda r: r.id)


async def test_the_first_report_alerts_and_later_ones_join_its_story(pipe: Pipeline) -> None:
    await queue_articles(pipe, [article(1, REPORTS[0])], NOW)
    first = await queued(pipe, "archive")
    assert first and {r.alert.article.key for r in first if r.alert} == {"afp:1"}
    story = first[0].alert.story if first[0].alert else None
    assert story is not None and (story.articles, story.sources) == (1, ["afp"])
    assert not story.update
    for n, report in enumerate(REPORTS[1:], start=2):
        later = NOW + timedelta(minutes=10 * n)
        await queue_articles(pipe, [article(n, report, later)], later)
    assert await queued(pipe, "archive") == first  # no new alert: the reports joined
    members = await pipe.store.story_articles(story.id)
    assert [m.source for m in members] == ["afp", "bbc", "jazeera"]  # nothing lost


async def test_a_new_place_escalates_the_story_with_an_update(pipe: Pipeline) -> None:
    await queue_articles(pipe, [article(1, REPORTS[0]), article(2, REPORTS[1])], NOW)
    before = await queued(pipe, "desk")
    later = NOW + timedelta(hours=3)
    await queue_articles(pipe, [article(3, ESCALATION, later)], later)
    new = [r for r in await queued(pipe, "desk") if r not in before]
    assert new and all(r.alert and r.alert.story and r.alert.story.update for r in new)
    story = new[0].alert.story if new[0].alert else None
    assert story is not None and story.articles == 3
    assert story.sources == ["afp", "bbc", "reuters"]
    assert {r.alert.article.key for r in new if r.alert} == {"reuters:3"}


async def test_a_route_per_article_alerts_every_report(tmp_path: Path) -> None:
    pipe = await make_pipe(tmp_path, routes=[
        {"name": "everything", "sinks": ["desk"], "per": "article", "continue": True},
        {"name": "default", "sinks": ["archive"]}])
    try:
        for n, report in enumerate(REPORTS, start=1):
            at = NOW + timedelta(minutes=n)
            await queue_articles(pipe, [article(n, report, at)], at)
        per_article = {r.alert.article.key for r in await queued(pipe, "desk") if r.alert}
        per_story = {r.alert.article.key for r in await queued(pipe, "archive") if r.alert}
        assert per_article == {"afp:1", "bbc:2", "jazeera:3"}
        assert per_story == {"afp:1"}
        ids = {r.alert.story.id for r in await queued(pipe) if r.alert and r.alert.story}
        assert len(ids) == 1  # every alert names the one story
    finally:
        await pipe.client.aclose()
        await pipe.store.close()
