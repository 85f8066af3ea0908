"""One row per configured feed: its health as the service recorded it, with secrets masked.
What `watcher feeds` prints and the desk's feed view shows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from watcher.config.masked import mask_secrets, mask_url_password, secret_values
from watcher.config.settings import Config
from watcher.feeds.health import feed_health
from watcher.models import FeedState
from watcher.store import Store, Subscription


@dataclass
class FeedRow:
    id: str
    url: str
    health: str
    enabled: bool
    last_status: int | None = None
    consecutive_failures: int = 0
    failing_since: str | None = None
    last_attempt: str | None = None
    last_success: str | None = None
    next_poll: str | None = None
    entries_seen: int = 0
    moved_to: str | None = None
    last_error: str | None = None
    last_warning: str | None = None
    websub: str | None = None  # the subscription's state (`push` column)
    websub_hub: str | None = None
    websub_expires: str | None = None
    websub_error: str | None = None


def with_subscription(row: FeedRow, sub: Subscription | None) -> FeedRow:
    """The row with its WebSub subscription, if it has one."""
    if sub is not None:
        row.websub, row.websub_hub = sub.state, sub.hub
        row.websub_expires, row.websub_error = _iso(sub.expires_at), sub.last_error
    return row


def feed_row(feed_id: str, url: str, enabled: bool, state: FeedState | None, now: datetime,
             failing_after: float, secrets: Sequence[str] = ()) -> FeedRow:
    """One feed's health; URLs and errors with passwords and `secrets` masked."""
    health = feed_health(state, now, failing_after) if enabled else "disabled"

    def shown(text: str) -> str:
        return mask_secrets(mask_url_password(text), secrets)

    if state is None or state.url != url:  # nothing recorded for this URL yet
        return FeedRow(feed_id, shown(url), "never polled" if enabled else health, enabled)
    return FeedRow(
        feed_id, shown(url), health, enabled, state.last_status, state.consecutive_failures,
        _iso(state.failing_since), _iso(state.last_attempt), _iso(state.last_success),
        _iso(state.next_poll), state.entries_seen,
        shown(state.moved_to) if state.moved_to else None,
        shown(state.last_error) if state.last_error else None,
        shown(state.last_warning) if state.last_warning else None)


async def feed_rows(config: Config, store: Store, now: datetime) -> list[FeedRow]:
    """Every configured feed's health, as `watcher feeds` and the desk show it."""
    secrets = secret_values(config)
    return [with_subscription(
                feed_row(f.id, f.url, f.enabled, await store.load_feed_state(f.id), now,
                         config.fetch.failing_after, secrets),
                await store.load_subscription(f.id)) for f in config.feeds]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None
