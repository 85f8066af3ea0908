"""Stories in the store (SQLite and PostgreSQL): placing articles, retries, racing replicas,
and the gates of delivery per story."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from watcher.models import (
    Article,
    ArticleMatch,
    Group,
    Place,
    StoryDecider,
    StoryEntry,
    StoryMember,
)
from watcher.store import Store, open_store
from watcher.stories import assign_stories, signature

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WINDOW = 48 * 3600.0
RAQQA = Place(name="Raqqa", country="SY", lat=35.95, lon=39.01)


def entry(key: str, title: str, source: str = "Desk", at: datetime = NOW,
          places: Sequence[Place] = (RAQQA,)) -> StoryEntry:
    article = Article(key=key, title=title, source=source, published=at, language="en",
                      url=f"https://{source.lower()}.example.org/{key}")
    found = ArticleMatch(places=tuple(places), groups=(Group(name="ISIL"),))
    sig = signature(article, found)
    return StoryEntry(article_key=key, source=source, url=article.url, title=title, at=at,
                      keys=sig.keys(), signature=sig.to_json())


CONVOY = "Isil convoy of 40 buses leaves Raqqa for Deir Ezzor under a deal"
CONVOY_B = "Convoy of 40 buses with Isil fighters leaves Raqqa for Deir Ezzor"
SCHOOLS = "Schools reopen in Raqqa for the first time in years"


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    location: Path | str = tmp_path / "w.db"
    if request.param == "postgres":
        location = request.getfixturevalue("pg_url")
    s = await open_store(location)
    yield s
    await s.close()


def decide(now: datetime = NOW) -> StoryDecider:
    return partial(assign_stories, window=WINDOW, now=now)


async def test_articles_join_stories_across_batches_and_keep_them_on_retry(
        store: Store) -> None:
    first = await store.assign_stories([entry("a", CONVOY, "A"), entry("s", SCHOOLS, "A")],
                                       NOW - timedelta(days=2), decide())
    assert first[0].id != first[1].id
    assert (first[0].articles, first[0].sources) == (1, ["A"])
    later = NOW + timedelta(hours=1)
    second = await store.assign_stories([entry("b", CONVOY_B, "B", later)],
                                        NOW - timedelta(days=2), decide(later))
    assert second[0].id == first[0].id
    assert (second[0].articles, second[0].sources, second[0].first_seen) == (2, ["A", "B"], NOW)
    # A retried batch (crash before its articles were recorded) finds its stories again.
    again = await store.assign_stories([entry("b", CONVOY_B, "B", later)],
                                       NOW - timedelta(days=2), decide(later))
    assert again == second
    members = await store.story_articles(first[0].id)
    assert [(m.article_key, m.source, m.url) for m in members] == [
        ("a", "A", "https://a.example.org/a"), ("b", "B", "https://b.example.org/b")]


async def test_members_older_than_since_are_not_offered(store: Store) -> None:
    await store.assign_stories([entry("a", CONVOY, "A", NOW - timedelta(days=5))],
                               NOW - timedelta(days=7), decide())
    offered: list[Sequence[StoryMember]] = []

    def spy(entries: Sequence[StoryEntry], members: Sequence[StoryMember]) -> list[str]:
        offered.append(members)
        return decide()(entries, members)

    stories = await store.assign_stories([entry("b", CONVOY_B, "B")], NOW - timedelta(days=2),
                                         spy)
    assert offered == [[]] and stories[0].articles == 1


async def test_gates_are_held_by_the_first_article(store: Store) -> None:
    held = await store.claim_story_gates([("g1", "a"), ("g2", "a")], NOW)
    assert held == {("g1", "a"), ("g2", "a")}
    held = await store.claim_story_gates([("g1", "b"), ("g3", "b")], NOW)
    assert held == {("g3", "b")}
    assert await store.claim_story_gates([("g1", "a")], NOW) == {("g1", "a")}  # a retry


async def test_replicas_racing_on_one_event_make_one_story(pg_url: str) -> None:
    """Two replicas place two outlets' reports at the same moment: one story, not two."""
    stores = [await open_store(pg_url) for _ in range(2)]
    try:
        for round_ in range(5):
            results = await asyncio.gather(*(
                s.assign_stories([entry(f"{round_}-{n}", title, f"S{n}")],
                                 NOW - timedelta(days=2), decide())
                for n, (s, title) in enumerate(zip(stores, (CONVOY, CONVOY_B), strict=True))))
            ids = {r[0].id for r in results}
            assert len(ids) == 1
        members = await stores[0].story_articles(ids.pop())
        assert len(members) == 10
    finally:
        for s in stores:
            await s.close()


async def test_the_store_reads_only_the_latest_articles_a_story_is_compared_through(
        store: Store) -> None:
    from watcher.store import postgres_stories, sqlite_stories
    from watcher.stories.clustering import COMPARED_PER_STORY

    assert sqlite_stories.MEMBERS_PER_STORY == postgres_stories.MEMBERS_PER_STORY \
        == COMPARED_PER_STORY
    stored = [entry(f"a{n:02}", CONVOY, f"S{n}", NOW - timedelta(minutes=30 - n))
              for n in range(20)]
    await store.assign_stories(stored, NOW - timedelta(days=1), lambda todo, _: ["s1"] * 20)
    seen: list[list[str]] = []

    def spy(todo: Sequence[StoryEntry], members: Sequence[StoryMember]) -> list[str]:
        seen.append([m.entry.article_key for m in members])
        return decide()(todo, members)

    placed = await store.assign_stories([entry("new", CONVOY_B, "B")], NOW - timedelta(days=1),
                                        spy)
    # The latest COMPARED_PER_STORY of story s1, oldest first: what the decider keeps anyway.
    assert seen == [[f"a{n:02}" for n in range(12, 20)]]
    assert placed[0].id == "s1"


async def test_keys_and_gates_no_article_can_use_are_pruned_stories_stay(store: Store) -> None:
    window = timedelta(seconds=WINDOW)
    old = await store.assign_stories([entry("old", CONVOY, "A")], NOW - window, decide())
    await store.claim_story_gates([(f"{old[0].id}\x1fhook\x1fsev:low", "old")], NOW)
    # A day later the keys and gates are still of use: a report can still join.
    day = NOW + timedelta(days=1)
    joined = await store.assign_stories([entry("b", CONVOY_B, "B", day)], day - window,
                                        decide(day))
    assert joined[0].id == old[0].id
    held = await store.claim_story_gates([(f"{old[0].id}\x1fhook\x1fsev:low", "b")], day)
    assert held == set()  # "old" holds it: the story's first alert is not sent again
    # Three windows after the last of them, a placement deletes both articles' keys and
    # gates; the story and its articles stay (watcher alerts --story).
    late = day + 3 * window + timedelta(hours=1)
    await store.assign_stories([entry("new", SCHOOLS, "C", late)], late - window, decide(late))
    assert (await store.claim_story_gates([(f"{old[0].id}\x1fhook\x1fsev:low", "again")],
                                          late)) == {(f"{old[0].id}\x1fhook\x1fsev:low",
                                                      "again")}
    ancient = await store.assign_stories([entry("c", CONVOY, "D", day)], day - window,
                                         decide(late))
    assert ancient[0].id != old[0].id  # its keys are gone: it starts a story of its own
    assert [m.article_key for m in await store.story_articles(old[0].id)] == ["old", "b"]
