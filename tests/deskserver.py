"""The desk on a real loopback port, over a real SQLite store, in a thread of its own (so
synchronous clients, such as schemathesis's, can call it): `served_desk(...)`."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.alertfactory import make_alert, make_article
from watcher.config.settings import Config
from watcher.desk import desk_mount
from watcher.metrics import Metrics
from watcher.models import Delivery
from watcher.rules.load import Rule, load_rules
from watcher.service.httpapi import Readiness, start_http
from watcher.store import SqliteStore, open_store

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HOSTILE_TITLE = 'Raqqa <script>alert("x")</script> <img src=x onerror=alert(1)> convoy'
RULES = Path(__file__).resolve().parent.parent / "rules"


@dataclass
class Desk:
    url: str
    store: SqliteStore
    loop: asyncio.AbstractEventLoop

    def run(self, coro: Any) -> Any:
        """Run a coroutine on the server's loop (the store belongs to it)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)


async def seed(store: SqliteStore, count: int = 30) -> None:
    """`count` alerts of three rules from two feeds, a minute apart, and one hostile title."""
    for i in range(count):
        rule = ("isil-movement", "sudan-fighting", "defections")[i % 3]
        feed = "levant" if i % 2 else "africa"
        key = f"k{i:03d}"
        article = make_article(key).model_copy(update={"feed": feed})
        alert = make_alert(key, rule_id=rule, severity=("high", "low", "medium")[i % 3])
        await store.record_articles([article], [Delivery(alert, "hook")],
                                    NOW + timedelta(minutes=i))
    hostile = make_article("evil", title=HOSTILE_TITLE, url="javascript:alert(1)")
    await store.record_articles(
        [hostile.model_copy(update={"feed": "levant"})],
        [Delivery(make_alert("evil", title=HOSTILE_TITLE, url="javascript:alert(1)"), "hook")],
        NOW + timedelta(minutes=count))


def desk_config(tmp: Path, **desk: Any) -> Config:
    config = Config.model_validate({
        "state": str(tmp / "w.db"), "http": {"listen": "127.0.0.1:0"}, "desk": desk,
        "feeds": [{"id": "levant", "url": "https://levant.example.org/feed"},
                  {"id": "africa", "url": "https://africa.example.org/feed"}]})
    config.base_dir = tmp
    return config


@contextlib.contextmanager
def served_desk(tmp: Path, clock_start: datetime = NOW + timedelta(hours=1),
                **desk: Any) -> Iterator[Desk]:
    config = desk_config(tmp, **desk)
    rules: list[Rule] = load_rules([RULES]).rules
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="desk-server", daemon=True)
    thread.start()

    async def start() -> tuple[Any, SqliteStore]:
        store = await open_store(tmp / "w.db")
        await seed(store)
        mount = desk_mount(config, store, lambda: rules, lambda: clock_start)
        assert mount is not None
        ready = Readiness(store, rules_loaded=lambda: len(rules), clock=lambda: clock_start)
        server = await start_http("127.0.0.1:0", Metrics(), ready, [mount])
        return server, store

    server, store = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=60)
    desk_server = Desk(f"http://127.0.0.1:{server.port}", store, loop)
    try:
        yield desk_server
    finally:
        desk_server.run(server.close())
        desk_server.run(store.close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
