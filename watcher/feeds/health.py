"""Feed health as pure functions of a feed's stored state: how long to wait after a failure,
when a due poll may run, and how a feed is doing. No I/O, no clock (`now` is passed in).

A failing feed is never given up on: it is retried with exponential backoff and jitter up to
`fetch.max_backoff`, for as long as it fails, and once it has been failing for
`fetch.failing_after` it is flagged (in `watcher feeds` and the log) so it cannot fail
silently. The first success returns it to its normal interval.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Literal

from watcher.models import FeedState

Health = Literal["never polled", "ok", "warning", "failing", "flagged"]

JITTER = 0.2  # each backoff is its nominal value times a random factor in [0.8, 1.2]
DUE_SLACK = 0.1  # a poll due within this fraction of the interval runs now (scheduler drift)


def failure_backoff(interval: float, failures: int, retry_after: float | None,
                    rng: random.Random, ceiling: float = 6 * 3600.0) -> float:
    """Seconds until a failing feed is tried again: its interval doubled per consecutive
    failure, capped at `ceiling`, with jitter so feeds that failed together (an outlet down)
    do not come back in lockstep; never sooner than the server asked (Retry-After)."""
    base = min(interval * 2 ** min(max(failures - 1, 0), 64), ceiling)
    delay = base * rng.uniform(1 - JITTER, 1 + JITTER)
    return max(delay, retry_after or 0.0)


def is_due(state: FeedState, now: datetime, interval: float) -> bool:
    """Whether a scheduled poll should run. The scheduler fires every interval, a little
    after the time the last poll wrote; the slack keeps that from skipping a whole interval."""
    if state.next_poll is None:
        return True
    return state.next_poll <= now + timedelta(seconds=interval * DUE_SLACK)


def next_poll_after_success(due: datetime | None, now: datetime, interval: float) -> datetime:
    """When a feed polled successfully at `now` is due again. A poll that ran a little early
    (within the slack of `is_due`) counts from when it was due, so early polls do not add
    up: a feed is never polled more often than once per interval."""
    slack = timedelta(seconds=interval * DUE_SLACK)
    start = due if due is not None and now < due <= now + slack else now
    return start + timedelta(seconds=interval)


def is_flagged(state: FeedState, now: datetime, failing_after: float) -> bool:
    """Failing for at least `failing_after` seconds: someone should look at this feed."""
    return (state.failing_since is not None
            and now - state.failing_since >= timedelta(seconds=failing_after))


def feed_health(state: FeedState | None, now: datetime, failing_after: float) -> Health:
    if state is None or state.last_attempt is None:
        return "never polled"
    if state.consecutive_failures > 0:
        return "flagged" if is_flagged(state, now, failing_after) else "failing"
    return "warning" if state.last_warning else "ok"
