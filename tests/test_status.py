"""`watcher status`: feed health from the store's feed state, and the one-screen rendering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from watcher.cli.status_cmd import FeedStatus, Status, feed_health, render_status
from watcher.config import FeedConfig
from watcher.models import FeedState

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FEED = FeedConfig(id="desk", url="https://a.example/rss")


def state(**fields: object) -> FeedState:
    return FeedState(feed_id="desk", url=FEED.url, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("feed_state", "health"), [
    (None, "never polled"),
    (state(last_attempt=NOW - timedelta(minutes=5), last_success=NOW - timedelta(minutes=5)),
     "healthy"),
    (state(last_attempt=NOW, last_success=NOW - timedelta(hours=2), consecutive_failures=3,
           last_error="HTTP 503"), "failing"),
    (state(last_attempt=NOW, consecutive_failures=1), "failing"),
    (state(last_attempt=NOW - timedelta(hours=1), last_success=NOW - timedelta(hours=1)),
     "stale"),  # not tried for 6 intervals of 10 minutes: is the service running?
])
def test_feed_health(feed_state: FeedState | None, health: str) -> None:
    assert feed_health(FEED, feed_state, 600, NOW).health == health


def test_render_status_fits_one_screen() -> None:
    status = Status(
        config="c.yaml", state="var/w.db",
        feeds=[FeedStatus("desk", "healthy"),
               FeedStatus("gone", "failing", 3, "2026-11-25T10:00:00+00:00", None, "HTTP 404")],
        rules_loaded=12, rule_problems=["r.yaml:3:5: bad term"],
        outbox={"pending": 2, "delivered": 40, "dead": 1},
        oldest_pending="2026-11-25T11:55:00+00:00",
        last_alert={"rule": "convoys", "title": "Convoy leaves", "sink": "hook",
                    "delivered_at": "2026-11-25T11:59:00+00:00", "alert_id": "x"})
    text = render_status(status, NOW)
    assert text.splitlines() == [
        "config     c.yaml",
        "state      var/w.db",
        "feeds      2 enabled: 1 failing, 1 healthy",
        "  FAILING  gone: 3 failures, last success 2h ago (2026-11-25T10:00:00+00:00): HTTP 404",
        "rules      12 loaded, 1 errors, 0 warnings",
        "  r.yaml:3:5: bad term",
        "outbox     2 waiting (oldest queued 5m ago (2026-11-25T11:55:00+00:00)), 1 dead, "
        "40 delivered",
        "last alert 1m ago (2026-11-25T11:59:00+00:00) to hook: convoys: Convoy leaves",
    ]
