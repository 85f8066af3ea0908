"""PollWriter and StateReader: many polls' writes and reads grouped, on a real SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.alertfactory import make_alert, make_article
from watcher.errors import StoreError
from watcher.models import Delivery, FeedState
from watcher.store import PollRecord, Store, open_store
from watcher.store.batching import PollWriter, StateReader

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(tmp_path / "w.db")
    yield s
    await s.close()


async def test_concurrent_polls_share_transactions_and_each_gets_its_count(store: Store) -> None:
    writer = PollWriter(store, "r1", max_batch=50)
    polls = [PollRecord(FeedState(feed_id=f"f{n}", url=f"u{n}"),
                        [make_article(f"k{n}")] if n % 10 == 0 else (),
                        [Delivery(make_alert(f"k{n}"), "hook")] if n % 10 == 0 else (), NOW)
             for n in range(200)]
    counts = await asyncio.gather(*(writer.write(p) for p in polls))
    assert counts == [1 if n % 10 == 0 else 0 for n in range(200)]
    assert 1 < writer.batches <= 5  # a lone first write, then batches of at most 50
    assert (await store.outbox_counts())["pending"] == 20
    state = await store.load_feed_state("f199")
    assert state is not None and state.url == "u199"


async def test_a_poll_the_database_refuses_fails_alone(store: Store) -> None:
    writer = PollWriter(store, "r1")
    broken = FeedState(feed_id="bad", url=None)  # type: ignore[arg-type]  # url is NOT NULL
    good = [PollRecord(FeedState(feed_id=f"f{n}", url="u"), [make_article(f"k{n}")], (), NOW)
            for n in range(5)]
    outcomes = await asyncio.gather(writer.write(PollRecord(FeedState(feed_id="first", url="u"))),
                                    *(writer.write(p) for p in good),
                                    writer.write(PollRecord(broken)), return_exceptions=True)
    assert outcomes[:6] == [0, 1, 1, 1, 1, 1]
    assert isinstance(outcomes[6], StoreError)
    assert await store.unseen_keys([f"k{n}" for n in range(5)]) == set()
    assert await store.load_feed_state("bad") is None


async def test_drain_waits_for_queued_writes(store: Store) -> None:
    writer = PollWriter(store, "r1")
    tasks = [asyncio.create_task(writer.write(PollRecord(FeedState(feed_id=f"f{n}", url="u"))))
             for n in range(20)]
    await asyncio.sleep(0)
    await writer.drain()
    assert all(t.done() for t in tasks)
    assert await store.load_feed_state("f19") is not None


async def test_states_of_polls_started_together_are_read_in_one_query(store: Store) -> None:
    for n in range(0, 300, 2):
        await store.save_feed_state(FeedState(feed_id=f"f{n}", url=f"u{n}", etag=f'"{n}"'))
    reader = StateReader(store)
    states = await asyncio.gather(*(reader.load(f"f{n}") for n in range(300)),
                                  reader.load("f0"))
    assert reader.batches == 1
    assert [s.etag if s else None for s in states[:300]] == [
        f'"{n}"' if n % 2 == 0 else None for n in range(300)]
    first, again = states[0], states[300]
    assert first == again and first is not again  # each poll changes a state of its own
    later = await reader.load("f2")  # a poll started later gets a read of its own
    assert later is not None and later.etag == '"2"' and reader.batches == 2


async def test_a_failed_read_fails_the_polls_waiting_for_it(tmp_path: Path) -> None:
    s = await open_store(tmp_path / "w.db")
    await s.close()
    reader = StateReader(s)
    outcomes = await asyncio.gather(reader.load("a"), reader.load("b"), return_exceptions=True)
    assert all(isinstance(o, StoreError) for o in outcomes)
