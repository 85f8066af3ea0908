"""Scheduling polls: timers on SQLite, batch claims (`FeedClaimer`) on the real PostgreSQL,
with a local feed site. Claims fill free fetch slots and no more, two replicas never poll a
feed twice, and stopping cuts off a hung poll and gives its feed back at once."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests import pgtest
from tests.localsite import RULES, rss
from tests.loopback import LoopbackServer
from watcher.config.settings import Config
from watcher.feeds.fetch import make_client
from watcher.matching.matcher import compile_rules
from watcher.pipeline import Pipeline
from watcher.rules.load import load_rules
from watcher.service.scheduler import FeedClaimer, FeedTimers, SharedFeeds, start_polling
from watcher.store import open_store

INTERVAL = 3600.0  # one poll per feed in a test


class FeedSite:
    """Feeds `/0` … `/n`; `/hang` answers only when `release` is set. Counts requests."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.hanging = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.strip("/")
                with site.lock:
                    site.requests.append(name)
                if name == "hang":
                    site.hanging.set()
                    site.release.wait(30)
                body = rss([(f"{name}-1", "Weather calm", "Nothing new.")]).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/rss+xml")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the watcher hung up (its poll was cancelled)

            def log_message(self, *args: object) -> None:
                pass

        self.server = LoopbackServer(Handler)
        self.port = int(self.server.server_address[1])

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


@pytest.fixture
def site() -> Iterator[FeedSite]:
    s = FeedSite()
    threading.Thread(target=s.server.serve_forever, daemon=True).start()
    yield s
    s.release.set()
    s.server.shutdown()
    s.server.server_close()


def make_config(tmp_path: Path, site: FeedSite, names: list[str], concurrency: int) -> Config:
    (tmp_path / "rules.yaml").write_text(RULES)
    return Config.model_validate({
        "base_dir": tmp_path, "rules": ["rules.yaml"], "jitter": 0,
        "default_interval": INTERVAL,
        "feeds": [{"id": n, "url": site.url(n)} for n in names],
        "fetch": {"allow_addresses": ["127.0.0.1/32", "::1/128"], "concurrency": concurrency,
                  "timeout": 20},
    })


@asynccontextmanager
async def replica(config: Config, state: Path | str, name: str) -> AsyncIterator[Pipeline]:
    store = await open_store(state)
    matcher = compile_rules(load_rules([config.base_dir / "rules.yaml"]))
    try:
        async with make_client(config.fetch) as client:
            yield Pipeline(config=config, store=store, client=client, matcher=matcher,
                           replica_id=name)
    finally:
        await store.close()


def claimer_of(pipe: Pipeline) -> FeedClaimer:
    assert isinstance(pipe.store, SharedFeeds)
    return FeedClaimer(pipe, pipe.config.feeds, pipe.store)


async def test_sqlite_keeps_one_timer_per_feed(tmp_path: Path, site: FeedSite) -> None:
    config = make_config(tmp_path, site, ["a", "b"], concurrency=4)
    async with replica(config, tmp_path / "w.db", "solo") as pipe:
        polling = await start_polling(pipe, config.feeds)
        assert isinstance(polling, FeedTimers) and polling.running
        assert sorted(j.id for j in polling.scheduler.get_jobs()) == ["a", "b"]
        await polling.stop(0)
        assert not polling.running


async def test_a_claim_fills_the_free_fetch_slots_and_no_more(
        tmp_path: Path, site: FeedSite, pg_url: str, pg_schema: str) -> None:
    names = [str(i) for i in range(10)]
    config = make_config(tmp_path, site, names, concurrency=4)
    async with replica(config, pg_url, "r1") as pipe:
        claimer = claimer_of(pipe)
        assert isinstance(pipe.store, SharedFeeds)
        now = datetime.now(UTC)
        await pipe.store.add_feeds([(n, site.url(n), now) for n in names])
        first = await claimer.claim()
        assert len(first) == 4 and set(claimer.in_flight) == set(first)
        assert await claimer.claim() == []  # every slot busy: nothing claimed
        await asyncio.gather(*claimer.in_flight.values())
        assert claimer.in_flight == {}
        assert sorted(site.requests) == sorted(first)
        rows = pgtest.run_sql(pg_schema, "SELECT feed_id, lease_owner, lease_until, next_poll "
                                         "FROM feed_state WHERE last_attempt IS NOT NULL")
        assert sorted(r[0] for r in rows) == sorted(first)
        for _, owner, lease_until, next_poll in rows:  # released, due an interval later
            assert owner == "r1" and lease_until is None
            assert isinstance(next_poll, datetime)
            assert next_poll >= now + timedelta(seconds=INTERVAL)
        assert len(await claimer.claim()) == 4  # slots free again: the next four


async def test_two_replicas_poll_every_feed_once(tmp_path: Path, site: FeedSite,
                                                 pg_url: str) -> None:
    names = [str(i) for i in range(60)]
    config = make_config(tmp_path, site, names, concurrency=5)
    async with replica(config, pg_url, "r1") as p1, replica(config, pg_url, "r2") as p2:
        claimers = [claimer_of(p1), claimer_of(p2)]
        await asyncio.gather(*(c.start() for c in claimers))
        async with asyncio.timeout(30):
            while len(site.requests) < len(names) or any(c.in_flight for c in claimers):
                await asyncio.sleep(0.05)
        await asyncio.gather(*(c.stop(5) for c in claimers))
        assert not any(c.running for c in claimers)
    assert sorted(site.requests) == sorted(names)  # each feed once, by one replica


async def test_stop_cuts_off_a_hung_poll_and_gives_its_feed_back(
        tmp_path: Path, site: FeedSite, pg_url: str, pg_schema: str) -> None:
    config = make_config(tmp_path, site, ["hang"], concurrency=2)
    async with replica(config, pg_url, "r1") as pipe:
        claimer = claimer_of(pipe)
        await claimer.start()
        assert await asyncio.to_thread(site.hanging.wait, 20)
        assert pgtest.run_sql(pg_schema, "SELECT lease_until IS NOT NULL FROM feed_state"
                              ) == [(True,)]
        await claimer.stop(0)
        assert claimer.in_flight == {} and not claimer.running
        # Released, and still due: another replica takes the feed on its next claim.
        assert pgtest.run_sql(pg_schema, "SELECT lease_until, last_attempt FROM feed_state"
                              ) == [(None, None)]
        assert isinstance(pipe.store, SharedFeeds)
        assert await pipe.store.claim_due_feeds(["hang"], "r2", datetime.now(UTC), 1,
                                                60) == ["hang"]
