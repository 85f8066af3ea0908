"""`watcher feeds`: feed health from a real SQLite store, as a table and as JSON, through a
real `watcher` process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from watcher.models import FeedState
from watcher.store import open_store

NOW = datetime.now(UTC).replace(microsecond=0)


def watcher(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "watcher", *args], capture_output=True,
                          timeout=60, check=False, text=True)


CONFIG = """\
state: w.db
rules: []
fetch:
  failing_after: 1h
feeds:
  - {id: desk, url: "https://news.example.org/feed"}
  - {id: broken, url: "https://down.example.org/rss"}
  - {id: sick, url: "https://flaky.example.org/rss"}
  - {id: odd, url: "https://old.example.org/rss"}
  - {id: fresh, url: "https://new.example.org/rss"}
  - {id: resting, url: "https://paused.example.org/rss", enabled: false}
"""


async def save_states(path: Path) -> None:
    store = await open_store(path)
    try:
        await store.save_feed_state(FeedState(
            "desk", "https://news.example.org/feed", last_attempt=NOW, last_success=NOW,
            last_status=304, entries_seen=41, next_poll=NOW + timedelta(minutes=10)))
        await store.save_feed_state(FeedState(
            "broken", "https://down.example.org/rss", last_attempt=NOW, last_status=503,
            last_error="HTTP 503 Service Unavailable", consecutive_failures=7,
            failing_since=NOW - timedelta(hours=5), next_poll=NOW + timedelta(hours=6)))
        await store.save_feed_state(FeedState(
            "sick", "https://flaky.example.org/rss", last_attempt=NOW, last_status=None,
            last_error="timed out after 20s", consecutive_failures=1,
            failing_since=NOW - timedelta(minutes=5)))
        await store.save_feed_state(FeedState(
            "odd", "https://old.example.org/rss", last_attempt=NOW, last_success=NOW,
            last_status=200, moved_to="https://new.example.org/odd",
            last_warning="SAXParseException: not well-formed (invalid token)"))
    finally:
        await store.close()


def test_feeds_table_and_json(tmp_path: Path) -> None:
    config = tmp_path / "watcher.yaml"
    config.write_text(CONFIG)
    asyncio.run(save_states(tmp_path / "w.db"))

    result = watcher("feeds", "--config", str(config), "--json")
    assert result.returncode == 0, result.stderr
    rows = {r["id"]: r for r in json.loads(result.stdout)}
    assert {k: r["health"] for k, r in rows.items()} == {
        "desk": "ok", "broken": "flagged", "sick": "failing", "odd": "warning",
        "fresh": "never polled", "resting": "disabled"}
    assert rows["desk"]["entries_seen"] == 41 and rows["desk"]["last_status"] == 304
    assert rows["broken"]["consecutive_failures"] == 7
    assert rows["broken"]["last_error"] == "HTTP 503 Service Unavailable"
    assert rows["broken"]["failing_since"] == (NOW - timedelta(hours=5)).isoformat()
    assert rows["odd"]["moved_to"] == "https://new.example.org/odd"
    assert rows["odd"]["last_error"] is None and "not well-formed" in rows["odd"]["last_warning"]
    assert rows["fresh"]["last_attempt"] is None

    table = watcher("feeds", "--config", str(config))
    assert table.returncode == 0, table.stderr
    lines = {line.split()[0]: line for line in table.stdout.splitlines()[1:-1]}
    assert table.stdout.splitlines()[0].split()[:3] == ["feed", "health", "http"]
    assert "FLAGGED" in lines["broken"] and "failing since" in lines["broken"]
    assert "never polled" in lines["fresh"] and "never" in lines["fresh"]
    assert "moved to https://new.example.org/odd; warning: SAXParseException" in lines["odd"]
    assert table.stdout.splitlines()[-1] == (
        "6 feeds: 1 disabled, 1 failing, 1 flagged, 1 never polled, 1 ok, 1 warning")
