"""Delivery for sinks that group, digest or cap (grouping.py), driven by the delivery worker.

    claimed rows ─▶ none ready yet ─────────────────────▶ hold each until its batch is due
                 └▶ some ready ─▶ claim the lane's batch ─▶ cap full ─▶ hold all (capped)
                                                         ├▶ any capped ─▶ one summary
                                                         └▶ digest(s) ─▶ one message each

A lane is one sink's rows, or those that one route with settings of its own chose
(grouping.py): its batches and its cap count hold only its rows. Rows wait in the outbox,
pending, with `next_attempt` at their batch's due time, so a restart finds them. A message's
rows are marked delivered together; a failed message retries its rows as worker.py retries
one (backoff, then dead), and they come back as one batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from watcher.delivery.grouping import HOUR, Batch, BatchPolicy, cap_free_at, chunks
from watcher.delivery.sending import LaneSender
from watcher.delivery.sinks.digest import BatchSender
from watcher.delivery.story_digest import refresh_stories
from watcher.errors import SinkError
from watcher.models import Lane, OutboxItem

log = logging.getLogger("watcher.deliver")

BATCH_LIMIT = 1000  # rows claimed for one batch; more wait for the next pass


async def deliver_with_policy(worker: LaneSender, sink: BatchSender, lane: Lane,
                              items: Sequence[OutboxItem], policy: BatchPolicy) -> None:
    now = worker.now()
    rows = list(items)
    if policy.batches:
        ready = [i for i in rows if i.held or policy.due_at(i.created_at) <= now]
        cutoff = policy.cutoff(now)
        later = [i for i in rows if not ready or i.created_at >= cutoff]
        for item in later:  # their batch is not due: back to the outbox until it is
            await _hold(worker, [item], policy.due_at(item.created_at), capped=False)
        if not ready:
            return
        rows = [i for i in rows if i.created_at < cutoff]
        rows += await _claim(worker, lane, cutoff, now)
        rows.sort(key=lambda i: (i.created_at, i.id))  # a retried batch reads the same
    if policy.max_per_hour is not None:
        sent = await worker.store.sent_messages(lane, now - HOUR)
        free_at = cap_free_at(sent, policy.max_per_hour, now)
        if free_at is not None:
            log.info("sink %s sent %d messages in the last hour (max_per_hour %d): holding %d "
                     "alerts for a summary at %s", lane.label, len(sent), policy.max_per_hour,
                     len(rows), free_at.isoformat(timespec="seconds"),
                     extra={"sink": lane.sink})
            await _hold(worker, rows, free_at, capped=True)
            return
        if any(i.held for i in rows):  # the hour allows one more: the summary of the held
            rows += await _claim(worker, lane, now + timedelta(seconds=1), now)
            await _send(worker, sink, lane, Batch(lane.sink, "summary",
                                                  tuple(i.alert for i in rows), lane.route),
                        rows)
            return
        if not policy.batches:
            room = policy.max_per_hour - len(sent)
            await worker.deliver_batch(sink, lane.sink, rows[:room])
            if rows[room:]:
                busy = cap_free_at([*sent, *[now] * room], policy.max_per_hour, now)
                await _hold(worker, rows[room:], busy or now, capped=True)
            return
    # Each alert's story as it stands now: the outlets that joined it since it was queued.
    alerts, stories = await refresh_stories(worker.store, [i.alert for i in rows])
    start = 0
    for part in chunks(alerts):
        part_rows, start = rows[start:start + len(part)], start + len(part)
        retry_at = await _send(worker, sink, lane,
                               Batch(lane.sink, "digest", part, lane.route, stories), part_rows)
        if retry_at is not None:  # the sink is down: the rest waits as long
            await _hold(worker, rows[start:], retry_at, capped=False)
            return


async def _claim(worker: LaneSender, lane: Lane, created_before: datetime,
                 now: datetime) -> list[OutboxItem]:
    more = await worker.store.claim_batch(lane, created_before, now, BATCH_LIMIT,
                                          worker.settings.lease)
    worker.claimed.extend(more)
    return await worker.drop_silenced(more)


async def _hold(worker: LaneSender, rows: Sequence[OutboxItem], due: datetime,
                capped: bool) -> None:
    if not rows:
        return
    await worker.store.hold([i.id for i in rows], due, capped)
    for item in rows:
        worker.report.outcomes[item.id] = "held"


async def _send(worker: LaneSender, sink: BatchSender, lane: Lane, batch: Batch,
                rows: Sequence[OutboxItem]) -> datetime | None:
    """Send one message for `rows`; None when it went out (or its rows are dead), else when
    to try again."""
    error = await worker.send_message(sink, batch.alerts[0].alert_id, sink.send_batch(batch))
    if error is None:
        await worker.store.mark_batch_delivered([i.id for i in rows], worker.now())
        for item in rows:
            worker.report.outcomes[item.id] = "delivered"
            worker.metrics.record_delivered(lane.sink, item.created_at, worker.now())
        log.info("sent a %s of %d alerts to %s", batch.kind, len(rows), lane.label,
                 extra={"sink": lane.sink, "batch_id": batch.key})
        return None
    return await _failed(worker, rows, error)


async def _failed(worker: LaneSender, rows: Sequence[OutboxItem],
                  error: SinkError) -> datetime | None:
    retry_at: datetime | None = None
    for item in rows:
        next_attempt = await worker.failed(item, error)
        if next_attempt is not None:
            retry_at = min(retry_at or next_attempt, next_attempt)
    return retry_at
