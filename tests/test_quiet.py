"""Quiet repeats: story keys, and queue_articles with a real store and the shipped rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from watcher.config.settings import Config
from watcher.delivery.quiet import story_keys
from watcher.feeds.fetch import make_client
from watcher.matching.matcher import compile_rules
from watcher.models import Article
from watcher.pipeline import Pipeline, queue_articles
from watcher.rules.load import load_rules
from watcher.store import open_store

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TITLE = "Isil convoy leaves Raqqa for Deir Ezzor"


def article(key: str, *, title: str = TITLE, url: str | None = None,
            source: str = "Desk A") -> Article:
    return Article(key=key, title=title, url=url, source=source,
                   summary="Daesh fighters moved to Mayadin.")


def test_story_keys() -> None:
    a = article("1", url="https://news.example.org/x")
    assert story_keys(a) == story_keys(article("2", url="https://news.example.org/x"))
    same_title = article("3", title="ISIL  convoy leaves Raqqa, for Deir-Ezzor!")
    assert set(story_keys(a)) & set(story_keys(same_title))
    assert not set(story_keys(a)) & set(story_keys(article("4", source="Desk B")))
    assert story_keys(article("5", title="", url=None)) == ()


@pytest.fixture
async def pipe(tmp_path: Path) -> AsyncIterator[Pipeline]:
    config = Config.model_validate({
        "base_dir": tmp_path, "repeat_window": "6h",
        "stories": {"per": "article"},  # repeats alone here (stories: test_story_delivery)
        "sinks": [{"type": "jsonl", "name": "archive", "path": "a.jsonl"}]})
    store = await open_store(tmp_path / "w.db")
    async with make_client(config.fetch) as client:
        yield Pipeline(config=config, store=store, client=client,
                       matcher=compile_rules(load_rules([ROOT / "rules"])))
    await store.close()


async def alerted_keys(pipe: Pipeline) -> set[str]:
    return {r.alert.article.key for r in await pipe.store.list_alerts(None, 1000) if r.alert}


async def test_the_same_story_is_quiet_within_the_window(pipe: Pipeline) -> None:
    report = await queue_articles(pipe, [
        article("a1", url="https://news.example.org/x"),
        article("a2", url="https://news.example.org/x", title="Other words, same link: Raqqa "
                "Isil convoy to Deir Ezzor"),            # same URL, same batch
        article("a3", source="Desk B"),                  # same title, other source: alerts
    ], NOW)
    assert report.new_articles == 3
    assert await alerted_keys(pipe) == {"a1", "a3"}

    later = NOW + timedelta(hours=5)
    await queue_articles(pipe, [article("b1"), article("b2", title=f"{TITLE} again")], later)
    assert await alerted_keys(pipe) == {"a1", "a3", "b2"}  # b1: same title, same source
    assert await pipe.store.unseen_keys(["b1"]) == set()   # still recorded as seen

    much_later = NOW + timedelta(hours=12)
    await queue_articles(pipe, [article("c1")], much_later)
    assert "c1" in await alerted_keys(pipe)  # the window has passed


async def test_window_zero_alerts_every_repeat(pipe: Pipeline) -> None:
    pipe.config = pipe.config.model_copy(update={"repeat_window": 0.0})
    await queue_articles(pipe, [article("a1"), article("a2")], NOW)
    assert await alerted_keys(pipe) == {"a1", "a2"}


async def test_marks_survive_a_restart(pipe: Pipeline, tmp_path: Path) -> None:
    await queue_articles(pipe, [article("a1")], NOW)
    await pipe.store.close()
    pipe.store = await open_store(tmp_path / "w.db")
    await queue_articles(pipe, [article("a2")], NOW + timedelta(hours=1))
    assert await alerted_keys(pipe) == {"a1"}
    since = datetime(2026, 11, 25, tzinfo=UTC)
    assert await pipe.store.recent_stories(list(story_keys(article("x"))), since)
